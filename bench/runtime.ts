// Runtime figures: suspend/resume and yield round trips at stack depth 1, 10, 100 per backend,
// the time slice the default reductions give, processes spawned per second, memory per idle
// process, and the most processes that can sleep at once (and how the next one fails).
//
// Every scenario takes ready module bytes, so the same code runs in-process (Asyncify on this
// Node) and in a Node 24 child for JSPI (`node dist/bench/runtime.js --child`, a JSON task on
// stdin, the result on stdout); the tests of test/runtime-concurrency.test.ts reuse the
// scenarios. Run alone: `npm run build && node dist/bench/runtime.js`.
import { execFileSync, spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  type BackendName,
  DEFAULT_MAX_PROCESSES,
  DEFAULT_REDUCTIONS,
  type ExitStatus,
  type HostModule,
  Runtime,
} from '../src/runtime/index.js';
import { median } from './stats.js';

/** The hand-written modules of the scenarios, as text (compiled and instrumented by prepareModules). */
const WAT = {
  /** Calls the blocking env.nap until it returns 0. */
  napper: `(module
    (import "env" "nap" (func $nap (result i32)))
    (memory (export "memory") 1)
    (func (export "_start") (loop $again (br_if $again (call $nap)))))`,
  /** Returns at once. */
  trivial: `(module (memory (export "memory") 1) (func (export "_start")))`,
  /** A tight loop with no calls: only the reduction checks can preempt it. */
  spinner: (iterations: number) => `(module
    (memory (export "memory") 1)
    (func (export "_start") (local $i i32) (local $s i32)
      (loop $again
        (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 1664525)) (i32.const 1013904223)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const ${iterations}))))
      (if (i32.eqz (local.get $s)) (then unreachable))))`,
  /** Recurses env.depth() frames, then calls env.pause (or lunatic.yield) env.rounds() times. */
  pauser: `(module
    (import "env" "pause" (func $pause))
    (import "lunatic" "yield" (func $yield))
    (import "env" "depth" (func $depth (result i32)))
    (import "env" "rounds" (func $rounds (result i32)))
    (memory (export "memory") 1)
    (func $repeat (param $use_yield i32) (local $n i32)
      (local.set $n (call $rounds))
      (loop $again
        (if (local.get $use_yield) (then (call $yield)) (else (call $pause)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $again (i32.gt_s (local.get $n) (i32.const 0)))))
    (func $dive (param $d i32) (param $use_yield i32) (result i32)
      (if (result i32) (i32.le_u (local.get $d) (i32.const 1))
        (then (call $repeat (local.get $use_yield)) (i32.const 0))
        (else (i32.add (call $dive (i32.sub (local.get $d) (i32.const 1)) (local.get $use_yield)) (local.get $d)))))
    (func (export "pause_loop") (drop (call $dive (call $depth) (i32.const 0))))
    (func (export "yield_loop") (drop (call $dive (call $depth) (i32.const 1)))))`,
};

export type ModuleName = 'napper' | 'trivial' | 'spinner' | 'pauser';
export type Modules = Record<ModuleName, Uint8Array>;

/** Iterations of the spinner: about 2-3 s of spinning on the development machine. */
export const SPINNER_ITERATIONS = 1_000_000_000;

async function watToWasm(text: string): Promise<Uint8Array> {
  const { loadWabt } = await import('../src/wabt.js');
  const module = (await loadWabt()).parseWat('bench.wat', text);
  try {
    module.resolveNames();
    return module.toBinary({ write_debug_names: true }).buffer;
  } finally {
    module.destroy();
  }
}

/**
 * The scenario modules for a backend. Asyncify: instrumented. JSPI: plain, but the spinner gets
 * reduction checks (--no-asyncify), without which nothing could preempt it.
 */
export async function prepareModules(backend: BackendName, spinnerIterations = SPINNER_ITERATIONS): Promise<Modules> {
  const { instrument } = await import('../src/index.js');
  const asyncify = backend === 'asyncify';
  const build = async (text: string, blocking: string[] = []) => {
    const bytes = await watToWasm(text);
    return asyncify ? (await instrument(bytes, { reductions: false, blockingImports: blocking })).binary : bytes;
  };
  const spinner = (await instrument(await watToWasm(WAT.spinner(spinnerIterations)), { asyncify })).binary;
  return {
    napper: await build(WAT.napper, ['env.nap']),
    trivial: await build(WAT.trivial),
    spinner,
    pauser: await build(WAT.pauser, ['env.pause']),
  };
}

