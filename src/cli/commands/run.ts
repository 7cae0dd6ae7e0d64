// `lunatic-instrument run prog.wasm [--dir HOST[::GUEST]]... [--env K=V]... [--reductions N]
// [--backend auto|asyncify|jspi] [-- args...]`: runs a WASI command as a lunatic process with the
// real stdin, stdout and stderr, and exits with its exit code. A module without the
// `lunatic.instrument` section is instrumented in memory first (on JSPI without Asyncify: only
// the reduction checks are needed there). A crash prints the trap and the wasm functions on the
// stack and exits with TRAP_EXIT_CODE, 134, as a process killed by SIGABRT would.
// The program is the first process of the lunatic process API (src/runtime/lunatic): the
// --allow-listen/--allow-connect/--no-spawn/--max-*/--mailbox flags are its permissions, which
// the processes it spawns inherit or narrow; a spawned process's crash is reported, not fatal.
// --node NAME --nats URL join a cluster of nodes first (src/cli/cluster.ts).
import { availableParallelism } from 'node:os';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { InputError, messageOf, UsageError } from '../../errors.js';
import { instrument } from '../../instrument.js';
import { type InstrumentInfo, readInstrumentSection } from '../../section.js';
import { readModuleFile } from '../../wasm-io.js';
import {
  DEFAULT_HIBERNATE_AFTER_MS,
  DEFAULT_MAX_INSTANCES,
  DEFAULT_MAX_PROCESSES,
  type ExitStatus,
  type Runtime,
} from '../../runtime/index.js';
import { type BackendChoice, type BackendName, chooseBackend } from '../../runtime/suspend.js';
import { MAY_WAIT_IMPORTS } from '../../runtime/wasi/index.js';
import { grantedPermissions, type Lunatic, LunaticError, type Permissions, type Program } from '../../runtime/lunatic/index.js';
import { avoidEngineBugs } from '../../runtime/node/engine.js';
import { WorkerThreads } from '../../runtime/node/worker-threads.js';
import { createSharedMemory, MAX_THREADS } from '../../runtime/threads/shared.js';
import { ThreadPeers } from '../../runtime/threads/threads.js';
import { checkClusterArgs, type ClusterArgs, clusterOptions, joinClusterFromArgs } from '../cluster.js';
import type { ThreadWorkerData } from '../thread-worker.js';
import { buildWorld, parseDir, reportChildCrash, reportCrash, type WorldConfig } from '../world.js';

/** The exit code of a program that crashed (trap, host error, failure to start). */
export const TRAP_EXIT_CODE = 134;

interface RunArgs extends ClusterArgs {
  program: string;
  args: string[];
  dir: string[];
  env: string[];
  reductions?: number;
  backend: BackendChoice;
  // lunatic permissions of the program (src/runtime/lunatic/permissions.ts)
  allowListen: string[];
  allowConnect: string[];
  spawn: boolean;
  maxMemory?: number;
  maxReductions?: number;
  mailbox?: number;
  maxProcesses?: number;
  hibernate?: boolean;
  hibernateAfter?: number;
  maxInstances?: number;
  threads?: number;
  move: boolean;
}

function parseEnv(specs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const spec of specs) {
    const equals = spec.indexOf('=');
    if (equals < 1) throw new UsageError(`--env ${spec}: expected NAME=VALUE`);
    env[spec.slice(0, equals)] = spec.slice(equals + 1);
  }
  return env;
}

