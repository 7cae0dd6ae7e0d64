// The runtime: spawns processes on one event loop and shares the scheduler between them.
import { blockingImportGlobs } from '../blocking-imports.js';
import { Hibernation } from './hibernation.js';
import { engineMemoryLimit, MemoryShare } from './memory-limit.js';
import { instrumentInfoOf } from './module-info.js';
import { type Departure, Process } from './process.js';
import { DEFAULT_BATCH_MS, Scheduler } from './scheduler.js';
import { type BackendChoice, chooseBackend } from './suspend.js';
import type { HostModule } from './types.js';
import { VesselPool } from './vessel.js';

/**
 * The default time slice in reductions (about one wasm instruction each): about 1 ms of a tight
 * loop (bench/runtime.ts `lateness`: 0.77-0.83 ms per slice on the 2-core development machine,
 * Node 20.20 and 24.21).
 */
export const DEFAULT_REDUCTIONS = 4_000_000;

export interface RuntimeOptions {
  /** The time slice of every process, in reductions (default DEFAULT_REDUCTIONS). */
  reductions?: number;
  /**
   * How long runnable processes run back to back before the event loop gets a turn for timers
   * and I/O, in milliseconds (default DEFAULT_BATCH_MS, 1). Shorter: timers and sockets are
   * served sooner; longer: fewer event-loop turns between message hops.
   */
  batchMs?: number;
  /**
   * Says whether the event loop holds nothing that could wake or serve anyone: no timer,
   * socket, pending request or worker of the runtime's or of its embedder (on Node:
   * `onlyStdioOnEventLoop` of src/runtime/node/event-loop.ts), and no record from another thread
   * waiting to be read. While it does, the only runnable process keeps the CPU past the batch
   * budget (the others wait for messages), sparing a suspension and resume for an event-loop turn
   * with nothing to do (scheduler.ts says which waits the event loop does not show). Default:
   * none (every batch ends with the event loop's turn, for an embedder whose own code must run
   * beside the processes).
   */
  eventLoopIdle?: () => boolean;
  /** `auto` (default): JSPI when the engine has it, else Asyncify. */
  backend?: BackendChoice;
  /** Asyncify: grow every process's reserved tail to at least this many pages before it starts. */
  reservedPages?: number;
  /**
   * Live processes allowed at once (default DEFAULT_MAX_PROCESSES); a spawn beyond it throws
   * ProcessLimitError (from wasm: lunatic_spawn returns -LUNATIC_ENOMEM). Processes that keep
   * their instances are bounded by maxMemories too; with --disable-wasm-trap-handler instances
   * are cheaper but V8 aborts the whole process once it runs out of memory mappings
   * (vm.max_map_count, 65530 by default: between 32k and 40k instances).
   */
  maxProcesses?: number;
  /**
   * Hibernate waiting processes (hibernation.ts): true, false, or undefined (the default: on for
   * processes on Asyncify). `true` also makes the `auto` backend pick Asyncify for modules
   * instrumented with it, since JSPI processes cannot hibernate.
   */
  hibernate?: boolean;
  /** A process waiting this long hibernates (milliseconds, default DEFAULT_HIBERNATE_AFTER_MS). */
  hibernateAfterMs?: number;
  /**
   * Processes in instances at most (default DEFAULT_MAX_INSTANCES): past it the oldest waiting
   * processes hibernate to make room. Without hibernation it has no effect.
   */
  maxInstances?: number;
  /**
   * Idle instances kept per module for new processes however long they stay unused (default
   * DEFAULT_MAX_IDLE_INSTANCES). With hibernation, up to maxInstances are kept, those beyond this
   * until they have gone unused for a second.
   */
  maxIdleInstances?: number;
  /**
   * Wasm memories (instances) this runtime may hold at once (default: what the engine gives one
   * OS process, src/runtime/memory-limit.ts; the runtimes of several threads count them together
   * through `memories`). A spawn of a process that keeps its instance while it lives (JSPI, or without
   * hibernation) is refused past it with ProcessLimitError, and an instance past it is not
   * made: the process does not start. V8 itself would try for minutes before failing.
   */
  maxMemories?: number;
  /** The count of memories shared with the runtimes of the other threads (overrides maxMemories). */
  memories?: MemoryShare;
}

export const DEFAULT_MAX_PROCESSES = 1_000_000;
/**
 * As Phoenix's channels hibernate after 15 s: a process that waits longer is idle, not between
 * two messages of a busy exchange. At 1 s, a ring of 10,000 that took longer than that to spawn
 * hibernated its members, waking each cost more, so each lap took longer than 1 s again.
 */
export const DEFAULT_HIBERNATE_AFTER_MS = 15_000;
/**
 * Well below the ~13,000 memories V8 reserves address space for (Linux x64, default flags): V8's
 * garbage collection slows with every live instance. 100,000 waiting processes (bench/spawns.ts):
 * 7.8 s with 1,000 instances, 9.3 s with 2,000, over 8 minutes (not finished) with 10,000.
 */
