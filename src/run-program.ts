// Runs a WASI command as the first lunatic process of a runtime on this machine's cores, with
// this OS process's stdin, stdout and stderr: what `lunatic-instrument run` does, as a library
// call (`runProgram`). A module without the `lunatic.instrument` section is instrumented in
// memory first (on JSPI without Asyncify: only the reduction checks are needed there) and kept
// in a cache on disk for the next run (src/instrument-cache.ts). On more than one thread the
// others are worker_threads (src/runtime/node/thread-worker.ts, each building its world as this
// thread does, src/runtime/node/world.ts), started when the first process is placed on each and
// stopped, their output flushed, before the run's promise settles. A worker that fails outside
// any process (a bug of the runtime) ends this OS process with TRAP_EXIT_CODE: its processes are
// gone unannounced.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { codeBytes } from './binary.js';
import { instrumentOnThreadIfNeeded } from './instrument-thread.js';
import { InputError, messageOf, UsageError } from './errors.js';
import { defaultCacheDir, InstrumentCache } from './instrument-cache.js';
import type { ExitStatus } from './runtime/index.js';
import { MemoryShare } from './runtime/memory-limit.js';
import { type Grants, grantedPermissions, type Lunatic, LunaticError, type Permissions, type Program } from './runtime/lunatic/index.js';
import { prepareEngine } from './runtime/node/engine.js';
import { onlyStdioAndThreadPortsOnEventLoop, onlyStdioOnEventLoop } from './runtime/node/event-loop.js';
import { stdioFlushed } from './runtime/node/stdio.js';
import type { ThreadWorkerData } from './runtime/node/thread-worker.js';
import { WorkerThreads } from './runtime/node/worker-threads.js';
import { buildWorld, parseDir, type WorldConfig } from './runtime/node/world.js';
import { type BackendChoice, type BackendName, chooseBackend } from './runtime/suspend.js';
import { createSharedMemory, MAX_THREADS } from './runtime/threads/shared.js';
import { ThreadPeers } from './runtime/threads/threads.js';
import { MAY_WAIT_IMPORTS } from './runtime/wasi/index.js';
import { type InstrumentInfo, readInstrumentSection } from './section.js';
import { readModuleFile } from './wasm-io.js';

/** The exit code of a program that crashed (trap, host error, failure to start), as SIGABRT gives. */
export const TRAP_EXIT_CODE = 134;

/**
 * Past this much code an Asyncify program's only runnable process keeps the CPU on an idle event
 * loop; a smaller one is suspended every batch as when others run. A suspension costs a large
 * program dearly the first time, when V8 compiles the rewind copies on its stack: suspending every
 * few milliseconds made the whole run of Eigen+JSON (0.9 MB of code) and SQLite (5.5 MB) 1.5-2x
 * longer. A small one pays microseconds and gains: V8 replaces no running wasm frame with
 * optimized code (no on-stack replacement), but a resume calls the rewind copies afresh, so a call
 * that loops for long goes on in optimized code after a suspension (a tight loop in one call:
 * 0.42 s suspended every batch, 0.76 s kept on the CPU, as long as under plain node:wasi). On JSPI
 * a resume calls nothing again: there it always keeps the CPU.
 */
export const KEEP_CPU_ABOVE_CODE_BYTES = 512 * 1024;

/** Whether the only runnable process keeps the CPU on an idle event loop, by default (RunProgramOptions.keepCpuOnIdleLoop). */
export function keepsCpuOnIdleLoop(backend: BackendName, bytes: Uint8Array): boolean {
  return backend !== 'asyncify' || (codeBytes(bytes) ?? 0) > KEEP_CPU_ABOVE_CODE_BYTES;
}

