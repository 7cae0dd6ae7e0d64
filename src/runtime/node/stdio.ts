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
import { ByteQueue } from '../wasi/streams.js';

export class NodeInput implements InputStream {
  // Flow again only when somebody waits with nothing buffered.
  private readonly queue = new ByteQueue(() => this.source.resume());

  constructor(private readonly source: Readable) {
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

/** Resolves once everything this process wrote to its stdout and stderr so far was handed to the OS. */
export function stdioFlushed(): Promise<void> {
  const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));
  return Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => {});
}
