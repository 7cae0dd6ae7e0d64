// Third-party programs run again and again in one process, as a server runs one process per
// request: the instrumented program (default build) as processes of one Runtime, one after the
// other, beside the uninstrumented program under node:wasi, a fresh instance each time, in the same
// child. The first runs are mostly V8 compiling the module (lazily, function by function, then
// optimizing the hot ones); the later ones show what the code itself costs. A process that fails
// (a trap, a stack overflow) is counted and left out of the times. The same processes once more
// in a Runtime as `run` makes it (eventLoopIdle), beside a process that waits meanwhile, as a
// parent waits for its child: each is then the only runnable process and keeps the CPU.
//   npm run bench:repeat -- [--runs N] [--only quickjs,sqlite]
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { instrument } from '../src/index.js';
import { Pending, Runtime } from '../src/runtime/index.js';
import { prepareEngine } from '../src/runtime/node/engine.js';
import { onlyStdioOnEventLoop } from '../src/runtime/node/event-loop.js';
import { CollectedOutput, wasiPreview1 } from '../src/runtime/wasi/index.js';
import { loadWabt } from '../src/wabt.js';
import { formatRatio, table } from './format.js';
import { cli, workDir } from './paths.js';
import { median } from './stats.js';
import { thirdPartyPrograms } from './third-party.js';

const DEFAULT_RUNS = 8;

class ProgramExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

const devNull = openSync('/dev/null', 'w');

/** One run of the uninstrumented program under node:wasi, in a fresh instance; its stdout discarded. */
function plainRun(module: WebAssembly.Module, name: string): number {
  const start = performance.now();
  const wasi = new WASI({ version: 'preview1', args: [name], env: {}, stdout: devNull });
  const imports = wasi.getImportObject() as { wasi_snapshot_preview1: WebAssembly.ModuleImports } & WebAssembly.Imports;
  imports.wasi_snapshot_preview1.proc_exit = (code: number) => {
    throw new ProgramExit(code);
  };
  const instance = new WebAssembly.Instance(module, imports); // synchronously, as the Runtime does (bench/driver.ts says why)
  try {
    wasi.start(instance);
  } catch (error) {
    if (!(error instanceof ProgramExit) || error.code !== 0) throw error;
  }
  return performance.now() - start;
}

/** One process of the instrumented program in `runtime`, and why it failed if it did not exit with 0. */
async function runtimeRun(runtime: Runtime, bytes: Uint8Array, name: string): Promise<{ ms: number; failure?: string }> {
  const start = performance.now();
  const process = runtime.spawn(bytes, {
    hostModules: [wasiPreview1({ args: [name], env: {}, preopens: [], stdout: new CollectedOutput(), stderr: new CollectedOutput() })],
  });
  const status = await process.exited;
  const ms = performance.now() - start;
  if (status.code === 0) return { ms };
  return { ms, failure: status.trap ? `${status.trap.message} (in ${status.trap.functions[0] ?? '?'})` : `exit ${status.code}` };
}

/** Waits once on env.wait, which the bench settles when the series is over. */
const WAITER_WAT = `(module
  (import "env" "wait" (func $wait (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $wait))))`;

/** A Runtime as `run` makes it, holding a process that waits until `release`. */
async function besideAWaiter(): Promise<{ runtime: Runtime; release: () => Promise<void> }> {
  const parsed = (await loadWabt()).parseWat('waiter.wat', WAITER_WAT);
  let binary: Uint8Array;
  try {
    ({ binary } = await instrument(parsed.toBinary({}).buffer, { blockingImports: ['env.wait'] }));
  } finally {
    parsed.destroy();
  }
  const runtime = new Runtime({ backend: 'asyncify', eventLoopIdle: onlyStdioOnEventLoop });
  const pending = new Pending<number>();
  const waiter = runtime.spawn(binary, { blockingImports: ['env.wait'], hostModules: [() => ({ env: { wait: () => pending } })] });
  while (waiter.state !== 'waiting') await new Promise((resolve) => setTimeout(resolve, 1));
  return {
    runtime,
    release: async () => {
      pending.resolve(0);
      await waiter.exited;
    },
  };
}

