// Sockets across threads. A socket (a Node socket on Node) cannot move between threads, so it
// stays with the thread that accepted or connected it; a socket handle given (lunatic_give) to a
// process on another thread becomes a proxy there, under the same handle number, and its bytes
// travel over the rings (threads.ts): a read asks the owning thread for bytes (WANT) and gets the
// next chunk the socket has (DATA) or its end (END); a write sends the bytes (WRITE), which the
// owning thread hands to the socket in order; closing the last handle closes the socket (CLOSE).
// Back-pressure: the owning thread acknowledges the bytes of each write (WRITTEN) once the socket
// took them without asking to wait, or drained; a proxy with more than WRITE_WINDOW bytes not yet
// acknowledged makes its writer wait (as a socket above its high-water mark does on its own
// thread), so a writer on another thread cannot pile up bytes faster than the peer reads. A write
// that fails there (FAILED) fails the proxy's later writes with CLOSED. A proxy given on to a
// proxy that has not been read from or written to yet (a connection just accepted) can be given on
// to another thread: to the owning thread it goes back as the socket itself (RETURN); to a third
// one the owning thread is told where it went (MOVED) while the new thread gets the proxy
// (REGIVE), and what the owning thread sent the old one meanwhile is forwarded there. A proxy
// that was used, or cloned, cannot be given to another thread (INVAL): bytes it pulled and an
// answer on its way would have to follow it.
//
// Listeners the same way (listener-proxy.ts): a listener given to another thread stays with its
// thread (LISTEN_GIVE); an accept there asks for a connection (ACCEPT), which the owning thread
// accepts and lends under a fresh id (ACCEPTED), so the connection is a proxy like a given socket.
//
// A socket or listener given to a process that moved to another thread before the give arrived
// (threads.ts) follows it: a socket as an unused proxy given on (MOVED, REGIVE), a listener lent
// again by its owning thread to where the process went (LISTEN_FOLLOW).
//
// Where the network can share an address (threads.ts `drawsSockets`), a listener is opened on
// every thread (listener-proxy.ts SpreadListener): its thread asks each other thread for a
// replica at the same address (REPLICA, answered REPLICA_READY), whose connections the replica's
// thread keeps and lends to the listener (REPLICA_ACCEPTED); closing the listener closes them
// (REPLICA_CLOSE, answered REPLICA_CLOSED: a listener of this thread at the same port waits for
// that, since the address is free only then). A socket given to a process that has not started
// draws it to the socket's thread (threads.ts `draw`), so a server's connections are served where
// they were accepted.
// No Node imports.
import { ListenerResource, SocketResource, socketOf } from '../lunatic/api-tcp.js';
import { Errno, LunaticError } from '../lunatic/errno.js';
import type { Connection, Listener, Network } from '../lunatic/network.js';
import { ProxyListener, SpreadListener } from './listener-proxy.js';
import { Kind } from './outbox.js';
import type { ThreadPeers } from './threads.js';

const SocketOp = {
  GIVE: 1,
  WANT: 2,
  DATA: 3,
  END: 4,
  WRITE: 5,
  CLOSE: 6,
  WRITTEN: 7,
  FAILED: 8,
  LISTEN_GIVE: 9,
  ACCEPT: 10,
  ACCEPTED: 11,
  LISTEN_CLOSE: 12,
  REGIVE: 13,
  MOVED: 14,
  MOVED_ACK: 15,
  RETURN: 16,
  LISTEN_FOLLOW: 17,
  REPLICA: 18,
  REPLICA_READY: 19,
  REPLICA_ACCEPTED: 20,
  REPLICA_CLOSE: 21,
  REPLICA_CLOSED: 22,
} as const;
type SocketOpCode = (typeof SocketOp)[keyof typeof SocketOp];

/** How long a listener waits for the other threads' replicas to listen (or close) before it goes on without them (ms). */
const REPLICA_WAIT_MS = 10_000;

/** Answers awaited from other threads: `done` resolves once all came, or after REPLICA_WAIT_MS (a thread that cannot answer). */
class Answers {
  readonly done: Promise<void>;
  private resolve!: () => void;