export interface RunProgramOptions {
  /** The program's arguments (after its name). */
  args?: string[];
  env?: Record<string, string>;
  /** Host directories to preopen, as HOST or HOST::GUEST. */
  dirs?: string[];
  /** What the first process may do (listen, connect, spawn, limits); its children inherit or narrow it. */
  grants?: Omit<Grants, 'dirs'>;
  /** How processes suspend (default `auto`: JSPI when the engine has it). */
  backend?: BackendChoice;
  /** Threads the processes run on (default: the machine's cores, at most MAX_THREADS; 1: one event loop). */
  threads?: number;
  /** Runnable processes move from busy threads to idle ones (default true). */
  moves?: boolean;
  reductions?: number;
  maxProcesses?: number;
  hibernate?: boolean;
  hibernateAfterMs?: number;
  maxInstances?: number;
  /**
   * The only runnable process keeps the CPU past its batch while the event loop has nothing to do
   * (RuntimeOptions.eventLoopIdle). Default: on JSPI, and on Asyncify for a program of more than
   * KEEP_CPU_ABOVE_CODE_BYTES of code.
   */
  keepCpuOnIdleLoop?: boolean;
  /**
   * Where a module instrumented in memory is kept for the next run of the same program
   * (src/instrument-cache.ts). Default: defaultCacheDir() (LUNATIC_CACHE_DIR, else
   * $XDG_CACHE_HOME/lunatic-instrument or ~/.cache/lunatic-instrument); false: no cache.
   */
  cacheDir?: string | false;
  /** Called with the main thread's world before the program starts (the CLI joins a cluster there). */
  beforeStart?: (world: Lunatic) => void | Promise<void>;
}

