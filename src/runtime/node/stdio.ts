// Node streams as the runtime's InputStream/OutputStream: process.stdin/stdout/stderr, or any
// Readable/Writable (a pipe, a socket, a PassThrough in tests).
//
// Input is read on demand: the Readable flows only while a process waits for bytes and nothing
// is buffered, so an idle stdin neither piles up data nor keeps the event loop alive (a paused
// process.stdin lets Node exit). Output honours back-pressure: when the Writable's buffer is
// full, write returns a Promise that resolves on 'drain', so the writing process waits while the
// others run. After a stream error (EPIPE: the reader went away) writes fail with EPIPE.
//
// Each says whether it is a terminal (a TTY stream, a descriptor that isatty): a program sees
// stdio redirected to a file or a pipe as such, as it would natively (bzip2 refuses to write
// compressed data to a terminal, and wasi-libc buffers stdout fully, not by line, when it is not one).
import { writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { isMainThread } from 'node:worker_threads';
import type { InputStream, OutputStream } from '../types.js';
import { Errno, WasiError } from '../wasi/errno.js';
import { ByteQueue } from '../wasi/streams.js';

/** isatty(fd), loading node:tty (and node:net with it, some milliseconds of every start) only when asked. */
function isatty(fd: number): boolean {
  return process.getBuiltinModule('node:tty').isatty(fd);
}

export class NodeInput implements InputStream {
  // Flow again only when somebody waits with nothing buffered.
  private readonly queue = new ByteQueue(() => this.source.resume());

  /** `terminal`: whether it is one (a worker's process.stdin does not say: ask isatty(0) there). */
  constructor(
    private readonly source: Readable,
    readonly terminal = (source as { isTTY?: boolean }).isTTY === true,
  ) {
    source.pause(); // before listening: a 'data' listener would start the flow otherwise
    source.on('data', (chunk: Uint8Array | string) => {
      source.pause(); // enough for now
      this.queue.append(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk);
    });
    const finish = () => this.queue.end();
    source.on('end', finish);
    source.on('close', finish);
    source.on('error', finish); // a broken stdin reads as its end
  }

  get buffered(): number {
    return this.queue.buffered;
  }

  read(max: number): Promise<Uint8Array | null> {
    return this.queue.read(max);
  }

  readable(): Promise<void> {
    return this.queue.readable();
  }
}

export class NodeOutput implements OutputStream {
  private failure: Error | undefined;
  readonly terminal: boolean;

  constructor(private readonly writable: Writable) {
    this.terminal = (writable as { isTTY?: boolean }).isTTY === true;
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

/**
 * Output written straight to one of the OS process's file descriptors, synchronously: a worker
 * thread's stdout and stderr. A worker's own process.stdout reaches the main thread's by message,
 * later than what the main thread writes meanwhile: a child's line came out after its parent's
 * report of the child's end. On Linux the main thread's process.stdout writes files, pipes and
 * terminals synchronously too, so every thread's output keeps the order it was written in. A
 * descriptor left non-blocking and full (EAGAIN) is tried again a millisecond later, while the
 * writing process waits.
 */
export class FdOutput implements OutputStream {
  readonly terminal: boolean;

  constructor(private readonly fd: number) {
    this.terminal = isatty(fd);
  }

  write(bytes: Uint8Array): void | Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.fd, bytes, offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN') throw new WasiError(code === 'EPIPE' ? Errno.PIPE : Errno.IO, (error as Error).message);
        const rest = bytes.slice(offset); // a copy: `bytes` may be a view of the writer's memory
        return new Promise<void>((resolve) => setTimeout(resolve, 1)).then(() => this.write(rest));
      }
    }
  }
}

/** The host process's own stdio, for `lunatic-instrument run`; a worker thread writes to the descriptors (FdOutput). */
export function processStdio(): { stdin: NodeInput; stdout: OutputStream; stderr: OutputStream } {
  if (!isMainThread) return { stdin: new NodeInput(process.stdin, isatty(0)), stdout: new FdOutput(1), stderr: new FdOutput(2) };
  return { stdin: new NodeInput(process.stdin), stdout: new NodeOutput(process.stdout), stderr: new NodeOutput(process.stderr) };
}

/** Writes a line of the runtime's own (a crash report) to stderr, in order with what the processes write there. */
export function writeHostStderr(text: string): void {
  if (isMainThread) {
    process.stderr.write(text);
    return;
  }
  // a stderr that is gone loses the line, as it would through process.stderr
  const lost = () => {};
  try {
    void Promise.resolve(new FdOutput(2).write(new TextEncoder().encode(text))).catch(lost);
  } catch {
    lost();
  }
}

/** Resolves once everything this process wrote to its stdout and stderr so far was handed to the OS. */
export function stdioFlushed(): Promise<void> {
  const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));
  return Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => {});
}
