// The lunatic world: every process started through it, with its permissions, mailbox, links
// and monitors. It spawns processes on the runtime core (the first one from the embedder, the
// others from wasm), delivers messages, propagates failures along links, sends DOWN
// notifications, closes a process's handles when it ends and enforces the per-process limits.
import { instrumentInfoOf } from '../module-info.js';
import type { Departure, ExitStatus } from '../process.js';
import type { HostModule, ReusableHostModule } from '../types.js';
import type { ReceiveWait } from './api-message.js';
import { ProcessLimitError } from '../runtime.js';
import type { CoreProcess, CoreSpawnOptions, ProcessCore } from './core.js';
import { type EntryParam, entryArgs, spawnableFunctions, TABLE_ENTRY_EXPORT } from './entries.js';
import { Errno, LunaticError } from './errno.js';
import { HandleTable } from './handles.js';
import { lunaticImports } from './imports.js';
import { Mailbox, type MailboxBound } from './mailbox.js';
import type { Message } from './message-queue.js';
import type { Network } from './network.js';
import { Pids } from './pids.js';
import { notificationOf, Reason, reasonOf, type ReasonCode, TAG_DOWN, TAG_LINK_DOWN } from './notifications.js';
import type { Permissions } from './permissions.js';
import { Registry } from './registry.js';
import { type EntryKey, ShortEntries } from './short-entries.js';
import { type Elsewhere, LOCAL_PID_LIMIT, NODE_SHIFT, nodeIndexOf, type RemoteNodes, type Threads } from './remote.js';

const PAGE_BYTES = 65536;
/** How often the limits of processes that make no lunatic calls are checked. */
const WATCHDOG_MS = 10;

/** A compiled module and the exports and table entries that can start a process. */
export interface Program {
  module: WebAssembly.Module;
  entries: ReadonlyMap<string, EntryParam>;
  /** Table indices of `(i64) -> ()` functions; undefined when the module has no TABLE_ENTRY_EXPORT (entries.ts). */
  tableEntries?: ReadonlySet<number> | undefined;
  /** Pages at the top of memory 0 that belong to the host, not the program (docs/ABI.md). */
  reservedPages: number;
  /** The module bytes, which a remote spawn sends to another node. */
  bytes?: Uint8Array;
}

export interface LunaticOptions {
  core: ProcessCore;
  /** TCP for the processes (src/runtime/node/net.ts on Node); without it, TCP calls fail with PERM. */
  network?: Network;
  /** The other host modules of every process (WASI...), given its permissions (for its dirs). */
  hostModules?: (permissions: Permissions) => HostModule[];
  /** The runtime's time slice in reductions: `maxReductions` is counted in slices of it. */
  reductions: number;
  /** For plain modules on JSPI: extra `module.name` globs of imports that may return a Promise. */
  blockingImports?: string[];
  /**
   * Called for every process spawned from wasm (e.g. to report its crash), and again on the thread
   * a process moves to, with the process object of that thread (same pid; the one it left is `departed`).
   */
  onSpawn?: (process: LunaticProcess) => void;
}

export interface StartOptions {
  permissions: Permissions;
  /** The export to run (default `_start`). */
  entry?: string;
  /** Instead of an export: the table entry to run (a `void (*)(int64_t)` function pointer). */
  tableIndex?: number;
  /** The spawn argument, for entries that take one. */
  arg?: bigint;
  /** The pid, when another thread chose it already (threads). */
  pid?: number;
}

/**
 * A runnable process leaving this thread for another (threads): its core's departure and what
 * the world knows of it. Its sockets and listeners would have to stay (they are this thread's),
 * so only a process holding none (configurations move) leaves.
 */
export interface Emigrant {
  pid: number;
  permissions: Permissions;
  /** The export it started with (or starts with, if it had not) and its arguments. */
  entry: string;
  args: unknown[];
  links: number[];
  monitoredBy: number[];
  monitoring: number[];
  trapLinks: boolean;
  /** Its mailbox, in order (their room in the shared bound stays taken). */
  messages: Message[];
  /** The configurations it holds: handle numbers are global, so they keep theirs. */
  configs: Array<{ handle: number; permissions: Permissions }>;
  departure: Departure;
}

