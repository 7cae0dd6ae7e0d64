// lunatic host API, TCP: listen, accept, connect, read and write with timeouts, clone. Listen and
// connect are checked against the caller's host:port patterns; every handle against its owner.
// Reads and writes that need not wait return at once, without suspending the process.
import { hibernatable, Later, Pending } from '../pending.js';
import { after } from '../timers.js';
import type { HostFunction, ProcessContext } from '../types.js';
import { TIMED_OUT, withDeadline } from './deadline.js';
import { Errno, LunaticError } from './errno.js';
import { GuestMemory } from './guest-memory.js';
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

  /** How many socket handles share the connection (tcp_clone). */
  get sharedBy(): number {
    return this.shared.handles;
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

export class ListenerResource implements Resource {
  readonly kind = 'listener';
  constructor(readonly listener: Listener) {}
  close(): void {
    this.listener.close();
  }
}

/** Reads up to `capacity` bytes into `memory` at `pointer`: the count (0 at the end of the stream), or undefined when nothing is buffered. */
function readInto(connection: Connection, memory: GuestMemory, pointer: number, capacity: number): number | undefined {
  const bytes = connection.take(capacity >>> 0);
  if (bytes) memory.write(pointer, bytes);
  return bytes === undefined ? undefined : (bytes?.length ?? 0);
}

/**
 * Parks the reader until there is something to read (another holder of a clone may take the
 * bytes first, so it waits again then) or the timeout passes: a Pending, so a read that waits
 * costs no Promise chain of its own. While the reader hibernates, the read completes when it is
 * back in an instance (a Later).
 */
function readWhenReadable(
  self: LunaticProcess,
  connection: Connection,
  memory: GuestMemory,
  pointer: number,
  capacity: number,
  timeoutMs: number,
): Pending<number | Later<number>> {
  let cancelTimer: (() => void) | undefined;
  const pending = hibernatable(new Pending<number | Later<number>>(() => cancelTimer?.()));
  const later = () => {
    const count = readInto(connection, new GuestMemory(self.memory!), pointer, capacity);
    return count ?? readWhenReadable(self, connection, memory, pointer, capacity, timeoutMs);
  };
  const check = () => {
    if (pending.settled) return;
    if (self.core.isHibernating) {
      cancelTimer?.();
      pending.resolve(new Later(later) as Later<number>);
      return;
    }
    const count = readInto(connection, memory, pointer, capacity);
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

export function tcpApi(
  world: Lunatic,
  tenant: () => LunaticProcess,
  ctx: ProcessContext,
  memory: GuestMemory,
): Record<string, HostFunction> {
  const network = (patterns: readonly string[], host: string, port: number, verb: string): Network => {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LunaticError(Errno.INVAL, `port ${port} is out of range`);
    if (!world.network || !endpointAllowed(patterns, host, port))
      throw new LunaticError(Errno.PERM, `process ${tenant().pid} may not ${verb} ${host}:${port}`);
    return world.network;
  };
  const socket = (handle: number) => world.handles.get<SocketResource>(tenant().pid, handle, 'socket');
  /** A new handle for `self`; the resource is closed at once if it ended meanwhile (`signal`: its own, taken before waiting). */
  const adopt = (self: LunaticProcess, signal: AbortSignal, resource: Resource) => {
    if (signal.aborted) {
      resource.close();
      throw new LunaticError(Errno.BADF, `process ${self.pid} has ended`);
    }
    return world.handles.add(self.pid, resource);
  };

  return {
    async tcp_listen(hostPointer: number, hostLength: number, port: number, portPointer: number): Promise<number> {
      const self = tenant();
      const signal = ctx.signal;
      const host = memory.string(hostPointer, hostLength);
      if (portPointer !== 0) memory.view(portPointer, 4); // a bad pointer fails before a listener exists
      const net = network(self.permissions.listen, host, port, 'listen on');
      const listener = await (world.threads ? world.threads.openListener(net, host, port) : net.listen(host, port));
      const handle = adopt(self, signal, new ListenerResource(listener));
      memory.writeU32(portPointer, listener.port);
      return handle;
    },
    async tcp_accept(handle: number, timeoutMs: number): Promise<number> {
      const self = tenant();
      const signal = ctx.signal;
      const { listener } = world.handles.get<ListenerResource>(self.pid, handle, 'listener');
      return adopt(self, signal, socketOf(orTimedOut(await withDeadline((aborted) => listener.accept(aborted), timeoutMs, signal))));
    },
    async tcp_connect(hostPointer: number, hostLength: number, port: number, timeoutMs: number): Promise<number> {
      const self = tenant();
      const signal = ctx.signal;
      const host = memory.string(hostPointer, hostLength);
      const net = network(self.permissions.connect, host, port, 'connect to');
      return adopt(
        self,
        signal,
        socketOf(orTimedOut(await withDeadline((aborted) => net.connect(host, port, aborted), timeoutMs, signal))),
      );
    },
    tcp_read(handle: number, pointer: number, capacity: number, timeoutMs: number): number | Pending<number | Later<number>> {
      const { connection } = socket(handle);
      memory.view(pointer, capacity); // a bad buffer fails before any byte is consumed
      const now = readInto(connection, memory, pointer, capacity);
      if (now !== undefined) return now;
      if (timeoutMs === 0) return -Errno.TIMEDOUT;
      return readWhenReadable(tenant(), connection, memory, pointer, capacity, timeoutMs);
    },
    tcp_write(handle: number, pointer: number, length: number, timeoutMs: number): number | Promise<number> {
      const pending = socket(handle).connection.write(memory.copy(pointer, length));
      if (!pending) return length;
      return withDeadline(() => pending, timeoutMs, ctx.signal).then((done) => (orTimedOut(done), length));
    },
    /** A second handle to the same connection (e.g. one process reads, another writes). */
    tcp_clone: (handle: number) => adopt(tenant(), ctx.signal, socket(handle).clone()),
  };
}