const now = () => performance.now();

/** Plain modules on JSPI need to be told which imports may block (instrumented ones say it themselves). */
const BLOCKING = ['env.*'];

/** env.nap for one process: sleeps `ms` each call, `naps` times, recording how late each wake-up was. */
function napHost(naps: number, ms: number, lateness: number[] = []): HostModule {
  return (ctx) => {
    let left = naps;
    return {
      env: {
        nap: async () => {
          if (left-- <= 0) return 0;
          const due = now() + ms;
          await ctx.sleep(ms);
          lateness.push(now() - due);
          return 1;
        },
      },
    };
  };
}

function countOutcomes(statuses: ExitStatus[]): { ok: number; failures: string[] } {
  const failures = statuses.filter((status) => status.code !== 0).map((status) => status.trap?.message ?? JSON.stringify(status));
  return { ok: statuses.length - failures.length, failures: [...new Set(failures)] };
}

export interface SleepersResult {
  processes: number;
  ok: number;
  failures: string[];
  milliseconds: number;
}

/** `processes` processes that each sleep `ms` `naps` times, all at once. */
export async function sleepers(modules: Modules, backend: BackendName, processes = 1000, naps = 5, ms = 100): Promise<SleepersResult> {
  const runtime = new Runtime({ backend });
  const started = now();
  const all = Array.from(
    { length: processes },
    () => runtime.spawn(modules.napper, { hostModules: [napHost(naps, ms)], blockingImports: BLOCKING }).exited,
  );
  const outcome = countOutcomes(await Promise.all(all));
  return { processes, ...outcome, milliseconds: now() - started };
}

export interface LatenessResult {
  /** How late the sleeper's wake-ups were while the spinner ran, in ms. */
  maxLateness: number;
  meanLateness: number;
  medianLateness: number;
  naps: number;
  spinnerMilliseconds: number;
  /** When the sleeper ended, from the start (it should end before the spinner). */
  sleeperMilliseconds: number;
  spinnerYields: number;
  /** Wall time of one time slice of the spinner, in ms. */
  sliceMilliseconds: number;
  statuses: ExitStatus[];
}

/** A spinning process next to one that sleeps 10 ms again and again: how late does the sleeper wake? */
export async function lateness(
  modules: Modules,
  backend: BackendName,
  naps = 40,
  reductions = DEFAULT_REDUCTIONS,
): Promise<LatenessResult> {
  const runtime = new Runtime({ backend, reductions });
  const late: number[] = [];
  const started = now();
  const spinner = runtime.spawn(modules.spinner);
  const spinnerDone = spinner.exited.then((status) => ({ status, ms: now() - started }));
  const sleeper = runtime.spawn(modules.napper, { hostModules: [napHost(naps, 10, late)], blockingImports: BLOCKING });
  const sleeperDone = sleeper.exited.then((status) => ({ status, ms: now() - started }));
  const [slept, spun] = await Promise.all([sleeperDone, spinnerDone]);
  return {
    maxLateness: Math.max(...late),
    meanLateness: late.reduce((a, b) => a + b, 0) / late.length,
    medianLateness: median(late),
    naps: late.length,
    spinnerMilliseconds: spun.ms,
    sleeperMilliseconds: slept.ms,
    spinnerYields: spinner.yields,
    sliceMilliseconds: spun.ms / Math.max(1, spinner.yields),
    statuses: [spun.status, slept.status],
  };
}

/**
 * Microseconds per suspend+resume of a blocking import at `depth` frames (a resolved Promise: no
 * scheduler turn). The median of three measurements after a warm-up: one alone moved by a fifth
 * from one to the next.
 */
export async function suspendRoundTrip(modules: Modules, backend: BackendName, depth: number, rounds = 20_000): Promise<number> {
  const measure = async (count: number) => {
    let first = 0;
    let last = 0;
    let calls = 0;
    const pause = () => {
      last = now();
      if (calls++ === 0) first = last;
      return Promise.resolve();
    };
    await runPauser(modules, backend, 'pause_loop', { depth: () => depth, rounds: () => count, pause });
    return ((last - first) / (calls - 1)) * 1000;
  };
  await measure(rounds / 10); // warm-up: let the engine optimize the wrappers first
  const samples = [];
  for (let i = 0; i < 3; i++) samples.push(await measure(rounds));
  return median(samples);
}

