// A listener of another thread, as a Listener here (socket-proxy.ts lends it): the listening
// socket stays with the thread that opened it. An accept asks that thread for one connection
// (ACCEPT) per waiting accept; the connection it accepts comes back as a socket proxy
// (ACCEPTED). An accept that gives up (its timeout) leaves its request standing: the connection
// that answers it is kept for the next accept, as a listener keeps a connection nobody accepted
// yet on its own thread. No Node imports.
import { Errno, LunaticError } from '../lunatic/errno.js';
import type { Connection, Listener } from '../lunatic/network.js';

interface Waiter {
  resolve: (connection: Connection) => void;
  reject: (error: Error) => void;
}

export class ProxyListener implements Listener {
  /** Connections accepted for this proxy that no accept has taken yet. */
  private readonly ready: Connection[] = [];
  private readonly waiters: Waiter[] = [];
  /** ACCEPT requests the owning thread has not answered yet. */
  private asked = 0;
  private closed = false;

  constructor(
    readonly port: number,
    /** Asks the owning thread for one connection (ACCEPT). */
    private readonly ask: () => void,
    /** Tells the owning thread to close the listener (LISTEN_CLOSE), and forgets this proxy. */
    private readonly closing: () => void,
  ) {}

  accept(signal: AbortSignal): Promise<Connection> {
    if (this.closed) return Promise.reject(new LunaticError(Errno.CLOSED, 'the listener is closed'));
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
      if (this.asked < this.waiters.length) {
        this.asked++;
        this.ask();
      }
    });
  }

  /** ACCEPTED: the owning thread accepted a connection for us. */
  arrived(connection: Connection): void {
    this.asked--;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(connection);
    else this.ready.push(connection);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing();
    for (const connection of this.ready.splice(0)) connection.close();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new LunaticError(Errno.CLOSED, 'the listener is closed'));
  }
}
