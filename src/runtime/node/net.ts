// TCP for lunatic processes on Node's `net` (the Network interface of
// src/runtime/lunatic/network.ts). Incoming bytes are buffered per connection and the socket is
// paused when a process reads slower than the peer writes; writes wait for 'drain'. Node error
// codes become lunatic error codes. Listeners can share an address (SO_REUSEPORT) on Linux from
// Node 22.12 / 23.1, whose `listen` takes `reusePort`; older Nodes ignore the option.
import type { Server, Socket } from 'node:net';
import { Errno, type ErrnoCode, LunaticError } from '../lunatic/errno.js';
import type { Connection, Listener, ListenOptions, Network } from '../lunatic/network.js';

/** node:net, loaded by the first listen or connect: loading it is 2-7 ms of every start, and most programs never open a socket. */
const net = () => process.getBuiltinModule('node:net');

/** Pause the socket once this many bytes wait unread. */
const HIGH_WATER = 256 * 1024;

const ERRNO_OF: Record<string, ErrnoCode> = {
  ECONNREFUSED: Errno.CONNREFUSED,
  EADDRINUSE: Errno.ADDRINUSE,
  EACCES: Errno.PERM,
  EADDRNOTAVAIL: Errno.INVAL,
  ENOTFOUND: Errno.INVAL,
  ECONNRESET: Errno.CLOSED,
  EPIPE: Errno.CLOSED,
  ERR_STREAM_DESTROYED: Errno.CLOSED,
  ERR_STREAM_WRITE_AFTER_END: Errno.CLOSED,
};

function lunaticError(error: unknown): LunaticError {
  const code = (error as { code?: string }).code ?? '';
  return new LunaticError(ERRNO_OF[code] ?? Errno.IO, error instanceof Error ? error.message : String(error));
}

class NodeConnection implements Connection {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private wake: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered >= HIGH_WATER) socket.pause();
      this.ready();
    });
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish()); // a reset reads as the end of the stream; writes report it
  }

  take(max: number): Uint8Array | null | undefined {
    if (this.buffered === 0) return this.ended ? null : undefined;
    const out = Buffer.allocUnsafe(Math.min(max, this.buffered));
    let filled = 0;
    while (filled < out.length) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length, out.length - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (count === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(count);
    }
    this.buffered -= filled;
    if (this.buffered < HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return out;
  }

  readable(): Promise<void> {
    if (this.buffered > 0 || this.ended) return Promise.resolve();
    if (!this.wake) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.wake = { promise, resolve };
    }
    return this.wake.promise;
  }

  write(bytes: Uint8Array): void | Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) throw new LunaticError(Errno.CLOSED, 'the connection is closed');
    if (this.socket.write(bytes)) return;
    return new Promise((resolve, reject) => {
      const settle = (error?: unknown) => {
        this.socket.off('drain', settle).off('close', settle);
        if (error || this.socket.destroyed)
          reject(error ? lunaticError(error) : new LunaticError(Errno.CLOSED, 'the connection closed while writing'));
        else resolve();
      };
      this.socket.on('drain', settle).on('close', settle);
    });
  }

  close(): void {
    this.socket.destroySoon();
    this.finish();
  }

  private ready(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.resolve();
  }

  private finish(): void {
    this.ended = true;
    this.ready();
  }
}

class NodeListener implements Listener {
  private readonly backlog: Socket[] = [];
  private readonly waiters: Array<(socket: Socket) => void> = [];

  constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (socket) => {
      socket.on('error', () => {}); // a reset before accept: the process sees the end of the stream
      const waiter = this.waiters.shift();
      if (waiter) waiter(socket);
      else this.backlog.push(socket);
    });
  }

  accept(signal: AbortSignal): Promise<Connection> {
    const queued = this.backlog.shift();
    if (queued) return Promise.resolve(new NodeConnection(queued));
    return new Promise((resolve, reject) => {
      const waiter = (socket: Socket) => {
        signal.removeEventListener('abort', onAbort);
        resolve(new NodeConnection(socket));
      };
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new LunaticError(Errno.TIMEDOUT, 'accept stopped'));
      };
      this.waiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.server.close();
    for (const socket of this.backlog.splice(0)) socket.destroy();
  }
}

/** Whether this Node's `server.listen` takes `reusePort` (v22.12+ and v23.1+, Linux). */
function reusePortSupported(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return process.platform === 'linux' && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
}

export class NodeNetwork implements Network {
  readonly sharesListeners = reusePortSupported();

  listen(host: string, port: number, options: ListenOptions = {}): Promise<Listener> {
    const server = net().createServer({ noDelay: true });
    const reusePort = options.shared === true && this.sharesListeners;
    return new Promise((resolve, reject) => {
      server.on('error', (error) => reject(lunaticError(error))); // after listening: nothing to report to
      server.listen({ host, port, backlog: 4096, ...(reusePort ? { reusePort } : {}) }, () => {
        const address = server.address();
        resolve(new NodeListener(server, typeof address === 'object' && address ? address.port : port));
      });
    });
  }

  connect(host: string, port: number, signal: AbortSignal): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net().createConnection({ host, port, noDelay: true });
      const onAbort = () => {
        socket.destroy();
        reject(new LunaticError(Errno.TIMEDOUT, 'connect stopped'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(lunaticError(error));
      });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        resolve(new NodeConnection(socket));
      });
    });
  }
}