/**
 * Microseconds per `lunatic.yield` at `depth` frames inside a time slice: most return at once
 * (the slice's minimum time is not over), one in a few thousand suspends for a scheduler turn.
 * The cost of a process with one yield is taken off; each side is the fastest of three runs, so
 * one slow spawn cannot make the difference negative.
 */
export async function yieldRoundTrip(modules: Modules, backend: BackendName, depth: number, rounds = 100_000): Promise<number> {
  const fastest = async (count: number) => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = now();
      await runPauser(modules, backend, 'yield_loop', { depth: () => depth, rounds: () => count, pause: () => undefined });
      best = Math.min(best, now() - started);
    }
    return best;
  };
  await fastest(rounds / 10); // warm-up
  return (((await fastest(rounds)) - (await fastest(1))) / (rounds - 1)) * 1000;
}

async function runPauser(modules: Modules, backend: BackendName, entry: string, env: Record<string, () => unknown>): Promise<void> {
  const status = await new Runtime({ backend }).spawn(modules.pauser, { hostModules: [() => ({ env })], entry, blockingImports: BLOCKING })
    .exited;
  if (status.code !== 0) throw new Error(`the pauser failed: ${JSON.stringify(status)}`);
}

/** Processes spawned, run to completion and reaped per second (the trivial module). */
export async function spawnRate(modules: Modules, backend: BackendName, processes = 5000): Promise<number> {
  const runtime = new Runtime({ backend });
  const module = await runtime.compile(modules.trivial);
  const started = now();
  for (let i = 0; i < processes; i++) runtime.spawn(module);
  await runtime.waitAll();
  return processes / ((now() - started) / 1000);
}

export interface CapacityResult {
  /** Processes asleep at once when the measure was taken (or when the next failed to start). */
  sleeping: number;
  /** RSS growth per sleeping process, in KiB. */
  kibPerProcess: number;
  /** Why the next process could not start, when the limit was reached. */
  failure?: string;
  /** A process started after the limit (the others killed) still runs to exit code 0. */
  runtimeSurvived?: boolean;
}

/** Spawns sleeping processes in batches until `target` sleep at once or one fails to start. */
export async function capacity(modules: Modules, backend: BackendName, target: number): Promise<CapacityResult> {
  const runtime = new Runtime({ backend });
  const module = await runtime.compile(modules.napper);
  const forever: HostModule = (ctx) => ({ env: { nap: () => ctx.sleep(3_600_000).then(() => 0) } });
  const rssBefore = process.memoryUsage().rss;
  const running: ReturnType<Runtime['spawn']>[] = [];
  let failure: string | undefined;
  while (running.length < target && !failure) {
    const batch = Array.from({ length: Math.min(500, target - running.length) }, () =>
      runtime.spawn(module, { hostModules: [forever], blockingImports: BLOCKING }),
    );
    await allWaiting(batch);
    for (const process of batch) {
      if (process.state === 'crashed') failure ??= (await process.exited).trap?.message;
      else if (process.state === 'waiting') running.push(process);
    }
  }
  const kibPerProcess = (process.memoryUsage().rss - rssBefore) / 1024 / Math.max(1, running.length);
  for (const process of running) process.kill();
  await runtime.waitAll();
  const result: CapacityResult = { sleeping: running.length, kibPerProcess, failure };
  if (failure) result.runtimeSurvived = (await runtime.spawn(modules.trivial).exited).code === 0;
  return result;
}

/**
 * Resolves once every process has started waiting or has ended. After a first failure to start,
 * the processes not started yet are killed: each further failed allocation would cost V8 a full
 * garbage collection first, which at thousands of instances takes seconds.
 */