  constructor(private left: number) {
    this.done = new Promise((resolve) => {
      this.resolve = resolve;
      const timer = setTimeout(resolve, REPLICA_WAIT_MS) as { unref?: () => void };
      timer.unref?.();
    });
    if (left === 0) this.resolve();
  }

  answered(): void {
    if (--this.left === 0) this.resolve();
  }
}

interface Replica {
  listener?: Listener;
  stop: AbortController;
  /** Asked to close while it was still opening: answers REPLICA_CLOSED once it is closed. */
  closed?: () => void;
}

/** Bytes one DATA record carries at most. */
const CHUNK = 64 * 1024;

/**
 * Bytes a proxy may have written and not yet acknowledged before its writer waits: enough to keep
 * the socket busy across a few ring round trips, small beside what a slow peer could make it hold.
 */
export const WRITE_WINDOW = 256 * 1024;

/** The owning thread's side: the sockets it lent to other threads, by id (their handle number when given). */
export class SocketExports {
  private readonly lent = new Map<number, { resource: SocketResource; thread: number }>();
  /** This thread's proxies, by id. */
  private readonly proxies = new Map<number, ProxyConnection>();
  /** The listeners this thread lent to other threads, by id (their handle number when given); aborting stops their accepts. */
  private readonly lentListeners = new Map<number, { resource: ListenerResource; thread: number; stop: AbortController }>();
  /** This thread's listener proxies, by id. */
  private readonly listenerProxies = new Map<number, ProxyListener>();
  /** Proxies given on to another thread, by id: where what their owner still sends here goes, until it knows. */
  private readonly movedTo = new Map<number, number>();
  /** This thread's listeners open on every thread, by id, with their replicas' REPLICA_READY. */
  private readonly spreads = new Map<number, { listener: SpreadListener; ready: Answers }>();
  /** Spread listeners of this thread closing, by id, with their replicas' REPLICA_CLOSED and port. */
  private readonly closing = new Map<number, { closed: Answers; port: number }>();
  /** The replicas on this thread of other threads' spread listeners, by id (aborting stops their accepts). */
  private readonly replicas = new Map<number, Replica>();

  constructor(private readonly peers: ThreadPeers) {}

  /** Lends `resource` (taken out of the handles of `giver`) to process `to` on `thread`. */
  give(resource: SocketResource, handle: number, giver: number, to: number, thread: number): void {
    const { connection } = resource;
    if (connection instanceof ProxyConnection) {
      if (!connection.pristine || resource.sharedBy > 1) {
        this.peers.world.handles.adopt(giver, handle, resource);
        throw new LunaticError(Errno.INVAL, `socket ${handle} came from another thread and was used or cloned here: it cannot move on`);
      }
      this.handOn(connection, handle, to, thread);
      return;
    }
    this.lent.set(handle, { resource, thread });
    this.send(thread, SocketOp.GIVE, handle, to);
  }

  /** Gives an unused proxy to process `to` on `thread`: the socket itself when that is its owner's thread. */
  private handOn(proxy: ProxyConnection, handle: number, to: number, thread: number): void {
    const { id, owner } = proxy;
    this.proxies.delete(id);
    proxy.handedOn();
    const extra = handleAndOwner(handle, owner);
    if (thread === owner) {
      this.send(owner, SocketOp.RETURN, id, to, extra);
      return;
    }
    this.movedTo.set(id, thread);
    this.send(owner, SocketOp.MOVED, id, thread);
    this.send(thread, SocketOp.REGIVE, id, to, extra);
  }

  /** Lends a listener (taken out of the handles of `giver`) to process `to` on `thread`. */
  giveListener(resource: ListenerResource, handle: number, giver: number, to: number, thread: number): void {
    if (resource.listener instanceof ProxyListener) {
      this.peers.world.handles.adopt(giver, handle, resource);
      throw new LunaticError(Errno.INVAL, `listener ${handle} came from another thread: it cannot be given to a third one`);
    }
    this.lentListeners.set(handle, { resource, thread, stop: new AbortController() });
    this.send(thread, SocketOp.LISTEN_GIVE, handle, to, int32(resource.listener.port));
  }

