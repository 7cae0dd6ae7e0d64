// What the lunatic world needs from a cluster (src/runtime/lunatic/distribution.ts implements it):
// the pid layout that says which node a pid lives on, and the calls that leave this node. The
// world stays protocol-neutral and works the same without one (every pid is then local).
import type { ExitStatus } from '../process.js';
import type { LunaticProcess } from './lunatic.js';
import type { MailboxBound } from './mailbox.js';
import type { Listener, Network } from './network.js';
import type { Permissions } from './permissions.js';

/**
 * Pid layout (int32, always > 0): bits 23..30 hold the node index (1..255, assigned when the
 * node joins; 0 when there is no cluster), bits 0..22 the node-local pid (1..8,388,607).
 */
export const NODE_SHIFT = 23;
export const LOCAL_PID_LIMIT = 1 << NODE_SHIFT;
export const MAX_NODES = 255;

export const nodeIndexOf = (pid: number): number => pid >>> NODE_SHIFT;

export interface RemoteSpawn {
  entry: string;
  arg: bigint;
  link: boolean;
  permissions: Permissions;
}

export interface RemoteNodes {
  /** This node's index. */
  readonly index: number;
  /** Queues a message for a pid on another node (`data` may be a view of wasm memory: copy it now): ESRCH when its node is unknown or down. */
  send(from: number, to: number, tag: bigint, data: Uint8Array): void;
  link(local: LunaticProcess, remote: number): Promise<void>;
  unlink(local: LunaticProcess, remote: number): void;
  monitor(watcher: LunaticProcess, watched: number): Promise<void>;
  demonitor(watcher: LunaticProcess, watched: number): void;
  kill(pid: number): void;
  /** A local process ended: tell its remote monitors and links. */
  ended(process: LunaticProcess, status: ExitStatus): void;
  spawn(parent: LunaticProcess, node: string, options: RemoteSpawn): Promise<number>;
  register(process: LunaticProcess, name: string): Promise<void>;
  unregister(process: LunaticProcess, name: string): void;
  whereis(name: string): Promise<number | undefined>;
}

/**
 * The calls for a pid that lives elsewhere: on another node (RemoteNodes, whose link and monitor
 * wait for the answer) or another thread of this node (Threads, which answer at once).
 */
export interface Elsewhere {
  /** Queues a message (`data` may be a view of wasm memory: copy it now); may return a negative errno (FULL) instead of throwing, on a hot path. */
  send(from: number, to: number, tag: bigint, data: Uint8Array): unknown;
  link(local: LunaticProcess, other: number): void | Promise<void>;
  unlink(local: LunaticProcess, other: number): void;
  monitor(watcher: LunaticProcess, watched: number): void | Promise<void>;
  demonitor(watcher: LunaticProcess, watched: number): void;
  kill(pid: number): void;
}

/** A child to start on another thread (lunatic_spawn, lunatic_spawn_fn). */
export interface ThreadSpawn {
  entry?: string;
  tableIndex?: number;
  arg?: bigint;
  link: boolean;
  permissions: Permissions;
}

/**
 * The other threads of this node (src/runtime/threads/threads.ts): pids, handle numbers and
 * names are shared by all of them; a pid of another thread goes through these calls.
 */
export interface Threads extends Elsewhere {
  /** Whether `pid` is not alive on another thread (so it is this thread's, or nobody's). */
  isHere(pid: number): boolean;
  /** The pid for a process started on this thread, whose mailbox holds `mailboxCapacity` messages; -1 when no pid is left. */
  allocatePid(mailboxCapacity: number): number;
  /** The bound of the mailbox of `pid` (of this thread), which senders on every thread share. */
  mailboxBound(pid: number): MailboxBound;
  /**
   * The thread a new child should go to, or undefined for this one (which must then have room);
   * `stayHere`: it is one this thread runs sooner than it could send it away (short-entries.ts).
   */
  placeChild(stayHere?: boolean): number | undefined;
  /** Starts a child of `parent` on `thread`; returns its pid at once. */
  spawnOn(thread: number, parent: LunaticProcess, options: ThreadSpawn): number;
  /** A process of this thread ended: tell its monitors and links on other threads. */
  ended(process: LunaticProcess, status: ExitStatus): void;
  /** Gives handle `handle` of `from` to `to` on another thread. */
  give(from: LunaticProcess, handle: number, to: number): void;
  /**
   * Before `from` gives socket `handle` to `to`, a process of this thread: when the socket lives
   * on another thread and `to` has not started, `to` moves there (its I/O then stays on one
   * thread); true when it did, and the give then goes there (`give`).
   */
  drawsTo(from: LunaticProcess, handle: number, to: number): boolean;
  /** A listener for a process of this thread (lunatic_tcp_listen): on every thread when the network can share the address. */
  openListener(network: Network, host: string, port: number): Promise<Listener>;
  register(process: LunaticProcess, name: string): number | Promise<number>;
  unregister(process: LunaticProcess, name: string): number | Promise<number>;
  whereis(name: string): number | Promise<number>;
}