export class LunaticProcess {
  readonly mailbox: Mailbox;
  readonly links = new Pids();
  /** Processes that get a DOWN message when this one ends. */
  readonly monitoredBy = new Pids();
  /** Processes this one monitors (the other side of their `monitoredBy`). */
  readonly monitoring = new Pids();
  trapLinks = false;
  /** Why the runtime ended the process (a limit), shown as its crash message. */
  endReason: string | undefined;
  /** The program's memory, once the process is instantiated (it throws while the process hibernates). */
  memory: (() => WebAssembly.Memory) | undefined;
  /** Its receive, once it has waited in one (api-message.ts). */
  receiving: ReceiveWait | undefined;
  /** It has a memory or reduction limit to check at every call. */
  readonly limited: boolean;
  /**
   * It may move to another thread: spawned from wasm (the embedder's first process stays, since
   * the embedder awaits its end on this thread).
   */
  mobile = false;
  /** It moved to another thread (`Lunatic.emigrate`): it ends there, and this one hears of it (`Lunatic.endedAway`). */
  departed = false;
  private exitedPromise: Promise<ExitStatus> | undefined;

  constructor(
    readonly core: CoreProcess,
    readonly program: Program,
    readonly permissions: Permissions,
    /** The export it runs and its arguments (to start it on another thread if it moves first). */
    readonly entryCall: { entry: string; args: unknown[] },
    private readonly pidBase = 0,
    mailboxBound?: MailboxBound,
  ) {
    this.mailbox = new Mailbox(permissions.mailboxCapacity, mailboxBound);
    this.limited = permissions.maxMemoryPages !== undefined || permissions.maxReductions !== undefined;
  }

  /** How the process ended; a limit violation shows as a crash with its reason. Made on first use. */
  get exited(): Promise<ExitStatus> {
    this.exitedPromise ??= new Promise((resolve) => this.onEnd(resolve));
    return this.exitedPromise;
  }

  /** Calls `listener` with how the process ended (as `exited` says it), synchronously when it ends. */
  onEnd(listener: (status: ExitStatus) => void): void {
    this.core.onEnd((status) => listener(this.statusOf(status)));
  }

  /** How the core's `status` shows: a limit violation as a crash with its reason. */
  statusOf(status: ExitStatus): ExitStatus {
    return this.endReason && !status.trap ? { trap: { message: this.endReason, functions: [] } } : status;
  }

  /** The global pid: the node index in the high bits (remote.ts), the core's pid below. */
  get pid(): number {
    return this.pidBase + this.core.pid;
  }
}

export class Lunatic {
  readonly handles = new HandleTable();
  private readonly live = new Map<number, LunaticProcess>();
  /** Processes that moved to another thread and have not ended there yet, by pid (`endedAway`; one that came back and left again is there twice). */
  private readonly departed = new Map<number, LunaticProcess[]>();
  private readonly limited = new Set<LunaticProcess>();
  private watchdog: ReturnType<typeof setInterval> | undefined;
  /** Process names on this node (lunatic_register). */
  readonly registry = new Registry();
  /** The cluster this node joined (distribution.ts), if any. */
  remote: RemoteNodes | undefined;
  /** The other threads of this node (src/runtime/threads/), if it runs on several. */
  threads: Threads | undefined;
  private pidBase = 0;
  /** The host modules made for each set of permissions (children mostly share their parent's). */
  private readonly hostModulesOf = new WeakMap<Permissions, HostModule[]>();
  /** Entries whose processes end at once: their children stay on their parent's thread. */
  private readonly shortEntries = new ShortEntries();
  /** The `lunatic` host module: its functions are made once per instance and serve every process of this world. */
  private readonly hostModule: ReusableHostModule<LunaticProcess> = {
    kind: { imports: (ctx, tenant) => lunaticImports(this, tenant, ctx) },
    state: (ctx) => {
      const self = this.live.get(this.pidBase + ctx.pid)!;
      self.memory = () => ctx.memory();
      return self;
    },
  };

