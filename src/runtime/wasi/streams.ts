// Streams held in memory, for browsers and tests: an input fed by the host (a queue that a
// terminal widget or a test pushes into) and outputs that hand each write to a callback or
// collect it. Node's stdio streams are in src/runtime/node/stdio.ts.
import type { InputStream, OutputStream } from '../types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const toBytes = (data: string | Uint8Array) => (typeof data === 'string' ? encoder.encode(data) : data);

/**
 * The buffer behind every input stream: chunks in arrival order, the end mark, and the readers
 * waiting for either. `onWait` runs when a reader starts waiting (a Node stream resumes there).
 */
export class ByteQueue implements InputStream {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private ended = false;
  private waiters: (() => void)[] = [];

  constructor(private readonly onWait: () => void = () => {}) {}

  get buffered(): number {
    return this.size;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Queues bytes the caller will not change afterwards. */
  append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.size += bytes.length;
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  async read(max: number): Promise<Uint8Array | null> {
    await this.readable();
    if (this.size === 0) return null;
    return this.take(Math.max(1, max));
  }

  readable(): Promise<void> {
    if (this.size > 0 || this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.onWait();
    });
  }

  private take(max: number): Uint8Array {
    const first = this.chunks[0]!;
    // One chunk that fits: hand it over without copying.
    if (first.length >= Math.min(max, this.size)) {
      const count = Math.min(max, first.length);
      if (count === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      this.size -= count;
      return first.subarray(0, count);
    }
    const out = new Uint8Array(Math.min(max, this.size));
    let filled = 0;
    while (filled < out.length) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length, out.length - filled);
      out.set(chunk.subarray(0, count), filled);
      filled += count;
      if (count === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(count);
    }
    this.size -= filled;
    return out;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Stdin from a queue: `push` adds bytes, `end` marks the end of the stream. */
export class QueueInput implements InputStream {
  private readonly queue = new ByteQueue();

  /** `initial` is queued at once; with `end` the stream then ends (a whole stdin given up front). */
  constructor(initial?: string | Uint8Array, options: { end?: boolean } = {}) {
    if (initial !== undefined) this.push(initial);
    if (options.end) this.end();
  }

  get buffered(): number {
    return this.queue.buffered;
  }

  push(data: string | Uint8Array): void {
    if (this.queue.isEnded) throw new Error('QueueInput: push after end');
    this.queue.append(toBytes(data).slice());
  }

  end(): void {
    this.queue.end();
  }

  read(max: number): Promise<Uint8Array | null> {
    return this.queue.read(max);
  }

  readable(): Promise<void> {
    return this.queue.readable();
  }
}

/** An output that hands every write to `onWrite` (its Promise, if any, is the back-pressure). */
export function callbackOutput(onWrite: (bytes: Uint8Array) => void | Promise<void>): OutputStream {
  return { write: (bytes) => onWrite(bytes) };
}

/** An output that keeps everything written, for tests and for capturing a program's output. */
export class CollectedOutput implements OutputStream {
  private readonly chunks: Uint8Array[] = [];

  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  text(): string {
    return decoder.decode(this.bytes());
  }
}

/** An output that drops everything: a process's stdout/stderr when the host gives none. */
export const discardOutput: OutputStream = { write: () => {} };