/** `runs` processes of the program in `runtime`, one after the other: the times of those that exited with 0, and the failures. */
async function processSeries(runtime: Runtime, bytes: Uint8Array, name: string, runs: number) {
  const times: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await runtimeRun(runtime, bytes, name);
    if (run.failure) failures.push(`process ${i + 1}: ${run.failure}`);
    else times.push(run.ms);
  }
  return { times, failures };
}

function parseArgs(argv: string[]): { runs: number; only?: string[] } {
  let runs = DEFAULT_RUNS;
  let only: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') runs = Number(argv[++i]);
    else if (argv[i] === '--only') only = argv[++i]!.split(',');
    else throw new Error(`unknown argument ${argv[i]} (known: --runs N, --only a,b)`);
  }
  if (!(Number.isInteger(runs) && runs >= 2)) throw new Error('--runs must be a whole number, 2 or more');
  return { runs, ...(only ? { only } : {}) };
}

const steady = (times: number[]): number => median(times.slice(Math.floor(times.length / 2)));
const series = (times: number[]): string => times.map((ms) => Math.round(ms)).join(', ');

async function main(): Promise<void> {
  const { runs, only } = parseArgs(process.argv.slice(2));
  prepareEngine(); // as the package's Node entry does for its users
  const { programs, skipped } = thirdPartyPrograms();
  for (const reason of skipped) console.log(`skipped: ${reason}`);
  const outDir = join(workDir, 'repeat');
  mkdirSync(outDir, { recursive: true });
  const rows: string[][] = [];
  for (const program of programs.filter((p) => !only || only.includes(p.name))) {
    const instrumented = join(outDir, `${program.name}.wasm`);
    console.log(`${program.name}: instrumenting`);
    execFileSync(process.execPath, [cli, program.wasm, '-o', instrumented, '--quiet'], { stdio: ['ignore', 'ignore', 'ignore'] });
    const module = await WebAssembly.compile(readFileSync(program.wasm));
    const plain: number[] = [];
    for (let i = 0; i < runs; i++) plain.push(plainRun(module, program.name));
    const bytes = readFileSync(instrumented);
    const { times: ours, failures } = await processSeries(new Runtime({ backend: 'asyncify' }), bytes, program.name, runs);
    const beside = await besideAWaiter();
    const held = await processSeries(beside.runtime, bytes, program.name, runs);
    await beside.release();
    failures.push(...held.failures.map((failure) => `beside a waiter, ${failure}`));
    console.log(`${program.name}: node:wasi ${series(plain)} ms; runtime ${series(ours)} ms; beside a waiter ${series(held.times)} ms`);
    for (const failure of failures) console.log(`${program.name}: FAILED ${failure}`);
    const firstAndLater = (times: number[]) =>
      times.length
        ? `${Math.round(times[0]!)} / ${Math.round(steady(times))} ms (${formatRatio(times[0]! / plain[0]!)} / ${formatRatio(steady(times) / steady(plain))})`
        : 'all failed';
    // its first process finds the module compiled by the series before: only its later ones compare
    const later = (times: number[]) =>
      times.length ? `${Math.round(steady(times))} ms (${formatRatio(steady(times) / steady(plain))})` : 'all failed';
    rows.push([
      program.name,
      `${Math.round(plain[0]!)} / ${Math.round(steady(plain))} ms`,
      firstAndLater(ours),
      later(held.times),
      String(failures.length),
    ]);
  }
  console.log('');
  console.log(`${runs} runs each; load average ${loadavg()[0]!.toFixed(1)}; Node ${process.version}`);
  console.log('');
  console.log(
    table(
      [
        'Program',
        'node:wasi, first / later runs (later: median of the last half)',
        'Runtime, first / later processes (ratios)',
        'later processes beside a waiting process, as `run` makes the Runtime (ratio)',
        'failed',
      ],
      rows,
    ),
  );
}

await main();