  constructor(readonly options: LunaticOptions) {}

  /** Joins a cluster: pids started from now on carry the node's index. */
  attach(remote: RemoteNodes): void {
    if (this.live.size > 0) throw new Error('join the cluster before starting processes');
    this.remote = remote;
    this.pidBase = remote.index << NODE_SHIFT;
  }

  /** Runs this world as one thread of several: pids, handle numbers and names become theirs. */
  attachThreads(threads: Threads, allocateHandle: () => number): void {
    if (this.live.size > 0) throw new Error('attach the threads before starting processes');
    this.threads = threads;
    this.handles.allocate = allocateHandle;
  }

  /** Whether `pid` lives in this world: on this node (always, without a cluster) and this thread. */
  isLocal(pid: number): boolean {
    return (!this.remote || nodeIndexOf(pid) === this.remote.index) && (!this.threads || this.threads.isHere(pid));
  }

  /** Where a pid that is not local lives: another thread of this node, or another node. */
  elsewhere(pid: number): Elsewhere {
    return this.threads && (!this.remote || nodeIndexOf(pid) === this.remote.index) ? this.threads : this.remote!;
  }

  get network(): Network | undefined {
    return this.options.network;
  }

  /** The Program of module bytes (instrumented, or plain on JSPI) and their compiled module. */
  program(bytes: Uint8Array, module: WebAssembly.Module): Program {
    return { module, ...spawnableFunctions(bytes), reservedPages: instrumentInfoOf(module)?.reservedPages ?? 0, bytes };
  }

