// The only runnable process keeps the CPU while the event loop is idle
// (RuntimeOptions.eventLoopIdle): the scheduler's rule in-process, and `runProgram` (what
// `lunatic-instrument run` calls) in a child Node, whose event loop holds nothing of its own,
// unlike vitest's worker. Each case counts the process's yields: the old scheduler gave the
// event loop a turn, and suspended the process, about every millisecond, so every case below
// fails with it one way or the other. The others may wait for a message meanwhile, on this
// thread or another; not for a host Promise or a compilation, which the event loop does not
// show. A process left running in the turn where another ended still gives that turn back, for
// what waits for the end: a program whose main returns while a child spins hangs without that
// rule, and with two threads, without the shutdown in shared memory, it waits for the grace
// period of a worker that does not hear it was asked to stop. runProgram does all this by default
// on JSPI and for large Asyncify programs; these small ones ask for it (keepCpuOnIdleLoop), but
// for the case that checks the default: on Asyncify a small program is suspended every batch.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeU32 } from '../src/binary.js';
import { instrument } from '../src/index.js';
import { KEEP_CPU_ABOVE_CODE_BYTES, keepsCpuOnIdleLoop } from '../src/run-program.js';
import { Pending, Runtime } from '../src/runtime/index.js';
import { projectRoot, requireNode24 } from './helpers/tools.js';
import { wat } from './helpers/wat.js';

/** About 50-200 ms of a tight loop: dozens of time slices. */
const SPINNER = `(module
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 150000000))))))`;

/**
 * Spawns a child that tells it so, then spins for ever; returns once told, so the child, preempted
 * and queued, runs next in the batch where main ended: the run must end with main, as `run` does.
 */
const LEAVES_A_SPINNER = `(module
  (import "lunatic" "self" (func $self (result i32)))
  (import "lunatic" "spawn" (func $spawn (param i32 i32 i64 i32 i32) (result i32)))
  (import "lunatic" "send" (func $send (param i32 i64 i32 i32) (result i32)))
  (import "lunatic" "receive" (func $receive (param i32 i32 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "spin")
  (func (export "spin") (param $parent i64) (local $i i32)
    (drop (call $send (i32.wrap_i64 (local.get $parent)) (i64.const 1) (i32.const 0) (i32.const 0)))
    (loop $ever (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $ever)))
  (func (export "_start")
    (drop (call $spawn (i32.const 16) (i32.const 4) (i64.extend_i32_u (call $self)) (i32.const 0) (i32.const 0)))
    (drop (call $receive (i32.const 0) (i32.const 0) (i64.const 1) (i32.const -1) (i32.const 0)))))`;

/** Spawns a child that waits for a message for ever, then spins and returns (the child ends with it). */
const SPINS_BESIDE_A_WAITER = `(module
  (import "lunatic" "spawn" (func $spawn (param i32 i32 i64 i32 i32) (result i32)))
  (import "lunatic" "receive" (func $receive (param i32 i32 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "wait")
  (func (export "wait") (param i64)
    (drop (call $receive (i32.const 0) (i32.const 0) (i64.const 0) (i32.const -1) (i32.const 0))))
  (func (export "_start") (local $i i32)
    (drop (call $spawn (i32.const 16) (i32.const 4) (i64.const 0) (i32.const 0) (i32.const 0)))
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 150000000))))))`;

/** Waits once on env.wait (a Pending or a host Promise, as the test gives it). */
const WAITER = `(module
  (import "env" "wait" (func $wait (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $wait))))`;

/** `runProgram` on the module, one line of JSON: how it ended and the counts of its main process. */
const CHILD = `import { runProgram } from ${JSON.stringify(join(projectRoot, 'dist/src/run-program.js'))};
const [program, threads, timer, keep] = process.argv.slice(2);
let spinner;
const interval = timer === 'timer' ? setInterval(() => {}, 1000) : undefined;
const status = await runProgram(program, {
  threads: Number(threads),
  ...(keep === 'default' ? {} : { keepCpuOnIdleLoop: true }),
  beforeStart(lunatic) {
    const start = lunatic.start.bind(lunatic);
    lunatic.start = (...args) => {
      const started = start(...args);
      spinner ??= started; // the program's main (the world starts its children the same way)
      return started;
    };
  },
});
clearInterval(interval);
console.log(JSON.stringify({ status, budgetsSpent: spinner.core.budgetsSpent, yields: spinner.core.yields, ms: performance.now() }));
process.exit(0); // as \`run\` does: a child still running does not keep it
`;