async function allWaiting(processes: ReturnType<Runtime['spawn']>[]): Promise<void> {
  while (processes.some((process) => process.state === 'runnable' || process.state === 'running')) {
    if (processes.some((process) => process.state === 'crashed')) {
      for (const process of processes) if (process.state === 'runnable') process.kill();
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One scenario, as the child of `inChild` runs it. */
export type Task =
  | { scenario: 'sleepers'; args: [processes?: number, naps?: number, ms?: number] }
  | { scenario: 'lateness'; args: [naps?: number, reductions?: number] }
  | { scenario: 'suspendRoundTrip'; args: [depth: number] }
  | { scenario: 'yieldRoundTrip'; args: [depth: number] }
  | { scenario: 'spawnRate'; args: [processes?: number] }
  | { scenario: 'capacity'; args: [target: number] };

const SCENARIOS = { sleepers, lateness, suspendRoundTrip, yieldRoundTrip, spawnRate, capacity } as const;

export function runTask(modules: Modules, backend: BackendName, task: Task): Promise<unknown> {
  const run = SCENARIOS[task.scenario] as (modules: Modules, backend: BackendName, ...args: unknown[]) => Promise<unknown>;
  return run(modules, backend, ...task.args);
}

interface ChildInput {
  backend: BackendName;
  modules: Record<ModuleName, string>;
  tasks: Task[];
}

/** Runs tasks in another Node (e.g. Node 24 for JSPI, or with V8 flags): `script` is this file, built or bundled. */
export function inChild(
  node: string,
  script: string,
  backend: BackendName,
  modules: Modules,
  tasks: Task[],
  nodeFlags: string[] = [],
): Promise<unknown[]> {
  const input: ChildInput = {
    backend,
    tasks,
    modules: Object.fromEntries(Object.entries(modules).map(([name, bytes]) => [name, Buffer.from(bytes).toString('base64')])) as Record<
      ModuleName,
      string
    >,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(node, [...nodeFlags, script, '--child'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(output) as unknown[]) : reject(new Error(`${node} ${script} --child exited with ${code}: ${output}`)),
    );
    // A child that dies before reading its input breaks the pipe; its exit code reports why.
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(JSON.stringify(input));
  });
}

async function childMain(): Promise<void> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const input = JSON.parse(text) as ChildInput;
  const modules = Object.fromEntries(
    Object.entries(input.modules).map(([name, base64]) => [name, new Uint8Array(Buffer.from(base64, 'base64'))]),
  ) as Modules;
  const results: unknown[] = [];
  for (const task of input.tasks) results.push(await runTask(modules, input.backend, task));
  process.stdout.write(JSON.stringify(results));
}

const DEPTHS = [1, 10, 100];

function benchTasks(limitTarget: number): Task[] {
  return [
    ...DEPTHS.flatMap((depth) => [
      { scenario: 'suspendRoundTrip', args: [depth] } as Task,
      { scenario: 'yieldRoundTrip', args: [depth] } as Task,
    ]),
    { scenario: 'lateness', args: [] },
    { scenario: 'spawnRate', args: [] },
    { scenario: 'sleepers', args: [] },
    { scenario: 'capacity', args: [limitTarget] },
  ];
}

function label(tasks: Task[], results: unknown[]): Record<string, unknown> {
  return Object.fromEntries(tasks.map((task, i) => [`${task.scenario}${task.args.length ? `(${task.args.join(', ')})` : ''}`, results[i]]));
}

/** The whole runtime benchmark; each backend (and the limit without the wasm trap handler) in a fresh Node. */
export async function runtimeBench(): Promise<Record<string, unknown>> {
  const script = fileURLToPath(import.meta.url);
  const node24 = (await import('./paths.js')).findNode24(); // loaded lazily: it looks for the project root
  const limitTarget = DEFAULT_MAX_PROCESSES;
  const tasks = benchTasks(limitTarget);
  const noTrapHandlerTasks: Task[] = [{ scenario: 'capacity', args: [DEFAULT_MAX_PROCESSES] }];
  const asyncifyModules = await prepareModules('asyncify');
  const result: Record<string, unknown> = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    node: process.version,
    defaultReductions: DEFAULT_REDUCTIONS,
    asyncify: label(tasks, await inChild(process.execPath, script, 'asyncify', asyncifyModules, tasks)),
    // Without the trap handler V8 aborts near vm.max_map_count / 2 instances: stay below it.
    asyncifyNoTrapHandler: label(
      noTrapHandlerTasks,
      await inChild(process.execPath, script, 'asyncify', asyncifyModules, noTrapHandlerTasks, ['--disable-wasm-trap-handler']),
    ),
  };
  if (node24) {
    const jspiModules = await prepareModules('jspi');
    result.jspiNode = execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim();
    result.jspi = label(tasks, await inChild(node24, script, 'jspi', jspiModules, tasks));
    result.asyncifyOnNode24 = label(tasks.slice(0, 6), await inChild(node24, script, 'asyncify', asyncifyModules, tasks.slice(0, 6)));
  } else {
    result.jspi = 'skipped: no Node 24 (set LUNATIC_NODE24)';
  }
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--child')) await childMain();
  else process.stdout.write(`${JSON.stringify(await runtimeBench(), null, 2)}\n`);
}