export const DEFAULT_MAX_INSTANCES = 1_000;
export const DEFAULT_MAX_IDLE_INSTANCES = 64;
/** Idle instances beyond DEFAULT_MAX_IDLE_INSTANCES unused this long are dropped (their memory is freed at the next collection). */
const IDLE_TRIM_MS = 1000;

/** A spawn beyond RuntimeOptions.maxProcesses (Erlang's system_limit). */
export class ProcessLimitError extends RangeError {
  constructor(
    limit: number,
    message = `too many processes: ${limit} are alive (raise the runtime's maxProcesses option if the system allows more)`,
  ) {
    super(message);
    this.name = 'ProcessLimitError';
  }
}

/** Why a process that would keep an instance is refused past `limit` of them (RuntimeOptions.maxMemories). */
function memoryLimitMessage(limit: number): string {
  return (
    `too many processes: ${limit} hold an instance each, about what this engine's address space gives them ` +
    "(JSPI processes, and Asyncify ones without hibernation, keep theirs while they live): run them on Asyncify with hibernation (the option hibernate, the CLI's --hibernate)"
  );
}

export interface SpawnOptions {
  /** Import providers (WASI, the lunatic API, your own); later ones override earlier ones. `lunatic.yield` is the runtime's own. */
  hostModules?: HostModule[];
  /** The export to run (default `_start`). */
  entry?: string;
  /** The arguments the entry export is called with (default none). WASI argv goes to the WASI host module. */
  args?: unknown[];
  /** For plain modules on JSPI: extra `module.name` globs of imports that may return a Promise. */
  blockingImports?: string[];
  /** Overrides RuntimeOptions.reservedPages for this process. */
  reservedPages?: number;
  /** The pid, when the embedder allocates pids itself (the threads of one runtime share them); default: the next. */
  pid?: number;
}

/** The blocking globs of a spawn that names none: one array, so instances made for it are shared. */
const DEFAULT_GLOBS = blockingImportGlobs();

export class Runtime {
  private readonly scheduler: Scheduler;
  /** The instances, pooled per module (vessel.ts). */
  readonly pool: VesselPool;
  private readonly hibernation: Hibernation | undefined;
  private readonly live = new Set<Process>();
  /** The live processes that keep an instance while they live (they cannot hibernate): RuntimeOptions.maxMemories. */
  private readonly pinned = new Set<Process>();
  /**
   * How many of them may live, on every thread: the memories less the idle instances the pool
   * keeps. Not less maxInstances too: that would cap a JSPI program by an option that does
   * nothing for it, and where hibernating processes crowd the pinned ones out, the pool's own
   * limit still holds.
   */
  private readonly maxPinned: number;
  private readonly memories: MemoryShare;
  private readonly forget = (process: Process) => {
    this.live.delete(process);
    if (this.pinned.delete(process)) this.memories.pinned = this.pinned.size;
    this.scheduler.ended();
  };
  private readonly compiled = new WeakMap<Uint8Array, Promise<WebAssembly.Module>>();
  private nextPid = 1;
  private readonly globs = new WeakMap<readonly string[], readonly string[]>();

  constructor(private readonly options: RuntimeOptions = {}) {
    const { reductions, batchMs, eventLoopIdle } = options;
    if (reductions !== undefined && (!Number.isInteger(reductions) || reductions < 1 || reductions > 0x7fffffff)) {
      throw new RangeError(`reductions must be a whole number from 1 to ${0x7fffffff}, not ${reductions}`);
    }
    if (batchMs !== undefined && !(batchMs >= 0 && batchMs <= 1000))
      throw new RangeError(`batchMs must be from 0 to 1000 milliseconds, not ${batchMs}`);
    this.scheduler = new Scheduler(batchMs ?? DEFAULT_BATCH_MS, eventLoopIdle);
    const afterMs = options.hibernateAfterMs ?? DEFAULT_HIBERNATE_AFTER_MS;
    const maxInstances = options.maxInstances ?? DEFAULT_MAX_INSTANCES;
    const maxIdle = options.maxIdleInstances ?? DEFAULT_MAX_IDLE_INSTANCES;
    if (options.hibernate !== false) this.hibernation = new Hibernation({ afterMs, maxInstances });
    // with hibernation, instances that hibernating processes left wait for the ones that wake
    const maxKept = this.hibernation ? Math.max(maxIdle, maxInstances) : maxIdle;
    this.memories = options.memories ?? new MemoryShare(options.maxMemories ?? engineMemoryLimit());
    this.pool = new VesselPool({ maxIdle, maxKept, trimAfterMs: IDLE_TRIM_MS, memories: this.memories });
    this.maxPinned = Math.max(1, this.memories.limit - maxIdle);
  }

  /** Compiles module bytes once; spawning the same bytes again reuses the module. */
  compile(bytes: Uint8Array): Promise<WebAssembly.Module> {
    let module = this.compiled.get(bytes);
    if (!module) {
      module = WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
      this.compiled.set(bytes, module);
    }
    return module;
  }

  /**
   * Starts a process; it runs once the scheduler gives it a turn. Failures to start show in
   * `exited`; a spawn beyond `maxProcesses` throws ProcessLimitError.
   */
  spawn(module: WebAssembly.Module | Uint8Array, options: SpawnOptions = {}): Process {
    return this.admit(module, options);
  }