interface Counts {
  status: unknown;
  budgetsSpent: number;
  yields: number;
  /** From the child Node's start to the program's end. */
  ms: number;
}

let dir: string;
const modules = { asyncify: '', jspi: '', leavesASpinner: '', besideAWaiter: '', besideAWaiterJspi: '' };
let child: string;
/** The spinner instrumented with Asyncify: the file the child runs, and the bytes spawned in-process. */
let spinnerBytes: Uint8Array;
let waiterBytes: Uint8Array;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lunatic-event-loop-'));
  const bytes = await wat(SPINNER);
  modules.asyncify = join(dir, 'asyncify.wasm');
  modules.jspi = join(dir, 'jspi.wasm');
  spinnerBytes = (await instrument(bytes)).binary;
  writeFileSync(modules.asyncify, spinnerBytes);
  writeFileSync(modules.jspi, (await instrument(bytes, { asyncify: false })).binary);
  modules.leavesASpinner = join(dir, 'leaves-a-spinner.wasm');
  writeFileSync(modules.leavesASpinner, (await instrument(await wat(LEAVES_A_SPINNER))).binary);
  const beside = await wat(SPINS_BESIDE_A_WAITER);
  modules.besideAWaiter = join(dir, 'beside-a-waiter.wasm');
  modules.besideAWaiterJspi = join(dir, 'beside-a-waiter.jspi.wasm');
  writeFileSync(modules.besideAWaiter, (await instrument(beside)).binary);
  writeFileSync(modules.besideAWaiterJspi, (await instrument(beside, { asyncify: false })).binary);
  waiterBytes = (await instrument(await wat(WAITER), { blockingImports: ['env.wait'] })).binary;
  child = join(dir, 'child.mjs');
  writeFileSync(child, CHILD);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function spin(runtime: Runtime, count: number): Promise<{ budgetsSpent: number; yields: number }[]> {
  const processes = Array.from({ length: count }, () => runtime.spawn(spinnerBytes));
  for (const process of processes) expect(await process.exited).toEqual({ code: 0 });
  return processes.map(({ budgetsSpent, yields }) => ({ budgetsSpent, yields }));
}

describe('the scheduler (Asyncify, in-process)', () => {
  it('a process alone runs on while the event loop is idle, without suspending', async () => {
    const [alone] = await spin(new Runtime({ backend: 'asyncify', eventLoopIdle: () => true }), 1);
    expect(alone!.budgetsSpent).toBeGreaterThan(10);
    expect(alone!.yields).toBe(0);
  });

  it('it gives the event loop its turns when the loop is not idle, or by default', async () => {
    for (const options of [{ eventLoopIdle: () => false }, {}]) {
      const [alone] = await spin(new Runtime({ backend: 'asyncify', ...options }), 1);
      expect(alone!.yields).toBeGreaterThan(5);
    }
  });

  it('processes that are not alone still take turns', async () => {
    const both = await spin(new Runtime({ backend: 'asyncify', eventLoopIdle: () => true }), 2);
    for (const process of both) expect(process.yields).toBeGreaterThan(5);
  });

  /** A spinner's counts while a waiter waits on what `wait` returns; the waiter is let go after. */
  async function besideAWaiter(wait: () => Pending<number> | Promise<number>, release: () => void) {
    const runtime = new Runtime({ backend: 'asyncify', eventLoopIdle: () => true });
    const waiter = runtime.spawn(waiterBytes, { blockingImports: ['env.wait'], hostModules: [() => ({ env: { wait } })] });
    // until then its module compiles, which the event loop does not show either
    while (waiter.state !== 'waiting') await new Promise((resolve) => setTimeout(resolve, 1));
    const [spinner] = await spin(runtime, 1);
    release();
    expect(await waiter.exited).toEqual({ code: 0 });
    return spinner!;
  }

  it('the only runnable process keeps the CPU while another waits for what only a process can give', async () => {
    const pending = new Pending<number>();
    const spinner = await besideAWaiter(
      () => pending,
      () => pending.resolve(0),
    );
    expect(spinner.budgetsSpent).toBeGreaterThan(10);
    expect(spinner.yields).toBe(0);
  });

  it('but not while another waits on a host Promise, which may settle without the event loop showing it', async () => {
    let settle = (_value: number) => {};
    const promise = new Promise<number>((resolve) => (settle = resolve));
    const spinner = await besideAWaiter(
      () => promise,
      () => settle(0),
    );
    expect(spinner.yields).toBeGreaterThan(5);
  });
});

