// lunatic host API, TCP: listen, accept, connect, read and write with timeouts, clone. Listen and
// connect are checked against the caller's host:port patterns; every handle against its owner.
// Reads and writes that need not wait return at once, without suspending the process.
import { Pending } from '../pending.js';
import { after } from '../timers.js';
import type { HostFunction, ProcessContext } from '../types.js';
import { TIMED_OUT, withDeadline } from './deadline.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Resource } from './handles.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import type { Connection, Listener, Network } from './network.js';
import { endpointAllowed } from './permissions.js';

/** A connection and how many socket handles share it (tcp_clone): the last close closes it. */
interface Shared {
  connection: Connection;
  handles: number;
}

export class SocketResource implements Resource {
  readonly kind = 'socket';
  private closed = false;
  constructor(private readonly shared: Shared) {
    shared.handles++;
  }

  get connection(): Connection {
    return this.shared.connection;
  }

  clone(): SocketResource {
    return new SocketResource(this.shared);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (--this.shared.handles === 0) this.shared.connection.close();
  }
}

/** A socket handle's resource for a connection of its own. */
export const socketOf = (connection: Connection) => new SocketResource({ connection, handles: 0 });

class ListenerResource implements Resource {
  readonly kind = 'listener';
  constructor(readonly listener: Listener) {}
  close(): void {
    this.listener.close();
  }
}

/**
 * Parks the reader until `take` has something (another holder of a clone may take the bytes
 * first, so it waits again then) or the timeout passes: a Pending, so a read that waits costs
 * no Promise chain of its own.
 */
function readWhenReadable(connection: Connection, take: () => number | undefined, timeoutMs: number): Pending<number> {
  let cancelTimer: (() => void) | undefined;
  const pending = new Pending<number>(() => cancelTimer?.());
  const check = () => {
    if (pending.settled) return;
    const count = take();
    if (count === undefined) return void connection.readable().then(check);
    cancelTimer?.();
    pending.resolve(count);
  };
  if (timeoutMs > 0) cancelTimer = after(timeoutMs, () => pending.resolve(-Errno.TIMEDOUT));
  void connection.readable().then(check);
  return pending;
}

/** The value of a wait that timed out, as an error code. */
function orTimedOut<T>(value: T | typeof TIMED_OUT): T {
  if (value === TIMED_OUT) throw new LunaticError(Errno.TIMEDOUT, 'timed out');
  return value;
}

export function tcpApi(world: Lunatic, self: LunaticProcess, ctx: ProcessContext, memory: GuestMemory): Record<string, HostFunction> {
  const network = (patterns: readonly string[], host: string, port: number, verb: string): Network => {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LunaticError(Errno.INVAL, `port ${port} is out of range`);
    if (!world.network || !endpointAllowed(patterns, host, port))
      throw new LunaticError(Errno.PERM, `process ${self.pid} may not ${verb} ${host}:${port}`);
    return world.network;
  };
  const socket = (handle: number) => world.handles.get<SocketResource>(self.pid, handle, 'socket');
  /** A new handle for the caller; the resource is closed at once if the caller ended meanwhile. */
  const adopt = (resource: Resource) => {
    if (ctx.signal.aborted) {
      resource.close();
      throw new LunaticError(Errno.BADF, `process ${self.pid} has ended`);
    }
    return world.handles.add(self.pid, resource);
  };

  return {
    async tcp_listen(hostPointer: number, hostLength: number, port: number, portPointer: number): Promise<number> {
      const host = memory.string(hostPointer, hostLength);
      if (portPointer !== 0) memory.view(portPointer, 4); // a bad pointer fails before a listener exists
      const listener = await network(self.permissions.listen, host, port, 'listen on').listen(host, port);
      const handle = adopt(new ListenerResource(listener));
      memory.writeU32(portPointer, listener.port);
      return handle;
    },
    async tcp_accept(handle: number, timeoutMs: number): Promise<number> {
      const { listener } = world.handles.get<ListenerResource>(self.pid, handle, 'listener');
      return adopt(socketOf(orTimedOut(await withDeadline((signal) => listener.accept(signal), timeoutMs, ctx.signal))));
    },
    async tcp_connect(hostPointer: number, hostLength: number, port: number, timeoutMs: number): Promise<number> {
      const host = memory.string(hostPointer, hostLength);
      const net = network(self.permissions.connect, host, port, 'connect to');
      return adopt(socketOf(orTimedOut(await withDeadline((signal) => net.connect(host, port, signal), timeoutMs, ctx.signal))));
    },
    tcp_read(handle: number, pointer: number, capacity: number, timeoutMs: number): number | Pending<number> {
      const { connection } = socket(handle);
      memory.view(pointer, capacity); // a bad buffer fails before any byte is consumed
      /** The byte count (0 at the end of the stream), or undefined when nothing is buffered. */
      const take = (): number | undefined => {
        const bytes = connection.take(capacity >>> 0);
        if (bytes) memory.write(pointer, bytes);
        return bytes === undefined ? undefined : (bytes?.length ?? 0);
      };
      const now = take();
      if (now !== undefined) return now;
      if (timeoutMs === 0) return -Errno.TIMEDOUT;
      return readWhenReadable(connection, take, timeoutMs);
    },
    tcp_write(handle: number, pointer: number, length: number, timeoutMs: number): number | Promise<number> {
      const pending = socket(handle).connection.write(memory.copy(pointer, length));
      if (!pending) return length;
      return withDeadline(() => pending, timeoutMs, ctx.signal).then((done) => (orTimedOut(done), length));
    },
    /** A second handle to the same connection (e.g. one process reads, another writes). */
    tcp_clone: (handle: number) => adopt(socket(handle).clone()),
  };
}