  /** The thread of socket `handle` of `owner` when it is an unused proxy of another thread's socket (it can go back there). */
  homeOf(owner: number, handle: number): number | undefined {
    const resource = this.peers.world.handles.find(owner, handle);
    if (!(resource instanceof SocketResource) || resource.sharedBy > 1) return undefined;
    const { connection } = resource;
    return connection instanceof ProxyConnection && connection.pristine ? connection.owner : undefined;
  }

  /**
   * A listener at `host`:`port` on this thread and on every other (replicas, started with
   * `start`): resolves once each replica listens or failed to (or after REPLICA_WAIT_MS), so
   * the first connections already spread.
   */
  async spreadListener(network: Network, host: string, port: number, start: (thread: number) => void): Promise<Listener> {
    // a listener of this thread that just closed there frees the address once its replicas closed
    for (const { closed, port: closing } of this.closing.values()) if (port !== 0 && closing === port) await closed.done;
    // The address must be free, as on one thread: SO_REUSEPORT would let a second listener of this
    // program in beside the first. So a plain listener claims it first, and makes way at once.
    const probe = await network.listen(host, port);
    probe.close();
    const local = await network.listen(host, probe.port, { shared: true });
    const id = this.peers.shared.allocateHandle();
    const others = Array.from({ length: this.peers.shared.threads }, (_, thread) => thread).filter((thread) => thread !== this.peers.index);
    const listener = new SpreadListener(local, () => {
      this.spreads.delete(id);
      const closed = new Answers(others.length);
      this.closing.set(id, { closed, port: local.port });
      void closed.done.then(() => this.closing.delete(id));
      for (const thread of others) this.send(thread, SocketOp.REPLICA_CLOSE, id);
    });
    const spread = { listener, ready: new Answers(others.length) };
    this.spreads.set(id, spread);
    const address = new TextEncoder().encode(host);
    const extra = new Uint8Array(4 + address.length);
    new DataView(extra.buffer).setInt32(0, local.port, true);
    extra.set(address, 4);
    for (const thread of others) {
      start(thread);
      this.send(thread, SocketOp.REPLICA, id, 0, extra);
    }
    await spread.ready.done;
    return listener;
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
      case SocketOp.GIVE: {
        const pid = view.getInt32(offset + 8, true);
        if (this.followMove(id, pid, id, from)) return;
        if (!this.peers.holdIfArriving(pid, bytes, offset, length, from)) this.adopt(id, pid, from);
        return;
      }
      case SocketOp.WANT:
        this.pull(id);
        return;
      case SocketOp.WRITE:
        this.write(id, data(), from);
        return;
      case SocketOp.CLOSE: {
        const lent = this.lent.get(id);
        this.lent.delete(id);
        lent?.resource.close();
        return;
      }
      case SocketOp.DATA:
      case SocketOp.END:
      case SocketOp.WRITTEN:
      case SocketOp.FAILED:
        this.toProxy(op, id, view.getInt32(offset + 8, true), data());
        return;
      case SocketOp.REGIVE: {
        const pid = view.getInt32(offset + 8, true);
        const handle = view.getInt32(offset + 12, true);
        const owner = view.getInt32(offset + 16, true);
        if (this.followMove(id, pid, handle, owner)) return;
        if (!this.peers.holdIfArriving(pid, bytes, offset, length, from)) this.adopt(id, pid, owner, handle);
        return;
      }
      case SocketOp.RETURN: {
        const pid = view.getInt32(offset + 8, true);
        if (this.followMove(id, pid, view.getInt32(offset + 12, true), this.peers.index)) return;
        if (!this.peers.holdIfArriving(pid, bytes, offset, length, from)) this.takeBack(id, pid, view.getInt32(offset + 12, true));
        return;
      }
      case SocketOp.MOVED: {
        const lent = this.lent.get(id);
        if (lent) lent.thread = view.getInt32(offset + 8, true);
        this.send(from, SocketOp.MOVED_ACK, id);
        return;
      }
      case SocketOp.MOVED_ACK:
        this.movedTo.delete(id); // the owner sends to the new thread from now on
        return;
      case SocketOp.LISTEN_GIVE: {
        const pid = view.getInt32(offset + 8, true);
        const moved = this.peers.movedAway(pid);
        // given to a process that moved away meanwhile: the owning thread lends it where it went
        if (moved !== undefined) this.send(from, SocketOp.LISTEN_FOLLOW, id, pid, int32(moved));
        else if (!this.peers.holdIfArriving(pid, bytes, offset, length, from))
          this.adoptListener(id, pid, view.getUint32(offset + 12, true), from);
        return;
      }
      case SocketOp.LISTEN_FOLLOW:
        this.lendListenerTo(id, view.getInt32(offset + 8, true), view.getInt32(offset + 12, true));
        return;
      case SocketOp.ACCEPT:
        this.accept(id);
        return;
      case SocketOp.ACCEPTED:
        this.accepted(id, view.getInt32(offset + 8, true), from);
        return;
      case SocketOp.REPLICA:
        this.openReplica(
          id,
          view.getInt32(offset + 12, true),
          new TextDecoder().decode(bytes.subarray(offset + 16, offset + length)),
          from,
        );
        return;
      case SocketOp.REPLICA_READY:
        this.spreads.get(id)?.ready.answered();
        return;
      case SocketOp.REPLICA_ACCEPTED: {
        const socket = view.getInt32(offset + 8, true);
        const spread = this.spreads.get(id);
        if (spread) spread.listener.arrived(this.proxy(socket, from));
        else this.send(from, SocketOp.CLOSE, socket); // the listener closed meanwhile
        return;
      }
      case SocketOp.REPLICA_CLOSE:
        this.closeReplica(id, from);
        return;
      case SocketOp.REPLICA_CLOSED:
        this.closing.get(id)?.closed.answered();
        return;
      case SocketOp.LISTEN_CLOSE: {
        const lent = this.lentListeners.get(id);
        this.lentListeners.delete(id);
        lent?.stop.abort();
        lent?.resource.close();
        return;
      }
    }
  }

  /**
   * A socket given to process `pid` (as GIVE, REGIVE or RETURN) that moved away from this thread
   * meanwhile (threads.ts `movedAway`), or that it draws to its own thread, follows it, as a fresh
   * proxy given on would: true when it did.
   */
  private followMove(id: number, pid: number, handle: number, owner: number): boolean {
    // or, not started yet, it goes to the socket's thread first (threads.ts `draw`)
    const thread = this.peers.movedAway(pid) ?? this.peers.draw(pid, owner);
    if (thread === undefined) return false;
    if (owner === this.peers.index) {
      // this thread's own socket: lent to the new thread from now
      const lent = this.lent.get(id);
      if (!lent) return true; // closed meanwhile
      lent.thread = thread;
      this.send(thread, SocketOp.REGIVE, id, pid, handleAndOwner(handle, owner));
      return true;
    }
    this.handOn(this.proxy(id, owner), handle, pid, thread);
    return true;
  }

  /**
   * A listener this thread lent goes to process `pid` on `thread` instead (it moved there before
   * the first thread took it in): lent there, or back here as itself.
   */
  private lendListenerTo(id: number, pid: number, thread: number): void {
    const lent = this.lentListeners.get(id);
    if (!lent) return;
    if (thread !== this.peers.index) {
      lent.thread = thread;
      this.send(thread, SocketOp.LISTEN_GIVE, id, pid, int32(lent.resource.listener.port));
      return;
    }
    this.lentListeners.delete(id);
    if (this.peers.world.processes.has(pid)) this.peers.world.handles.adopt(pid, id, lent.resource);
    else lent.resource.close();
  }

  /** A listener given to process `pid` here: a proxy under the same handle number, or closed when `pid` is gone. */
  private adoptListener(id: number, pid: number, port: number, owner: number): void {
    const world = this.peers.world;
    if (!world.processes.has(pid)) {
      this.send(owner, SocketOp.LISTEN_CLOSE, id);
      return;
    }
    const ask = () => this.send(owner, SocketOp.ACCEPT, id);
    const closing = () => {
      this.listenerProxies.delete(id);
      this.send(owner, SocketOp.LISTEN_CLOSE, id);
    };
    const proxy = new ProxyListener(port, ask, closing);
    this.listenerProxies.set(id, proxy);
    world.handles.adopt(pid, id, new ListenerResource(proxy));
  }

  /** REPLICA: listens at the address of spread listener `id` of thread `owner`, and lends it every connection accepted here. */
  private openReplica(id: number, port: number, host: string, owner: number): void {
    const network = this.peers.world.network;
    const replica: Replica = { stop: new AbortController() };
    this.replicas.set(id, replica);
    const opened = network ? network.listen(host, port, { shared: true }) : Promise.reject(new Error('no network'));
    opened.then(
      (listener) => {
        this.send(owner, SocketOp.REPLICA_READY, id);
        if (replica.closed) {
          listener.close(); // asked to close meanwhile
          replica.closed();
          return;
        }
        replica.listener = listener;
        const pump = (): void =>
          void listener.accept(replica.stop.signal).then(
            (connection) => {
              this.send(owner, SocketOp.REPLICA_ACCEPTED, id, this.lend(connection, owner));
              pump();
            },
            () => {},
          );
        pump();
      },
      () => {
        if (this.replicas.get(id) === replica) this.replicas.delete(id);
        this.send(owner, SocketOp.REPLICA_READY, id); // serves without this thread
        replica.closed?.();
      },
    );
  }

  /** REPLICA_CLOSE: closes the replica (once it is open, when it is still opening) and says so. */
  private closeReplica(id: number, owner: number): void {
    const replica = this.replicas.get(id);
    this.replicas.delete(id);
    const closed = () => this.send(owner, SocketOp.REPLICA_CLOSED, id);
    replica?.stop.abort();
    if (replica && !replica.listener) {
      replica.closed = closed; // still opening: answered once it is closed
      return;
    }
    replica?.listener?.close();
    closed();
  }

  /** Lends a connection of this thread to `thread` under a fresh id. */
  private lend(connection: Connection, thread: number): number {
    const socket = this.peers.shared.allocateHandle();
    this.lent.set(socket, { resource: socketOf(connection), thread });
    return socket;
  }

  /** A proxy asks for a connection: the next one the listener accepts, lent under a fresh id. */
  private accept(id: number): void {
    const lent = this.lentListeners.get(id);
    if (!lent) return;
    lent.resource.listener.accept(lent.stop.signal).then(
      (connection) => this.send(lent.thread, SocketOp.ACCEPTED, id, this.lend(connection, lent.thread)),
      () => {}, // the listener was closed: its proxy is gone
    );
  }

  /** A connection the owning thread accepted for one of this thread's listener proxies (closed when that proxy is gone). */
  private accepted(listener: number, socket: number, owner: number): void {
    const proxy = this.listenerProxies.get(listener);
    if (!proxy) {
      this.send(owner, SocketOp.CLOSE, socket);
      return;
    }
    proxy.arrived(this.proxy(socket, owner));
  }

  /** A proxy here for socket `id` of thread `owner`. */
  private proxy(id: number, owner: number): ProxyConnection {
    const proxy = new ProxyConnection(id, owner, this, () => this.proxies.delete(id));
    this.proxies.set(id, proxy);
    return proxy;
  }

  /** A socket given to process `pid` here: a proxy under handle number `handle` (its id unless given on), or closed when `pid` is gone. */
  private adopt(id: number, pid: number, owner: number, handle = id): void {
    const world = this.peers.world;
    if (!world.processes.has(pid)) {
      this.send(owner, SocketOp.CLOSE, id);
      return;
    }
    world.handles.adopt(pid, handle, socketOf(this.proxy(id, owner)));
  }

  /** A socket this thread lent comes back to process `pid` of this thread, as itself. */
  private takeBack(id: number, pid: number, handle: number): void {
    const lent = this.lent.get(id);
    if (!lent) return;
    this.lent.delete(id);
    if (this.peers.world.processes.has(pid)) this.peers.world.handles.adopt(pid, handle, lent.resource);
    else lent.resource.close();
  }

  /** DATA, END, WRITTEN or FAILED for a proxy of this thread, or for one given on (forwarded to its new thread). */
  private toProxy(op: SocketOpCode, id: number, value: number, bytes: Uint8Array): void {
    const proxy = this.proxies.get(id);
    if (!proxy) {
      const thread = this.movedTo.get(id);
      if (thread !== undefined) this.send(thread, op, id, value, op === SocketOp.DATA ? bytes : undefined);
      return;
    }
    if (op === SocketOp.DATA) proxy.arrived(bytes);
    else if (op === SocketOp.END) proxy.arrived(null);
    else if (op === SocketOp.WRITTEN) proxy.written(value);
    else proxy.failed();
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

  /** Writes the bytes of a proxy to the socket; acknowledges them once the socket needs no wait (or drained). */
  private write(id: number, bytes: Uint8Array, thread: number): void {
    const lent = this.lent.get(id);
    const written = () => this.send(thread, SocketOp.WRITTEN, id, bytes.length);
    const failed = () => this.send(thread, SocketOp.FAILED, id);
    if (!lent) {
      failed(); // closed meanwhile
      return;
    }
    try {
      const pending = lent.resource.connection.write(bytes);
      if (pending) pending.then(written, failed);
      else written();
    } catch {
      failed();
    }
  }
}