/** runProgram in a child Node; `keep: 'default'` leaves keepCpuOnIdleLoop to runProgram, else it is on (these modules are small). */
describe('keepsCpuOnIdleLoop: what runProgram does by default', () => {
  /** A module header and a code section of `size` bytes (only its size is read). */
  function withCode(size: number): Uint8Array {
    return Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 10, ...encodeU32(size), ...new Uint8Array(size)]);
  }

  it('keeps the CPU on JSPI whatever the size, on Asyncify past KEEP_CPU_ABOVE_CODE_BYTES of code', () => {
    expect(keepsCpuOnIdleLoop('jspi', withCode(100))).toBe(true);
    expect(keepsCpuOnIdleLoop('asyncify', withCode(100))).toBe(false);
    expect(keepsCpuOnIdleLoop('asyncify', withCode(KEEP_CPU_ABOVE_CODE_BYTES))).toBe(false);
    expect(keepsCpuOnIdleLoop('asyncify', withCode(KEEP_CPU_ABOVE_CODE_BYTES + 1))).toBe(true);
  });
});

function runChild(node: string, module: string, threads: number, timer = false, keep: 'on' | 'default' = 'on'): Promise<Counts> {
  return new Promise((resolve, reject) => {
    execFile(node, [child, module, String(threads), timer ? 'timer' : 'none', keep], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout) as Counts);
    });
  });
}

describe('runProgram, as `lunatic-instrument run` runs a program', () => {
  const node24 = requireNode24();
  const backends = [
    { name: 'Asyncify (this Node)', node: process.execPath, module: () => modules.asyncify },
    { name: 'JSPI (Node 24)', node: node24, module: () => modules.jspi },
  ];

  it('a program whose main returns while a child spins ends with main (the child is alone once main ended)', async () => {
    const counts = await runChild(process.execPath, modules.leavesASpinner, 1);
    expect(counts.status).toEqual({ code: 0 });
  });

  it('so does one whose child spins on a worker thread, which hears the shutdown at once', async () => {
    const counts = await runChild(process.execPath, modules.leavesASpinner, 2);
    expect(counts.status).toEqual({ code: 0 });
    // a worker that misses it is ended after WorkerThreads' grace period of 2 s
    expect(counts.ms).toBeLessThan(1500);
  });

  for (const { name, node, module } of backends) {
    it.skipIf(!node)(`${name}: a process alone keeps the CPU, on one thread and on two (no worker started)`, async () => {
      for (const threads of [1, 2]) {
        const counts = await runChild(node!, module(), threads);
        expect(counts).toMatchObject({ status: { code: 0 }, yields: 0 });
        expect(counts.budgetsSpent).toBeGreaterThan(10);
      }
    });

    it.skipIf(!node)(
      `${name}: main keeps the CPU while its child waits for a message, on one thread and on two (the child on a worker)`,
      async () => {
        for (const threads of [1, 2]) {
          const counts = await runChild(node!, name.startsWith('JSPI') ? modules.besideAWaiterJspi : modules.besideAWaiter, threads);
          expect(counts.status).toEqual({ code: 0 });
          expect(counts.budgetsSpent).toBeGreaterThan(10);
          // the turn in which the child starts (on one thread), or the worker's first records are read
          // (on two): the old rule gave a turn every millisecond, about 100
          expect(counts.yields).toBeLessThanOrEqual(3);
        }
      },
    );

    it.skipIf(!node)(
      `${name}: by default, ${name.startsWith('JSPI') ? 'it keeps the CPU whatever the size' : 'a small program is suspended every batch, to go on in optimized code'}`,
      async () => {
        const counts = await runChild(node!, module(), 1, false, 'default');
        expect(counts.status).toEqual({ code: 0 });
        if (name.startsWith('JSPI')) expect(counts.yields).toBe(0);
        else expect(counts.yields).toBeGreaterThan(5);
      },
    );

    it.skipIf(!node)(`${name}: an interval of the embedder's own gets its turns`, async () => {
      const counts = await runChild(node!, module(), 1, true);
      expect(counts.status).toEqual({ code: 0 });
      expect(counts.yields).toBeGreaterThan(5);
    });
  }
});