/** The first process's permissions: `grants`, and the guest paths of `dirs`. Throws UsageError on a bad pattern, limit or dir. */
export function programPermissions(options: Pick<RunProgramOptions, 'grants' | 'dirs'>): Permissions {
  const dirs = Object.fromEntries((options.dirs ?? []).map(parseDir).map(({ host, guest }) => [guest, host]));
  try {
    return grantedPermissions({ ...options.grants, dirs });
  } catch (error) {
    if (error instanceof LunaticError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Runs `program` (.wasm or .wat) to its end on `threads` threads and resolves with how it ended,
 * once every thread stopped and the output is flushed. Bad input rejects with InputError, bad
 * options with UsageError.
 */
export async function runProgram(program: string, options: RunProgramOptions = {}): Promise<ExitStatus> {
  prepareEngine();
  const threads = options.threads ?? Math.min(availableParallelism(), MAX_THREADS);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)
    throw new UsageError(`threads must be a whole number from 1 to ${MAX_THREADS}`);
  const permissions = programPermissions(options);
  // JSPI processes cannot hibernate: asking for hibernation makes `auto` pick Asyncify
  const choice = options.backend ?? 'auto';
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir || undefined;
  const { bytes, module, backend } = await prepare(program, options.hibernate && choice === 'auto' ? 'auto-asyncify' : choice, cacheDir);
  const config: WorldConfig = {
    program,
    args: options.args ?? [],
    env: options.env ?? {},
    dirs: options.dirs ?? [],
    backend,
    reductions: options.reductions,
    maxProcesses: options.maxProcesses,
    hibernate: options.hibernate,
    hibernateAfterMs: options.hibernateAfterMs,
    maxInstances: options.maxInstances,
    moves: options.moves,
    memoryCells: threads > 1 ? MemoryShare.cellsFor(threads) : undefined,
    keepCpuOnIdleLoop: options.keepCpuOnIdleLoop ?? keepsCpuOnIdleLoop(backend, bytes),
  };
  let spread: ReturnType<typeof spreadOverThreads> | undefined;
  // the program owns this event loop: the only runnable process skips the turns that would find
  // nothing to do (and none from the other threads waits in the rings)
  const eventLoopIdle = threads > 1 ? () => spread!.peers.quiet() && onlyStdioAndThreadPortsOnEventLoop() : onlyStdioOnEventLoop;
  const world = await buildWorld(config, eventLoopIdle);
  const lunaticProgram = world.lunatic.program(bytes, module);
  spread = threads > 1 ? spreadOverThreads(world, lunaticProgram, config, threads) : undefined;
  try {
    await options.beforeStart?.(world.lunatic);
    return await world.lunatic.start(lunaticProgram, { permissions }).exited;
  } finally {
    spread?.peers.close(); // before the workers hear it by message: a process keeping the CPU there sees this
    await spread?.workers.shutdown();
    await stdioFlushed();
  }
}

function sectionOf(program: string, bytes: Uint8Array): InstrumentInfo | undefined {
  try {
    return readInstrumentSection(bytes);
  } catch (error) {
    throw new InputError(`${program} ${messageOf(error)}`); // binary.ts messages read "<file> is not ..."
  }
}

interface PreparedModule {
  bytes: Uint8Array;
  module: WebAssembly.Module;
  backend: BackendName;
}

/**
 * The module ready for the backend, compiled: instrumented in memory when it was not, with WASI's
 * waiting calls as blocking, or taken from the cache in `cacheDir` where an earlier run left it.
 */
async function prepare(program: string, choice: BackendChoice, cacheDir: string | undefined): Promise<PreparedModule> {
  const bytes = await readModuleFile(program);
  const info = sectionOf(program, bytes);
  let backend: BackendName;
  try {
    backend = chooseBackend(choice, info ?? { asyncify: true });
  } catch (error) {
    throw new InputError(`${program}: ${messageOf(error)}`);
  }
  if (info) return { bytes, module: await compile(program, bytes), backend };
  const options = { asyncify: backend === 'asyncify', blockingImports: [...MAY_WAIT_IMPORTS] };
  const cache = cacheDir === undefined ? undefined : new InstrumentCache({ dir: cacheDir });
  const key = cache?.key(bytes, options);
  const cached = key === undefined ? undefined : await fromCache(program, cache!, key);
  if (cached) return { ...cached, backend };
  const { binary } = await instrumentOnThreadIfNeeded(bytes, { fileName: program, ...options });
  if (key !== undefined) await cache!.put(key, binary);
  return { bytes: binary, module: await compile(program, binary), backend };
}

/** A cached entry, compiled; an entry that is not an instrumented module, or does not compile, is dropped. */
async function fromCache(program: string, cache: InstrumentCache, key: string): Promise<Omit<PreparedModule, 'backend'> | undefined> {
  const bytes = await cache.get(key);
  if (!bytes) return undefined;
  try {
    if (readInstrumentSection(bytes)) return { bytes, module: await compile(program, bytes) };
  } catch {
    // damaged: instrumented afresh below
  }
  await cache.delete(key);
  return undefined;
}

async function compile(program: string, bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new InputError(`${program}: not a valid WebAssembly module: ${messageOf(error)}`);
  }
}

/**
 * The code of a worker thread: one bundled file when the build made it (scripts/bundle-thread-worker.ts:
 * a worker starts some 50 ms sooner), else the compiled modules.
 */
export function threadWorkerEntry(): URL {
  const bundle = new URL('./runtime/node/thread-worker.bundle.js', import.meta.url);
  return existsSync(bundle) ? bundle : new URL('./runtime/node/thread-worker.js', import.meta.url);
}

/**
 * Runs the world as thread 0 of `threads`: the other threads are workers (thread-worker.ts),
 * started when the first process is placed on each. Returns them and this thread's peers, for
 * the scheduler and the shutdown.
 */
function spreadOverThreads(
  world: Awaited<ReturnType<typeof buildWorld>>,
  program: Program,
  config: WorldConfig,
  threads: number,
): { workers: WorkerThreads; peers: ThreadPeers } {
  const memory = createSharedMemory(threads);
  const workers = new WorkerThreads({
    entry: threadWorkerEntry(),
    data: (index): ThreadWorkerData => ({ index, memory, config, module: program.module, bytes: program.bytes! }),
    onFailure: (index, error) => {
      process.stderr.write(`lunatic-instrument: thread ${index} failed: ${error.message}\n`);
      process.exit(TRAP_EXIT_CODE);
    },
  });
  const { runtime, lunatic } = world;
  // it reads its rings from its first worker's start (ThreadPeers.listen)
  const peers = new ThreadPeers({
    index: 0,
    memory,
    world: lunatic,
    program,
    ensureStarted: workers.ensureStarted,
    maxProcesses: config.maxProcesses,
    runnable: () => runtime.runnable,
    moves: config.moves,
  });
  return { workers, peers };
}
