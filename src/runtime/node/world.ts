// The lunatic world of a program run on this machine (runProgram, src/run-program.ts, and so
// `lunatic-instrument run`), built the same way on the main thread and on every worker thread
// (thread-worker.ts) from a configuration that can be posted to a
// worker: a Runtime, WASI with the program's arguments, environment, directories and this
// thread's stdio, TCP, and crash reports of spawned processes on stderr.
import { basename } from 'node:path';
import { InputError, messageOf, UsageError } from '../../errors.js';
import { DEFAULT_REDUCTIONS, Runtime } from '../index.js';
import { Lunatic, type LunaticProcess } from '../lunatic/index.js';
import type { BackendName } from '../suspend.js';
import { MAY_WAIT_IMPORTS, wasiPreview1 } from '../wasi/index.js';
import { engineMemoryLimit, MemoryShare } from '../memory-limit.js';
import { estimateMemoryLimit } from './engine.js';
import { nodeDirectory } from './fs.js';
import { NodeNetwork } from './net.js';
import { processStdio, writeHostStderr } from './stdio.js';

/** What every thread's world is made of (structured-cloneable). */
export interface WorldConfig {
  program: string;
  args: string[];
  env: Record<string, string>;
  /** --dir specs: HOST or HOST::GUEST. */
  dirs: string[];
  backend: BackendName;
  reductions?: number;
  maxProcesses?: number;
  hibernate?: boolean;
  hibernateAfterMs?: number;
  maxInstances?: number;
  /** Runnable processes move from busy threads to idle ones (default true). */
  moves?: boolean;
  /** With several threads: the cells through which they count the OS process's wasm memories together (MemoryShare). */
  memoryCells?: SharedArrayBuffer;
  /** The only runnable process keeps the CPU on an idle event loop (run-program.ts says when). */
  keepCpuOnIdleLoop?: boolean;
}

interface Preopen {
  host: string;
  guest: string;
}

/** `HOST` or `HOST::GUEST`; the guest path defaults to the host path as written. */
export function parseDir(spec: string): Preopen {
  const [host, guest, extra] = spec.split('::');
  if (!host || guest === '' || extra !== undefined) throw new UsageError(`--dir ${spec}: expected HOST or HOST::GUEST`);
  return { host, guest: guest ?? host };
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

export function reportCrash(what: string, trap: { message: string; functions: string[] }): void {
  const stack = trap.functions.map((name) => `\n    at ${name}`).join('');
  writeHostStderr(`lunatic-instrument: ${what} crashed: ${trap.message}${stack}\n`);
}

/** Reports the crash of a process where it ended (a copy that moved to another thread hears of its end there too: it stays quiet). */
export function reportChildCrash(child: LunaticProcess): void {
  child.onEnd((status) => status.trap && !child.departed && reportCrash(`process ${child.pid}`, status.trap));
}

/**
 * This thread's Runtime and lunatic world. `eventLoopIdle`: RuntimeOptions.eventLoopIdle, for a
 * thread whose event loop serves the runtime alone, taken when `keepCpuOnIdleLoop` says so (a
 * function: it stays out of WorldConfig, which is posted to the workers).
 */
export async function buildWorld(
  config: WorldConfig,
  eventLoopIdle?: () => boolean,
  thread = 0,
): Promise<{ runtime: Runtime; lunatic: Lunatic }> {
  const { backend, reductions, maxProcesses, hibernate, hibernateAfterMs, maxInstances } = config;
  estimateMemoryLimit(); // in a worker thread's realm too
  const runtime = new Runtime({
    backend,
    reductions,
    maxProcesses,
    hibernate,
    hibernateAfterMs,
    maxInstances,
    memories: new MemoryShare(engineMemoryLimit(), config.memoryCells, thread),
    eventLoopIdle: config.keepCpuOnIdleLoop ? eventLoopIdle : undefined,
  });
  const wasiOptions = { args: [basename(config.program), ...config.args], env: config.env, ...processStdio() };
  const preopened = await preopens(config.dirs);
  const lunatic = new Lunatic({
    core: runtime,
    network: new NodeNetwork(),
    reductions: reductions ?? DEFAULT_REDUCTIONS,
    blockingImports: [...MAY_WAIT_IMPORTS],
    // each process sees the directories its permissions keep
    hostModules: ({ dirs }) => [wasiPreview1({ ...wasiOptions, preopens: preopened.filter(({ guestPath }) => guestPath in dirs) })],
    onSpawn: reportChildCrash,
  });
  return { runtime, lunatic };
}
