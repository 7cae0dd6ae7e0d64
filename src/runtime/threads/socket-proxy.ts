// Sockets across threads. A socket (a Node socket on Node) cannot move between threads, so it
// stays with the thread that accepted or connected it; a socket handle given (lunatic_give) to a
// process on another thread becomes a proxy there, under the same handle number, and its bytes
// travel over the rings (threads.ts): a read asks the owning thread for bytes (WANT) and gets the
// next chunk the socket has (DATA) or its end (END); a write sends the bytes (WRITE), which the
// owning thread hands to the socket in order; closing the last handle closes the socket (CLOSE).
// Writes do not wait for the socket to drain on the other thread (no back-pressure across
// threads). A proxy given on to a third thread is refused (INVAL); giving it back to a process of
// the owning thread is a proxy too. No Node imports.
import { type SocketResource, socketOf } from '../lunatic/api-tcp.js';
import { Errno, LunaticError } from '../lunatic/errno.js';
import type { Connection } from '../lunatic/network.js';
import { Kind } from './outbox.js';
import type { ThreadPeers } from './threads.js';

const SocketOp = { GIVE: 1, WANT: 2, DATA: 3, END: 4, WRITE: 5, CLOSE: 6 } as const;
type SocketOpCode = (typeof SocketOp)[keyof typeof SocketOp];

/** Bytes one DATA record carries at most. */
const CHUNK = 64 * 1024;

/** The owning thread's side: the sockets it lent to other threads, by id (their handle number when given). */
export class SocketExports {
  private readonly lent = new Map<number, { resource: SocketResource; thread: number }>();
  /** This thread's proxies, by id. */
  private readonly proxies = new Map<number, ProxyConnection>();

  constructor(private readonly peers: ThreadPeers) {}

  /** Lends `resource` (taken out of the handles of `giver`) to process `to` on `thread`. */
  give(resource: SocketResource, handle: number, giver: number, to: number, thread: number): void {
    if (resource.connection instanceof ProxyConnection) {
      this.peers.world.handles.adopt(giver, handle, resource);
      throw new LunaticError(Errno.INVAL, `socket ${handle} came from another thread: it cannot be given to a third one`);
    }
    this.lent.set(handle, { resource, thread });
    this.send(thread, SocketOp.GIVE, handle, to);
  }

  /** Sends a socket record to `thread`. */
  send(thread: number, op: SocketOpCode, id: number, pid = 0, data?: Uint8Array): void {
    const outbox = this.peers.outbox(thread);
    const { bytes, view, offset } = outbox.begin(12 + (data?.length ?? 0));
    bytes[offset] = Kind.SOCKET;
    bytes[offset + 1] = op;
    view.setInt32(offset + 4, id, true);
    view.setInt32(offset + 8, pid, true);
    if (data) bytes.set(data, offset + 12);
    outbox.end();
  }

  record(bytes: Uint8Array, view: DataView, offset: number, length: number, from: number): void {
    const op = bytes[offset + 1] as SocketOpCode;
    const id = view.getInt32(offset + 4, true);
    const data = () => bytes.slice(offset + 12, offset + length);
    switch (op) {
      case SocketOp.GIVE:
        this.adopt(id, view.getInt32(offset + 8, true), from);
        return;
      case SocketOp.WANT:
        this.pull(id);
        return;
      case SocketOp.WRITE:
        this.write(id, data());
        return;
      case SocketOp.CLOSE: {
        const lent = this.lent.get(id);
        this.lent.delete(id);
        lent?.resource.close();
        return;
      }
      case SocketOp.DATA:
        this.proxies.get(id)?.arrived(data());
        return;
      case SocketOp.END:
        this.proxies.get(id)?.arrived(null);
        return;
    }
  }

  /** A socket given to process `pid` here: a proxy under the same handle number, or closed when `pid` is gone. */
  private adopt(id: number, pid: number, owner: number): void {
    const world = this.peers.world;
    if (!world.processes.has(pid)) {
      this.send(owner, SocketOp.CLOSE, id);
      return;
    }
    const proxy = new ProxyConnection(id, owner, this, () => this.proxies.delete(id));
    this.proxies.set(id, proxy);
    world.handles.adopt(pid, id, socketOf(proxy));
  }

  /** The proxy asks for bytes: the next chunk as soon as the socket has one. */
  private pull(id: number): void {
    const lent = this.lent.get(id);
    if (!lent) return;
    const { connection } = lent.resource;
    const bytes = connection.take(CHUNK);
    if (bytes === undefined) return void connection.readable().then(() => this.pull(id));
    if (bytes === null) this.send(lent.thread, SocketOp.END, id);
    else this.send(lent.thread, SocketOp.DATA, id, 0, bytes);
  }

  private write(id: number, bytes: Uint8Array): void {
    const lent = this.lent.get(id);
    try {
      const pending = lent?.resource.connection.write(bytes);
      pending?.catch(() => {}); // a failed socket shows as its end to the reader
    } catch {
      // closed: the reader sees the end
    }
  }
}

/** A socket of another thread, as a Connection here. */
class ProxyConnection implements Connection {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private closed = false;
  private asked = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly id: number,
    private readonly owner: number,
    private readonly exports: SocketExports,
    private readonly forget: () => void,
  ) {}

  take(max: number): Uint8Array | null | undefined {
    const first = this.chunks[0];
    if (first) {
      if (first.length <= max) return this.chunks.shift();
      this.chunks[0] = first.subarray(max);
      return first.subarray(0, max);
    }
    if (this.ended) return null;
    this.ask();
    return undefined;
  }

  readable(): Promise<void> {
    if (this.chunks.length > 0 || this.ended) return Promise.resolve();
    this.ask();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  write(bytes: Uint8Array): void {
    if (this.closed) throw new LunaticError(Errno.CLOSED, 'the connection is closed');
    this.exports.send(this.owner, SocketOp.WRITE, this.id, 0, bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended = true;
    this.forget();
    this.exports.send(this.owner, SocketOp.CLOSE, this.id);
    this.wakeReaders();
  }

  /** DATA (bytes) or END (null) from the owning thread. */
  arrived(bytes: Uint8Array | null): void {
    this.asked = false;
    if (bytes) this.chunks.push(bytes);
    else this.ended = true;
    this.wakeReaders();
  }

  private ask(): void {
    if (this.asked || this.ended) return;
    this.asked = true;
    this.exports.send(this.owner, SocketOp.WANT, this.id);
  }

  private wakeReaders(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
