// `lunatic-instrument run prog.wasm [--dir HOST[::GUEST]]... [--env K=V]... [--reductions N]
// [--backend auto|asyncify|jspi] [-- args...]`: runs a WASI command as a lunatic process with the
// real stdin, stdout and stderr, and exits with its exit code. A module without the
// `lunatic.instrument` section is instrumented in memory first (on JSPI without Asyncify: only
// the reduction checks are needed there) and kept in a cache for the next run (--no-cache: not).
// A crash prints the trap and the wasm functions on the stack and exits with TRAP_EXIT_CODE, 134,
// as a process killed by SIGABRT would.
// The program is the first process of the lunatic process API (src/runtime/lunatic): the
// --allow-listen/--allow-connect/--no-spawn/--max-*/--mailbox flags are its permissions, which
// the processes it spawns inherit or narrow; a spawned process's crash is reported, not fatal.
// --node NAME --nats URL join a cluster of nodes first (src/cli/cluster.ts). The run itself is
// the library's runProgram (src/run-program.ts).
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { UsageError } from '../../errors.js';
import { DEFAULT_CACHE_MAX_BYTES } from '../../instrument-cache.js';
import { KEEP_CPU_ABOVE_CODE_BYTES, programPermissions, type RunProgramOptions, runProgram, TRAP_EXIT_CODE } from '../../run-program.js';
import { DEFAULT_HIBERNATE_AFTER_MS, DEFAULT_MAX_INSTANCES, DEFAULT_MAX_PROCESSES, type ExitStatus } from '../../runtime/index.js';
import type { Permissions } from '../../runtime/lunatic/index.js';
import { stdioFlushed } from '../../runtime/node/stdio.js';
import { parseDir, reportChildCrash, reportCrash } from '../../runtime/node/world.js';
import type { BackendChoice } from '../../runtime/suspend.js';
import { MAX_THREADS } from '../../runtime/threads/shared.js';
import { checkClusterArgs, type ClusterArgs, clusterOptions, joinClusterFromArgs } from '../cluster.js';
import { keepBaselineCode } from '../engine-tuning.js';

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
  keepCpu?: boolean;
  cache: boolean;
  tierUp: boolean;
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
      .option('keep-cpu', {
        describe: `the only runnable process goes on past its batch while the event loop has nothing to do, unsuspended; default: with JSPI, and with Asyncify for programs of more than ${KEEP_CPU_ABOVE_CODE_BYTES / 1024} KiB of code (a smaller one is suspended every batch: its resume goes on in optimized code)`,
        type: 'boolean',
      })
      .option('cache', {
        describe: `keep a program instrumented in memory in a cache, so its next run starts at once (in LUNATIC_CACHE_DIR, else $XDG_CACHE_HOME/lunatic-instrument or ~/.cache/lunatic-instrument; least recently used entries past ${DEFAULT_CACHE_MAX_BYTES / 2 ** 30} GiB go); --no-cache: instrument afresh, keep nothing`,
        type: 'boolean',
        default: true,
      })
      .option('tier-up', {
        describe:
          "compile the program's hot functions again, optimized, as V8 does by default; --no-tier-up keeps V8's baseline code: a short command finishes sooner, a long computation runs slower (bench/RESULTS.md)",
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

/** The program's grants from its flags (its --dir guest paths are added by runProgram). */
function grantsOf(argv: RunArgs): RunProgramOptions['grants'] {
  return {
    listen: argv.allowListen,
    connect: argv.allowConnect,
    spawn: argv.spawn,
    maxMemoryPages: argv.maxMemory,
    maxReductions: argv.maxReductions,
    mailboxCapacity: argv.mailbox,
  };
}

function permissionsOf(argv: RunArgs): Permissions {
  return programPermissions({ grants: grantsOf(argv), dirs: argv.dir });
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
function threadCount(argv: RunArgs): number | undefined {
  return argv.threads ?? (argv.node === undefined ? undefined : 1);
}

async function handler(argv: ArgumentsCamelCase<RunArgs>): Promise<void> {
  if (!argv.tierUp) keepBaselineCode(); // before the program is compiled
  let cluster: Awaited<ReturnType<typeof joinClusterFromArgs>>;
  const status = await runProgram(argv.program, {
    args: programArgs(argv),
    env: parseEnv(argv.env),
    dirs: argv.dir,
    grants: grantsOf(argv),
    backend: argv.backend,
    threads: threadCount(argv),
    moves: argv.move,
    ...(argv.keepCpu !== undefined ? { keepCpuOnIdleLoop: argv.keepCpu } : {}),
    ...(argv.cache ? {} : { cacheDir: false as const }),
    reductions: argv.reductions,
    maxProcesses: argv.maxProcesses,
    hibernate: argv.hibernate,
    hibernateAfterMs: argv.hibernateAfter,
    maxInstances: argv.maxInstances,
    beforeStart: async (lunatic) => {
      cluster = await joinClusterFromArgs(lunatic, argv, permissionsOf(argv), reportChildCrash);
    },
  });
  const code = exitCodeOf(argv.program, status);
  await cluster?.close();
  await stdioFlushed();
  // Exit now: a stdin read still pending, or a timer of the program, must not keep Node alive.
  process.exit(code);
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <program> [args..]',
  describe: 'Run a WASI command as a lunatic process (instrumenting it in memory when needed)',
  builder,
  handler,
};