  /** Compiles module bytes into a Program. */
  async load(bytes: Uint8Array): Promise<Program> {
    return this.program(bytes, await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>));
  }

  /**
   * Starts a process running `entry` of the program (the embedder's first process). An entry
   * that cannot start shows in `exited`, as the core reports it.
   */
  start(program: Program, options: StartOptions): LunaticProcess {
    const { permissions } = options;
    const { blockingImports } = this.options;
    const pid = options.pid ?? this.threads?.allocatePid(permissions.mailboxCapacity);
    if (pid === -1) throw new LunaticError(Errno.NOMEM, `this node started its ${LOCAL_PID_LIMIT - 1} processes: no pid is left`);
    const call = entryCall(program, options);
    const core = this.spawnCore(program, { hostModules: this.hostModulesFor(permissions), ...call, blockingImports, pid });
    if (this.remote && core.pid >= LOCAL_PID_LIMIT) {
      core.kill(); // its pid would spill into the node index (remote.ts)
      throw new LunaticError(Errno.NOMEM, `this node started its ${LOCAL_PID_LIMIT - 1} processes: no pid is left`);
    }
    return this.admit(core, program, permissions, call, pid);
  }

  /** The world's part of a process its core just made: its mailbox, its limits, its end. */
  private admit(
    core: CoreProcess,
    program: Program,
    permissions: Permissions,
    call: LunaticProcess['entryCall'],
    pid?: number,
  ): LunaticProcess {
    const bound = pid === undefined ? undefined : this.threads?.mailboxBound(pid); // shared by every thread's senders
    const process = new LunaticProcess(core, program, permissions, call, this.pidBase, bound);
    this.live.set(process.pid, process);
    if (permissions.maxMemoryPages !== undefined || permissions.maxReductions !== undefined) this.watch(process);
    core.onEnd((status) => this.ended(process, process.statusOf(status)));
    return process;
  }

  /** The host modules of a process with `permissions` (made once per set: children mostly share their parent's). */
  private hostModulesFor(permissions: Permissions): HostModule[] {
    let hostModules = this.hostModulesOf.get(permissions);
    if (!hostModules) {
      hostModules = [...(this.options.hostModules?.(permissions) ?? []), this.hostModule];
      this.hostModulesOf.set(permissions, hostModules);
    }
    return hostModules;
  }

  /**
   * Lets a runnable process of this thread go to another (threads): one the core can let go (not
   * started, or preempted on Asyncify) that was spawned from wasm and holds no socket or
   * listener, and that `accept` lets go (`due`: also one the event loop woke). It is forgotten here
   * without an end; undefined when none can go.
   */
  emigrate(accept: (pid: number) => boolean = () => true, due = false): Emigrant | undefined {
    const withdrawn = this.options.core.withdraw?.((core) => {
      const process = this.live.get(this.pidBase + core.pid);
      return this.canEmigrate(process) && accept(process!.pid);
    }, due);
    if (!withdrawn) return undefined;
    const process = this.live.get(this.pidBase + withdrawn.process.pid)!;
    this.live.delete(process.pid);
    process.departed = true;
    const copies = this.departed.get(process.pid);
    if (copies) copies.push(process);
    else this.departed.set(process.pid, [process]);
    this.forgetLimits(process);
    const configs = this.handles.heldBy(process.pid).map(([handle, resource]) => {
      this.handles.detach(process.pid, handle);
      return { handle, permissions: (resource as unknown as { permissions: Permissions }).permissions };
    });
    return {
      pid: process.pid,
      permissions: process.permissions,
      ...process.entryCall,
      links: [...process.links],
      monitoredBy: [...process.monitoredBy],
      monitoring: [...process.monitoring],
      trapLinks: process.trapLinks,
      messages: process.mailbox.takeAll(),
      configs,
      departure: withdrawn.departure,
    };
  }

  private canEmigrate(process: LunaticProcess | undefined): boolean {
    if (!process?.mobile || process.endReason || this.shortEntries.isShort(entryKey(process.entryCall))) return false;
    for (const [, resource] of this.handles.heldBy(process.pid)) if (resource.kind !== 'config') return false;
    return true;
  }

  /** Takes in a process that left another thread (`emigrate` there): it goes on here under its pid. */
  immigrate(program: Program, emigrant: Emigrant): LunaticProcess {
    const { pid, permissions, entry, args } = emigrant;
    const options = { hostModules: this.hostModulesFor(permissions), entry, args, blockingImports: this.options.blockingImports, pid };
    const adopt = this.options.core.adopt;
    if (!adopt) throw new Error('this runtime core cannot take in processes from other threads');
    let core: CoreProcess;
    try {
      core = adopt.call(this.options.core, program.module, options, emigrant.departure);
    } catch (error) {
      if (error instanceof ProcessLimitError) throw new LunaticError(Errno.NOMEM, error.message);
      throw error;
    }
    const process = this.admit(core, program, permissions, { entry, args }, pid);
    process.mobile = true;
    process.trapLinks = emigrant.trapLinks;
    for (const other of emigrant.links) process.links.add(other);
    for (const other of emigrant.monitoredBy) process.monitoredBy.add(other);
    for (const other of emigrant.monitoring) process.monitoring.add(other);
    process.mailbox.adopt(emigrant.messages);
    this.options.onSpawn?.(process);
    return process;
  }

  /** The runtime's process; past the process limit a NOMEM error, which wasm gets as -LUNATIC_ENOMEM. */
  private spawnCore(program: Program, options: CoreSpawnOptions): CoreProcess {
    return asNoMemory(() => this.options.core.spawn(program.module, options));
  }

  /** Starts a process that `parent` spawned (lunatic_spawn, lunatic_spawn_fn), linked to it on request. */
  spawn(parent: LunaticProcess, options: StartOptions & { link: boolean; monitor?: boolean }): LunaticProcess {
    checkSpawnable(parent.program, options);
    const child = this.start(parent.program, options);
    child.mobile = true;
    if (options.link) this.link(parent, child);
    if (options.monitor) this.monitor(parent, child);
    this.options.onSpawn?.(child);
    return child;
  }

  /**
   * Starts a child of `parent` (lunatic_spawn, lunatic_spawn_fn) here or, running on several
   * threads, where there is room; returns its pid.
   */
  spawnChild(parent: LunaticProcess, options: StartOptions & { link: boolean; monitor?: boolean }): number {
    const thread = this.threads?.placeChild(this.shortEntries.isShort(startKey(options)));
    if (thread === undefined) return this.spawn(parent, options).pid;
    checkSpawnable(parent.program, options);
    // counted across threads: refused here rather than started there to crash
    asNoMemory(() => this.options.core.checkMemoryRoom?.(parent.program.module));
    const pid = this.threads!.spawnOn(thread, parent, options);
    if (options.link) parent.links.add(pid);
    // after the spawn on the same ordered ring: in place before the child runs
    if (options.monitor) this.threads!.monitor(parent, pid);
    return pid;
  }

  /** A live process, or SRCH. */
  process(pid: number): LunaticProcess {
    const process = this.live.get(pid);
    if (!process) throw new LunaticError(Errno.SRCH, `no process ${pid}`);
    return process;
  }

  /** Live processes started through this world. */
  get processes(): ReadonlyMap<number, LunaticProcess> {
    return this.live;
  }

  link(a: LunaticProcess, b: LunaticProcess): void {
    a.links.add(b.pid);
    b.links.add(a.pid);
  }

  unlink(a: LunaticProcess, b: LunaticProcess): void {
    a.links.delete(b.pid);
    b.links.delete(a.pid);
  }

  monitor(watcher: LunaticProcess, watched: LunaticProcess): void {
    watched.monitoredBy.add(watcher.pid);
    watcher.monitoring.add(watched.pid);
  }

  demonitor(watcher: LunaticProcess, watched: LunaticProcess): void {
    watched.monitoredBy.delete(watcher.pid);
    watcher.monitoring.delete(watched.pid);
  }

  /** Throws (ending the calling process) when it went past a limit of its permissions. */
  checkLimits(process: LunaticProcess): void {
    const reason = this.limitExceeded(process);
    if (reason) {
      process.endReason = reason;
      throw new Error(reason);
    }
  }

  private limitExceeded(process: LunaticProcess): string | undefined {
    const { maxReductions, maxMemoryPages } = process.permissions;
    const spent = process.core.budgetsSpent * this.options.reductions;
    if (maxReductions !== undefined && spent > maxReductions) {
      return `process ${process.pid} exceeded its limit of ${maxReductions} reductions`;
    }
    const pages = maxMemoryPages === undefined ? 0 : programPages(process);
    if (maxMemoryPages !== undefined && pages > maxMemoryPages) {
      return `process ${process.pid} exceeded its limit of ${maxMemoryPages} memory pages (it uses ${pages})`;
    }
    return undefined;
  }

  /** Limits are also checked between time slices, for processes that never call lunatic. */
  private watch(process: LunaticProcess): void {
    this.limited.add(process);
    this.watchdog ??= setInterval(() => {
      for (const watched of this.limited) {
        const reason = this.limitExceeded(watched);
        if (reason && !watched.endReason) {
          watched.endReason = reason;
          watched.core.kill();
        }
      }
    }, WATCHDOG_MS);
  }

  private forgetLimits(process: LunaticProcess): void {
    this.limited.delete(process);
    if (this.limited.size === 0 && this.watchdog !== undefined) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }

  /** A process that moved away from here (`emigrate`) ended on another thread: its `exited` here settles with `status`. */
  endedAway(pid: number, status: ExitStatus): void {
    const copies = this.departed.get(pid) ?? [];
    this.departed.delete(pid);
    for (const process of copies) process.core.endedAway?.(status);
  }

  private ended(process: LunaticProcess, status: ExitStatus): void {
    if (process.departed) return; // its end was seen where it went
    this.live.delete(process.pid);
    if (this.threads) this.shortEntries.ended(entryKey(process.entryCall), process.core.oneTurnReductions);
    this.forgetLimits(process);
    this.handles.closeAll(process.pid);
    this.remote?.ended(process, status);
    this.threads?.ended(process, status);
    this.registry.forget(process.pid);
    // Both sides of a monitor forget the ended process, so a long-lived process watched by (or
    // watching) many short-lived ones keeps no trace of them.
    // (a process that is here but not local, just arrived from another thread, is told through the threads, in order)
    for (const pid of process.monitoring) if (this.isLocal(pid)) this.live.get(pid)?.monitoredBy.delete(process.pid);
    for (const pid of process.monitoredBy) if (this.isLocal(pid)) this.deliverDown(pid, process.pid, reasonOf(status), status.code ?? 0);
    for (const pid of process.links) if (this.isLocal(pid)) this.deliverLinkExit(pid, process.pid, reasonOf(status), status.code ?? 0);
  }

  /** Process `pid` (of this node or another) ended: a DOWN message for `watcherPid`, if it lives here. */
  deliverDown(watcherPid: number, pid: number, reason: ReasonCode, code: number): void {
    const watcher = this.live.get(watcherPid);
    if (!watcher?.monitoring.delete(pid)) return;
    watcher.mailbox.notify(notificationOf(TAG_DOWN, pid, reason, code));
  }

  /** Process `pid` linked to `linkedPid` ended: when it failed, the linked one dies or (trapping links) is told. */
  deliverLinkExit(linkedPid: number, pid: number, reason: ReasonCode, code: number): void {
    const linked = this.live.get(linkedPid);
    if (!linked?.links.delete(pid) || reason === Reason.EXITED) return;
    if (linked.trapLinks) linked.mailbox.notify(notificationOf(TAG_LINK_DOWN, pid, reason, code));
    else linked.core.kill();
  }
}