function builder(yargs: Argv): Argv<RunArgs> {
  return (
    clusterOptions(yargs)
      .positional('program', {
        describe: 'the WASI command to run (.wasm or .wat; instrumented in memory when it is not yet)',
        type: 'string',
        demandOption: true,
      })
      .positional('args', { describe: 'arguments for the program (after --)', type: 'string', array: true, default: [] as string[] })
      .option('dir', {
        describe: 'preopen a host directory, as HOST or HOST::GUEST (repeatable)',
        type: 'string',
        array: true,
        default: [] as string[],
      })
      .option('env', {
        describe: 'an environment variable NAME=VALUE for the program (repeatable)',
        type: 'string',
        array: true,
        default: [] as string[],
      })
      .option('reductions', { describe: 'time slice in reductions (about instructions) before a process yields', type: 'number' })
      .option('backend', {
        describe: 'how processes suspend: JSPI when the engine has it (auto), or Asyncify',
        choices: ['auto', 'asyncify', 'jspi'] as const,
        default: 'auto' as const,
      })
      // lunatic permissions of the program; the processes it spawns get the same or narrower ones
      .option('allow-listen', {
        describe: 'host:port patterns processes may listen on, e.g. 127.0.0.1:0 (any free port), 127.0.0.1:* (repeatable)',
        type: 'string',
        array: true,
        default: [] as string[],
      })
      .option('allow-connect', {
        describe: 'host:port patterns processes may connect to (repeatable)',
        type: 'string',
        array: true,
        default: [] as string[],
      })
      .option('spawn', { describe: 'processes may spawn processes (--no-spawn denies it)', type: 'boolean', default: true })
      .option('max-memory', { describe: 'most 64 KiB memory pages a process may use', type: 'number' })
      .option('max-reductions', { describe: 'most reductions a process may spend in its whole life', type: 'number' })
      .option('mailbox', { describe: 'most messages waiting in a process mailbox (default 1024)', type: 'number' })
      .option('max-processes', {
        describe: `most processes alive at once; a spawn beyond it returns -LUNATIC_ENOMEM (default ${DEFAULT_MAX_PROCESSES})`,
        type: 'number',
      })
      .option('hibernate', {
        describe:
          'hibernate waiting processes: default on for Asyncify processes; --hibernate also makes --backend auto pick Asyncify, --no-hibernate turns it off',
        type: 'boolean',
      })
      .option('hibernate-after', {
        describe: `a process waiting this many milliseconds hibernates (default ${DEFAULT_HIBERNATE_AFTER_MS})`,
        type: 'number',
      })
      .option('max-instances', {
        describe: `most processes in wasm instances at once, per thread; past it the oldest waiting ones hibernate (default ${DEFAULT_MAX_INSTANCES})`,
        type: 'number',
      })
      .option('threads', {
        describe: `threads the processes run on (worker_threads, started on first use; default: the machine's cores; 1: one event loop)`,
        type: 'number',
      })
      .option('move', {
        describe:
          'move runnable processes from a busy thread to one with less to run (processes not started yet, and Asyncify processes preempted at the end of a slice); --no-move: they stay where they were placed',
        type: 'boolean',
        default: true,
      })
      .check((argv) => checkArgs(argv as unknown as RunArgs)) as unknown as Argv<RunArgs>
  );
}

function checkArgs(argv: RunArgs): true {
  const { reductions } = argv;
  if (reductions !== undefined && (!Number.isInteger(reductions) || reductions < 1 || reductions > 0x7fffffff)) {
    throw new UsageError('--reductions must be a whole number from 1 to 2147483647');
  }
  const { maxProcesses, maxInstances, hibernateAfter } = argv;
  if (maxProcesses !== undefined && (!Number.isInteger(maxProcesses) || maxProcesses < 1))
    throw new UsageError('--max-processes must be a whole number of 1 or more');
  if (maxInstances !== undefined && (!Number.isInteger(maxInstances) || maxInstances < 1))
    throw new UsageError('--max-instances must be a whole number of 1 or more');
  if (hibernateAfter !== undefined && !(hibernateAfter >= 0))
    throw new UsageError('--hibernate-after must be a number of milliseconds, 0 or more');
  const { threads } = argv;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS))
    throw new UsageError(`--threads must be a whole number from 1 to ${MAX_THREADS}`);
  if (threads !== undefined && threads > 1 && argv.node !== undefined)
    throw new UsageError('--threads above 1 with --node: a cluster node runs on one thread (use --threads 1)');
  argv.dir.forEach(parseDir);
  parseEnv(argv.env);
  permissionsOf(argv);
  checkClusterArgs(argv);
  return true;
}

function permissionsOf(argv: RunArgs): Permissions {
  const dirs = Object.fromEntries(argv.dir.map(parseDir).map(({ host, guest }) => [guest, host]));
  const grants = {
    listen: argv.allowListen,
    connect: argv.allowConnect,
    spawn: argv.spawn,
    dirs,
    maxMemoryPages: argv.maxMemory,
    maxReductions: argv.maxReductions,
    mailboxCapacity: argv.mailbox,
  };
  try {
    return grantedPermissions(grants);
  } catch (error) {
    if (error instanceof LunaticError) throw new UsageError(error.message);
    throw error;
  }
}

function sectionOf(program: string, bytes: Uint8Array): InstrumentInfo | undefined {
  try {
    return readInstrumentSection(bytes);
  } catch (error) {
    throw new InputError(`${program} ${messageOf(error)}`); // binary.ts messages read "<file> is not ..."
  }
}

