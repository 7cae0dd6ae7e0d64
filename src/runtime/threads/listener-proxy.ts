// Listeners across threads, as Listeners (socket-proxy.ts makes them). No Node imports.
//
// ProxyListener: a listener of another thread. The listening socket stays with the thread that
// opened it. An accept asks that thread for one connection (ACCEPT) per waiting accept; the
// connection it accepts comes back as a socket proxy (ACCEPTED). An accept that gives up (its
// timeout) leaves its request standing: the connection that answers it is kept for the next
// accept, as a listener keeps a connection nobody accepted yet on its own thread.
//
// SpreadListener: a listener open on every thread at the same address (SO_REUSEPORT), so each
// thread accepts the connections the kernel gives it and serves their bytes itself. The process
// that listens sees one listener: its own thread's connections and, as socket proxies, those of
// the other threads' replicas (REPLICA_ACCEPTED), in the order they came.
import { Errno, LunaticError } from '../lunatic/errno.js';
import type { Connection, Listener } from '../lunatic/network.js';

interface Waiter {
  resolve: (connection: Connection) => void;
  reject: (error: Error) => void;
}

/** Connections no accept has taken yet, and the accepts waiting for one. */
export class ConnectionQueue {
  private readonly ready: Connection[] = [];
  private readonly waiters: Waiter[] = [];
  private isClosed = false;

  /** Whether it was closed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** How many accepts wait. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** The next connection; rejects with TIMEDOUT when `signal` aborts, CLOSED once closed. */
  take(signal: AbortSignal): Promise<Connection> {
    if (this.isClosed) return Promise.reject(new LunaticError(Errno.CLOSED, 'the listener is closed'));
    const connection = this.ready.shift();
    if (connection) return Promise.resolve(connection);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (connection) => {
          signal.removeEventListener('abort', onAbort);
          resolve(connection);
        },
        reject,
      };
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new LunaticError(Errno.TIMEDOUT, 'accept stopped'));
      };
      this.waiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A connection came: to the first waiting accept, or kept (closed when the queue is). */
  arrived(connection: Connection): void {
    if (this.isClosed) {
      connection.close();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(connection);
    else this.ready.push(connection);
  }

  /** Closes the kept connections and fails the waiting accepts; true the first time. */
  close(): boolean {
    if (this.isClosed) return false;
    this.isClosed = true;
    for (const connection of this.ready.splice(0)) connection.close();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new LunaticError(Errno.CLOSED, 'the listener is closed'));
    return true;
  }
}

export class ProxyListener implements Listener {
  private readonly queue = new ConnectionQueue();
  /** ACCEPT requests the owning thread has not answered yet. */
  private asked = 0;

  constructor(
    readonly port: number,
    /** Asks the owning thread for one connection (ACCEPT). */
    private readonly ask: () => void,
    /** Tells the owning thread to close the listener (LISTEN_CLOSE), and forgets this proxy. */
    private readonly closing: () => void,
  ) {}

  accept(signal: AbortSignal): Promise<Connection> {
    const taken = this.queue.take(signal);
    if (this.asked < this.queue.waiting) {
      this.asked++;
      this.ask();
    }
    return taken;
  }

  /** ACCEPTED: the owning thread accepted a connection for us. */
  arrived(connection: Connection): void {
    this.asked--;
    this.queue.arrived(connection);
  }

  close(): void {
    if (this.queue.close()) this.closing();
  }
}

export class SpreadListener implements Listener {
  private readonly queue = new ConnectionQueue();
  private readonly stop = new AbortController();

  constructor(
    /** This thread's listener at the address. */
    private readonly local: Listener,
    /** Closes the other threads' replicas (REPLICA_CLOSE), and forgets this listener. */
    private readonly closing: () => void,
  ) {
    this.pump();
  }

  get port(): number {
    return this.local.port;
  }

  accept(signal: AbortSignal): Promise<Connection> {
    return this.queue.take(signal);
  }

  /** REPLICA_ACCEPTED: a connection another thread's replica accepted (a socket proxy here). */
  arrived(connection: Connection): void {
    this.queue.arrived(connection);
  }

  close(): void {
    if (!this.queue.close()) return;
    this.stop.abort();
    this.local.close();
    this.closing();
  }

  /** This thread's connections join the queue as they come. */
  private pump(): void {
    this.local.accept(this.stop.signal).then(
      (connection) => {
        this.queue.arrived(connection);
        this.pump();
      },
      () => {}, // closed
    );
  }
}
