// Node streams as the runtime's InputStream/OutputStream: process.stdin/stdout/stderr, or any
// Readable/Writable (a pipe, a socket, a PassThrough in tests).
//
// Input is read on demand: the Readable flows only while a process waits for bytes and nothing
// is buffered, so an idle stdin neither piles up data nor keeps the event loop alive (a paused
// process.stdin lets Node exit). Output honours back-pressure: when the Writable's buffer is
// full, write returns a Promise that resolves on 'drain', so the writing process waits while the
// others run. After a stream error (EPIPE: the reader went away) writes fail with EPIPE.
import type { Readable, Writable } from 'node:stream';
import type { InputStream, OutputStream } from '../types.js';
import { Errno, WasiError } from '../wasi/errno.js';

export class NodeInput implements InputStream {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private ended = false;
  private waiters: (() => void)[] = [];

  constructor(private readonly source: Readable) {
    source.pause(); // before listening: a 'data' listener would start the flow otherwise
    source.on('data', (chunk: Uint8Array | string) => {
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
      this.chunks.push(bytes);
      this.size += bytes.length;
      source.pause(); // enough for now: flow again only when somebody waits with nothing buffered
      this.wake();
    });
    const finish = () => {
      this.ended = true;
      this.wake();
    };
    source.on('end', finish);
    source.on('close', finish);
    source.on('error', finish); // a broken stdin reads as its end
  }

  get buffered(): number {
    return this.size;
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
      this.source.resume();
    });
  }

  private take(max: number): Uint8Array {
    const first = this.chunks[0]!;
    // The common case, one chunk that fits: hand it over without copying.
    const count = Math.min(max, first.length);
    if (count === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(count);
    this.size -= count;
    return first.subarray(0, count);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export class NodeOutput implements OutputStream {
  private failure: Error | undefined;

  constructor(private readonly writable: Writable) {
    // Without a listener an EPIPE would crash the whole runtime; it fails later writes instead.
    writable.on('error', (error) => {
      this.failure = error;
    });
  }

  write(bytes: Uint8Array): void | Promise<void> {
    if (this.failure || this.writable.destroyed) throw new WasiError(Errno.PIPE, this.failure?.message ?? 'the output stream is closed');
    if (this.writable.write(bytes)) return;
    return new Promise((resolve, reject) => {
      const done = () => {
        this.writable.off('drain', done);
        this.writable.off('close', done);
        if (this.failure) reject(new WasiError(Errno.PIPE, this.failure.message));
        else resolve();
      };
      this.writable.on('drain', done);
      this.writable.on('close', done);
    });
  }
}

/** The host process's own stdio, for `lunatic-instrument run`. */
export function processStdio(): { stdin: NodeInput; stdout: NodeOutput; stderr: NodeOutput } {
  return { stdin: new NodeInput(process.stdin), stdout: new NodeOutput(process.stdout), stderr: new NodeOutput(process.stderr) };
}