/** A socket of another thread, as a Connection here. */
class ProxyConnection implements Connection {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private closed = false;
  /** It asked for bytes or wrote: it can no longer be given on to another thread. */
  private used = false;
  /** A write failed on the owning thread (the socket closed or broke). */
  private broken = false;
  private asked = false;
  private waiters: Array<() => void> = [];
  /** Bytes written and not yet acknowledged by the owning thread. */
  private unacknowledged = 0;
  /** Writers waiting for the window to open. */
  private writers: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(
    readonly id: number,
    readonly owner: number,
    private readonly exports: SocketExports,
    private readonly forget: () => void,
  ) {}

  /** Never read from or written to, and open: nothing of it is on its way anywhere. */
  get pristine(): boolean {
    return !this.used && !this.closed && !this.broken;
  }

  /** It was given on to another thread: this one is done with it (the owning thread keeps the socket open). */
  handedOn(): void {
    this.closed = true;
    this.ended = true;
  }

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

  /** Sends the bytes; waits (as a socket above its high-water mark does) while more than WRITE_WINDOW are unacknowledged. */
  write(bytes: Uint8Array): void | Promise<void> {
    if (this.closed || this.broken) throw new LunaticError(Errno.CLOSED, 'the connection is closed');
    this.used = true;
    this.exports.send(this.owner, SocketOp.WRITE, this.id, 0, bytes);
    this.unacknowledged += bytes.length;
    if (this.unacknowledged <= WRITE_WINDOW) return;
    return new Promise((resolve, reject) => this.writers.push({ resolve, reject }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended = true;
    this.forget();
    this.exports.send(this.owner, SocketOp.CLOSE, this.id);
    this.wakeReaders();
    this.wakeWriters(new LunaticError(Errno.CLOSED, 'the connection closed while writing'));
  }

  /** WRITTEN: the owning thread's socket took `bytes` of ours. */
  written(bytes: number): void {
    this.unacknowledged -= bytes;
    if (this.unacknowledged <= WRITE_WINDOW) this.wakeWriters();
  }

  /** FAILED: a write failed on the owning thread; the waiting and later writes fail with CLOSED. */
  failed(): void {
    this.broken = true;
    this.wakeWriters(new LunaticError(Errno.CLOSED, 'the connection closed while writing'));
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
    this.used = true;
    this.exports.send(this.owner, SocketOp.WANT, this.id);
  }

  private wakeWriters(error?: Error): void {
    const writers = this.writers;
    this.writers = [];
    for (const writer of writers) error ? writer.reject(error) : writer.resolve();
  }

  private wakeReaders(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Four bytes holding `value` (a port, a thread index), as a record's extra bytes. */
function int32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
}

/** The extra bytes of REGIVE and RETURN: the handle number the receiver gets, and the socket's owning thread. */
function handleAndOwner(handle: number, owner: number): Uint8Array {
  const extra = new Uint8Array(8);
  const view = new DataView(extra.buffer);
  view.setInt32(0, handle, true);
  view.setInt32(4, owner, true);
  return extra;
}