  /**
   * Takes in a process that left another thread's runtime (`withdraw` there), under the same
   * pid: it goes on from where it was preempted (or starts, if it had not). Counts against
   * `maxProcesses` as a spawn does.
   */
  adopt(module: WebAssembly.Module, options: SpawnOptions, departure: Departure): Process {
    return this.admit(module, options, departure);
  }

  /**
   * Takes out of the run queue a process that may go on on another thread (`accept` has the last
   * word), and lets it go: forgotten here, with no end. Undefined when none of the last queued can.
   * `due`: the processes the event loop woke may go too (Scheduler.withdraw).
   */
  withdraw(accept: (process: Process) => boolean, due = false): { process: Process; departure: Departure } | undefined {
    let carried: unknown[] | undefined;
    const process = this.scheduler.withdraw((runnable) => {
      const candidate = runnable as Process;
      carried = candidate.departable();
      return carried !== undefined && accept(candidate);
    }, due) as Process | undefined;
    if (!process) return undefined;
    return { process, departure: process.depart(carried!) };
  }

  /**
   * Throws the ProcessLimitError a spawn of `module` would get for want of memories, which every
   * thread counts together: a spawn placed on another thread is checked here first, so its parent
   * gets the error rather than a pid whose process cannot start there.
   */
  checkMemoryRoom(module: WebAssembly.Module): void {
    this.pinnedSpawn(module, this.backend);
  }

  private get backend(): BackendChoice {
    return this.options.backend ?? (this.options.hibernate ? 'auto-asyncify' : 'auto');
  }

  /** Whether a spawn of `module` keeps its instance; throws ProcessLimitError if it would and no memory is left for it. */
  private pinnedSpawn(module: WebAssembly.Module | Uint8Array, backend: BackendChoice): boolean {
    const pinned = this.keepsInstance(module, backend);
    if (pinned && this.memories.totalPinned() >= this.maxPinned)
      throw new ProcessLimitError(this.maxPinned, memoryLimitMessage(this.maxPinned));
    return pinned;
  }

  private admit(module: WebAssembly.Module | Uint8Array, options: SpawnOptions, arriving?: Departure): Process {
    const limit = this.options.maxProcesses ?? DEFAULT_MAX_PROCESSES;
    if (this.live.size >= limit) throw new ProcessLimitError(limit);
    const backend = this.backend;
    const pinned = this.pinnedSpawn(module, backend);
    const process = new Process(
      options.pid ?? this.nextPid++,
      this.scheduler,
      {
        module: module instanceof WebAssembly.Module ? module : this.compile(module),
        hostModules: options.hostModules ?? [],
        backend,
        reductions: this.options.reductions ?? DEFAULT_REDUCTIONS,
        reservedPages: options.reservedPages ?? this.options.reservedPages,
        entry: options.entry ?? '_start',
        args: options.args ?? [],
        blockingImports: this.globsOf(options.blockingImports),
        pool: this.pool,
        hibernation: this.hibernation,
        ended: this.forget,
      },
      arriving,
    );
    this.live.add(process);
    if (pinned) {
      this.pinned.add(process);
      this.memories.pinned = this.pinned.size;
    }
    return process;
  }

  /**
   * Whether a process of `module` keeps its instance while it lives: on JSPI, or where it cannot
   * hibernate (hibernation off, or a module that cannot be reset). Not known for bytes not
   * compiled yet, nor for a backend the engine refuses (the process fails to start then).
   */
  private keepsInstance(module: WebAssembly.Module | Uint8Array, backend: BackendChoice): boolean {
    if (!(module instanceof WebAssembly.Module) || this.memories.limit === Number.POSITIVE_INFINITY) return false;
    const info = instrumentInfoOf(module);
    try {
      return chooseBackend(backend, info) === 'jspi' || !this.hibernation || info?.resettable !== true;
    } catch {
      return false;
    }
  }

  /** The blocking globs of a spawn's list, made once per list (a spawn must not allocate them, and equal lists share instances). */
  private globsOf(listed: readonly string[] | undefined): readonly string[] {
    if (!listed) return DEFAULT_GLOBS;
    let globs = this.globs.get(listed);
    if (!globs) this.globs.set(listed, (globs = blockingImportGlobs(listed)));
    return globs;
  }

  /** How many processes wait for their turn (none: the scheduler is idle). */
  get runnable(): number {
    return this.scheduler.runnable;
  }

  /** Processes that have not ended yet. */
  get processes(): ReadonlySet<Process> {
    return this.live;
  }

  /** How many times processes hibernated since the runtime started. */
  get hibernations(): number {
    return this.hibernation?.count ?? 0;
  }

  /** How many live processes hibernate now. */
  get hibernating(): number {
    let count = 0;
    for (const process of this.live) if (process.isHibernating) count++;
    return count;
  }

  /** Resolves when every process, including those spawned meanwhile, has ended. */
  async waitAll(): Promise<void> {
    while (this.live.size > 0) await Promise.all([...this.live].map((process) => process.exited));
  }
}