/** The export a process runs when its start names none. */
const START_ENTRY = '_start';

/** What a process starts with: the export's name, or the table index (short-entries.ts keys). */
function startKey(options: StartOptions): EntryKey {
  return options.tableIndex ?? options.entry ?? START_ENTRY;
}

/** startKey of the options that made `call` (entryCall): what a process started with. */
function entryKey(call: { entry: string; args: unknown[] }): EntryKey {
  return call.entry === TABLE_ENTRY_EXPORT ? (call.args[0] as number) : call.entry;
}

/** The export a process starts with and its arguments: an entry's, or the table trampoline's. */
function entryCall(program: Program, options: StartOptions): { entry: string; args: unknown[] } {
  const arg = options.arg ?? 0n;
  if (options.tableIndex !== undefined) return { entry: TABLE_ENTRY_EXPORT, args: [options.tableIndex, BigInt.asIntN(64, arg)] };
  const entry = options.entry ?? START_ENTRY;
  return { entry, args: entryArgs(program.entries.get(entry) ?? 'none', arg) };
}

/** Runs `spawn`; past a process or memory limit, a NOMEM error (wasm gets -LUNATIC_ENOMEM). */
function asNoMemory<T>(spawn: () => T): T {
  try {
    return spawn();
  } catch (error) {
    if (error instanceof ProcessLimitError) throw new LunaticError(Errno.NOMEM, error.message);
    throw error;
  }
}

/** INVAL (in the parent, before anything starts) for an entry or table index that cannot start a process. */
function checkSpawnable(program: Program, options: StartOptions): void {
  const { tableIndex, entry = START_ENTRY } = options;
  if (tableIndex === undefined) {
    if (!program.entries.has(entry))
      throw new LunaticError(Errno.INVAL, `the module exports no function "${entry}" taking nothing, an i32 or an i64`);
  } else if (!program.tableEntries) {
    throw new LunaticError(
      Errno.INVAL,
      `the module does not export ${TABLE_ENTRY_EXPORT}(i32, i64), which spawning a function pointer needs (include lunatic.h, or use the lunatic-instrument crate)`,
    );
  } else if (!program.tableEntries.has(tableIndex)) {
    throw new LunaticError(Errno.INVAL, `table entry ${tableIndex} is not a function taking an i64 and returning nothing`);
  }
}

/** Pages the program uses (without the host's reserved tail); 0 before it is instantiated or after it ended. */
function programPages(process: LunaticProcess): number {
  try {
    const memory = process.memory?.();
    return memory ? memory.buffer.byteLength / PAGE_BYTES - process.program.reservedPages : 0;
  } catch {
    return 0; // no instance (yet, or any more)
  }
}