/** The module ready for the backend: instrumented in memory when it was not, with WASI's waiting calls as blocking. */
async function prepare(program: string, choice: BackendChoice): Promise<{ bytes: Uint8Array; backend: BackendName }> {
  const bytes = await readModuleFile(program);
  const info = sectionOf(program, bytes);
  let backend: BackendName;
  try {
    backend = chooseBackend(choice, info ?? { asyncify: true });
  } catch (error) {
    throw new InputError(`${program}: ${messageOf(error)}`);
  }
  if (info) return { bytes, backend };
  const { binary } = await instrument(bytes, {
    fileName: program,
    asyncify: backend === 'asyncify',
    blockingImports: [...MAY_WAIT_IMPORTS],
  });
  return { bytes: binary, backend };
}

async function compile(program: string, bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new InputError(`${program}: not a valid WebAssembly module: ${messageOf(error)}`);
  }
}

/** Resolves once everything written to `stream` so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

function exitCodeOf(program: string, status: ExitStatus): number {
  if (status.code !== undefined) return status.code;
  reportCrash(program, status.trap ?? { message: 'killed', functions: [] });
  return TRAP_EXIT_CODE;
}

/** The program's arguments: positional ones and everything after `--` (which yargs leaves in `_`, after the command). */
function programArgs(argv: ArgumentsCamelCase<RunArgs>): string[] {
  return [...argv.args, ...argv._.slice(1)].map(String);
}

/** --threads, or the machine's cores (one thread for a cluster node). */
function threadCount(argv: RunArgs): number {
  if (argv.threads !== undefined) return argv.threads;
  return argv.node === undefined ? Math.min(availableParallelism(), MAX_THREADS) : 1;
}

/**
 * Runs the world as thread 0 of `threads`: the other threads are workers (thread-worker.ts),
 * started when the first process is placed on each. Returns them, for shutdown.
 */
function spreadOverThreads(
  world: { runtime: Runtime; lunatic: Lunatic },
  program: Program,
  config: WorldConfig,
  threads: number,
): WorkerThreads {
  const memory = createSharedMemory(threads);
  const workers = new WorkerThreads({
    entry: new URL('../thread-worker.js', import.meta.url),
    data: (index): ThreadWorkerData => ({ index, memory, config, module: program.module, bytes: program.bytes! }),
    onFailure: (index, error) => {
      process.stderr.write(`lunatic-instrument: thread ${index} failed: ${error.message}\n`);
      process.exit(TRAP_EXIT_CODE);
    },
  });
  const maxProcesses = config.maxProcesses ?? DEFAULT_MAX_PROCESSES;
  const { runtime, lunatic } = world;
  const runnable = () => runtime.runnable;
  const { moves } = config;
  new ThreadPeers({
    index: 0,
    memory,
    world: lunatic,
    program,
    ensureStarted: workers.ensureStarted,
    maxProcesses,
    runnable,
    moves,
  }).listen();
  return workers;
}

async function handler(argv: ArgumentsCamelCase<RunArgs>): Promise<void> {
  avoidEngineBugs();
  // JSPI processes cannot hibernate: asking for hibernation makes `auto` pick Asyncify
  const { bytes, backend } = await prepare(argv.program, argv.hibernate && argv.backend === 'auto' ? 'auto-asyncify' : argv.backend);
  const module = await compile(argv.program, bytes);
  const config: WorldConfig = {
    program: argv.program,
    args: programArgs(argv),
    env: parseEnv(argv.env),
    dirs: argv.dir,
    backend,
    reductions: argv.reductions,
    maxProcesses: argv.maxProcesses,
    hibernate: argv.hibernate,
    hibernateAfterMs: argv.hibernateAfter,
    maxInstances: argv.maxInstances,
    moves: argv.move,
  };
  const world = await buildWorld(config);
  const { lunatic } = world;
  const program = lunatic.program(bytes, module);
  const threads = threadCount(argv);
  const workers = threads > 1 ? spreadOverThreads(world, program, config, threads) : undefined;
  const cluster = await joinClusterFromArgs(lunatic, argv, permissionsOf(argv), reportChildCrash);
  const status = await lunatic.start(program, { permissions: permissionsOf(argv) }).exited;
  const code = exitCodeOf(argv.program, status);
  await cluster?.close();
  await workers?.shutdown();
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  // Exit now: a stdin read still pending, or a timer of the program, must not keep Node alive.
  process.exit(code);
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <program> [args..]',
  describe: 'Run a WASI command as a lunatic process (instrumenting it in memory when needed)',
  builder,
  handler,
};
