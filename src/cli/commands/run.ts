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
import { basename } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { InputError, messageOf, UsageError } from '../../errors.js';
import { instrument } from '../../instrument.js';
import { type InstrumentInfo, readInstrumentSection } from '../../section.js';
import { readModuleFile } from '../../wasm-io.js';
import { nodeDirectory } from '../../runtime/node/fs.js';
import { processStdio } from '../../runtime/node/stdio.js';
import {
  DEFAULT_HIBERNATE_AFTER_MS,
  DEFAULT_MAX_INSTANCES,
  DEFAULT_MAX_PROCESSES,
  DEFAULT_REDUCTIONS,
  type ExitStatus,
  Runtime,
} from '../../runtime/index.js';
import { type BackendChoice, type BackendName, chooseBackend } from '../../runtime/suspend.js';
import { MAY_WAIT_IMPORTS, wasiPreview1 } from '../../runtime/wasi/index.js';
import { grantedPermissions, Lunatic, LunaticError, type LunaticProcess, type Permissions } from '../../runtime/lunatic/index.js';
import { NodeNetwork } from '../../runtime/node/net.js';
import { checkClusterArgs, type ClusterArgs, clusterOptions, joinClusterFromArgs } from '../cluster.js';

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
}

interface Preopen {
  host: string;
  guest: string;
}

/** `HOST` or `HOST::GUEST`; the guest path defaults to the host path as written. */
function parseDir(spec: string): Preopen {
  const [host, guest, extra] = spec.split('::');
  if (!host || guest === '' || extra !== undefined) throw new UsageError(`--dir ${spec}: expected HOST or HOST::GUEST`);
  return { host, guest: guest ?? host };
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
        describe: `most processes in wasm instances at once; past it the oldest waiting ones hibernate (default ${DEFAULT_MAX_INSTANCES})`,
        type: 'number',
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

async function compile(runtime: Runtime, program: string, bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await runtime.compile(bytes);
  } catch (error) {
    throw new InputError(`${program}: not a valid WebAssembly module: ${messageOf(error)}`);
  }
}

async function preopens(specs: string[]) {
  return Promise.all(
    specs.map(parseDir).map(async ({ host, guest }) => {
      try {
        return { guestPath: guest, dir: await nodeDirectory(host) };
      } catch (error) {
        throw new InputError(`--dir ${host}: ${messageOf(error).replace(`${host}: `, '')}`);
      }
    }),
  );
}

/** Resolves once everything written to `stream` so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

function reportCrash(what: string, trap: { message: string; functions: string[] }): void {
  const stack = trap.functions.map((name) => `\n    at ${name}`).join('');
  process.stderr.write(`lunatic-instrument: ${what} crashed: ${trap.message}${stack}\n`);
}

function reportChildCrash(child: LunaticProcess): void {
  child.onEnd((status) => status.trap && reportCrash(`process ${child.pid}`, status.trap));
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

async function handler(argv: ArgumentsCamelCase<RunArgs>): Promise<void> {
  // JSPI processes cannot hibernate: asking for hibernation makes `auto` pick Asyncify
  const { bytes, backend } = await prepare(argv.program, argv.hibernate && argv.backend === 'auto' ? 'auto-asyncify' : argv.backend);
  const runtime = new Runtime({
    backend,
    reductions: argv.reductions,
    maxProcesses: argv.maxProcesses,
    hibernate: argv.hibernate,
    hibernateAfterMs: argv.hibernateAfter,
    maxInstances: argv.maxInstances,
  });
  const module = await compile(runtime, argv.program, bytes);
  const wasiOptions = { args: [basename(argv.program), ...programArgs(argv)], env: parseEnv(argv.env), ...processStdio() };
  const preopened = await preopens(argv.dir);
  const lunatic = new Lunatic({
    core: runtime,
    network: new NodeNetwork(),
    reductions: argv.reductions ?? DEFAULT_REDUCTIONS,
    blockingImports: [...MAY_WAIT_IMPORTS],
    // each process sees the directories its permissions keep
    hostModules: ({ dirs }) => [wasiPreview1({ ...wasiOptions, preopens: preopened.filter(({ guestPath }) => guestPath in dirs) })],
    onSpawn: reportChildCrash,
  });
  const cluster = await joinClusterFromArgs(lunatic, argv, permissionsOf(argv), reportChildCrash);
  const status = await lunatic.start(lunatic.program(bytes, module), { permissions: permissionsOf(argv) }).exited;
  const code = exitCodeOf(argv.program, status);
  await cluster?.close();
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
