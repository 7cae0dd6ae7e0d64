// The instance pool and hibernation (src/runtime/vessel.ts, snapshot.ts, hibernation.ts): an
// instance reused for a new process shows nothing of the previous one (every byte of memory and
// every exported global equal a fresh instance's); a process hibernated while it waits for a
// message, a timer or a socket wakes and goes on correctly; limits count hibernated processes;
// thousands of waiting processes fit in a few instances.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import initWabt from 'wabt';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_IDLE_INSTANCES,
  type HostModuleKind,
  hibernatable,
  MemoryShare,
  Pending,
  ProcessLimitError,
  type ReusableHostModule,
  Runtime,
  type RuntimeOptions,
} from '../src/runtime/index.js';
import { Lunatic, NO_PERMISSIONS, type Permissions } from '../src/runtime/lunatic/index.js';
import type { MailboxBound } from '../src/runtime/lunatic/mailbox.js';
import type { Threads } from '../src/runtime/lunatic/remote.js';
import { MEMORY_SCAN_BYTES, MEMORY_SCAN_WAT } from '../src/runtime/memory-scan.js';
import { NodeNetwork } from '../src/runtime/node/net.js';
import { CollectedOutput, MAY_WAIT_IMPORTS, wasiPreview1 } from '../src/runtime/wasi/index.js';
import { projectRoot } from './helpers/tools.js';
import { wat } from './helpers/wat.js';

/**
 * Instruments in a child process (the CLI): binaryen.js's Asyncify pass was seen to stop Node's
 * timers and immediates in the process that ran it, for some small modules (binaryen 132, Node 20).
 */
function instrumentInChild(bytes: Uint8Array, blockingImports: string[]): { binary: Uint8Array; report: { state: unknown } } {
  const dir = mkdtempSync(join(tmpdir(), 'lunatic-pool-'));
  writeFileSync(join(dir, 'in.wasm'), bytes);
  const cli = join(projectRoot, 'bin', 'lunatic-instrument.js');
  const args = [cli, join(dir, 'in.wasm'), '-o', join(dir, 'out.wasm'), '--report', 'json', '--blocking-imports', ...blockingImports];
  const report = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as { state: unknown };
  return { binary: readFileSync(join(dir, 'out.wasm')), report };
}

const instrumented = new Map<string, Uint8Array>();
function program(name: string): Uint8Array {
  let bytes = instrumented.get(name);
  if (!bytes) {
    bytes = instrumentInChild(readFileSync(join(projectRoot, 'bench/lunatic', name)), [...MAY_WAIT_IMPORTS]).binary;
    instrumented.set(name, bytes);
  }
  return bytes;
}

/** Runs a C program of bench/lunatic on a Runtime with `options`; its stdout, exit code and the runtime. */
async function runProgram(
  name: string,
  args: string[],
  options: RuntimeOptions,
  during?: (stdout: CollectedOutput, runtime: Runtime) => Promise<void>,
  threads?: Threads,
) {
  const runtime = new Runtime({ backend: 'asyncify', ...options });
  const stdout = new CollectedOutput();
  const stderr = new CollectedOutput();
  const lunatic = new Lunatic({
    core: runtime,
    network: new NodeNetwork(),
    reductions: 4_000_000,
    blockingImports: [...MAY_WAIT_IMPORTS],
    hostModules: () => [wasiPreview1({ args: [name, ...args], env: {}, preopens: [], stdout, stderr })],
  });
  if (threads) lunatic.attachThreads(threads, () => 1);
  const permissions: Permissions = { ...NO_PERMISSIONS, canSpawn: true, listen: ['127.0.0.1:*'] };
  const main = lunatic.start(await lunatic.load(program(name)), { permissions, ...(threads ? { pid: 1 } : {}) });
  await during?.(stdout, runtime);
  const status = await main.exited;
  return { status, stdout: stdout.text(), stderr: stderr.text(), runtime };
}

/** The numbers of a `key=value` line. */
function figures(line: string): Record<string, number> {
  return Object.fromEntries([...line.matchAll(/(\w+)=([\d.-]+)/g)].map(([, key, value]) => [key!, Number(value)]));
}

describe('the memory scanner', () => {
  it('is its text, assembled', async () => {
    const wabt = await initWabt();
    const module = wabt.parseWat('memory-scan.wat', MEMORY_SCAN_WAT);
    expect(new Uint8Array(module.toBinary({}).buffer)).toEqual(MEMORY_SCAN_BYTES);
    module.destroy();
  });
});

// A module that changes everything it can: every fourth byte of its two pages, its data segment,
// its globals (through the stack pointer too), and grows when asked. It tells the host when it
// starts, before it changes anything.
const SCRIBBLER = `(module
  (import "env" "started" (func $started))
  (import "env" "grow" (func $grow (result i32)))
  (memory (export "memory") 2)
  (global $sp (mut i32) (i32.const 65536))
  (global $count (mut i64) (i64.const 7))
  (global $ratio (mut f64) (f64.const 0.5))
  (data (i32.const 1024) "initial data")
  (func (export "_start") (local $at i32)
    (call $started)
    (loop $fill
      (i32.store (local.get $at) (i32.xor (local.get $at) (i32.const 0x5a5a5a5a)))
      (local.set $at (i32.add (local.get $at) (i32.const 4)))
      (br_if $fill (i32.lt_u (local.get $at) (i32.const 131072))))
    (global.set $sp (i32.const 12345))
    (global.set $count (i64.const -1))
    (global.set $ratio (f64.const -2.25))
    (if (call $grow) (then (drop (memory.grow (i32.const 1)))))))`;

/**
 * The exported state of an instance: its memory's bytes and the values of its lunatic_global_*
 * exports, but for the reduction counter (the runtime sets it to a process's budget before the process runs).
 */
function stateOf(instance: WebAssembly.Instance): { memory: Uint8Array; globals: unknown[] } {
  const exports = instance.exports;
  // the counter's own export is another JS object: find its lunatic_global_* by a value only it takes
  const counter = exports.lunatic_reductions as WebAssembly.Global;
  const budget = counter.value;
  counter.value = -12345;
  const isCounter = (name: string) => (exports[name] as WebAssembly.Global).value === -12345;
  const globals = Object.keys(exports)
    .filter((name) => name.startsWith('lunatic_global_') && !isCounter(name))
    .map((name) => (exports[name] as WebAssembly.Global).value);
  counter.value = budget;
  return { memory: new Uint8Array((exports.memory as WebAssembly.Memory).buffer).slice(), globals };
}

describe('instance reuse', () => {
  let module: WebAssembly.Module;
  beforeAll(async () => {
    const { binary, report } = instrumentInChild(await wat(SCRIBBLER), ['env.none']);
    expect(report.state).toEqual({ resettable: true, globals: expect.any(Number) });
    module = new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>);
  });

  interface GrowState {
    grow: boolean;
    /** The state of the instance when the process started, before it changed anything. */
    atStart?: ReturnType<typeof stateOf>;
  }
  /** A reusable host module whose `grow` answers the process's own wish. */
  const growHost = (grow: boolean, state: GrowState = { grow }): ReusableHostModule<GrowState> => ({ kind: GROW_KIND, state: () => state });
  const GROW_KIND: HostModuleKind<GrowState> = {
    imports: (ctx, tenant) => ({
      env: {
        // the context of a reusable host module is the vessel, which holds the instance
        started: () => void (tenant().atStart = stateOf((ctx as unknown as { instance: WebAssembly.Instance }).instance)),
        grow: () => (tenant().grow ? 1 : 0),
      },
    }),
  };

  it('shows a new process every byte of memory and every global as a fresh instance has them', async () => {
    const runtime = new Runtime({ backend: 'asyncify' });
    const fresh = stateOf(new WebAssembly.Instance(module, { env: { grow: () => 0, started: () => {} }, lunatic: { yield: () => {} } }));
    const first: GrowState = { grow: false };
    expect((await runtime.spawn(module, { hostModules: [growHost(false, first)] }).exited).code).toBe(0);
    expect(runtime.pool.idle).toBe(1);
    expect(first.atStart!.globals).toEqual(fresh.globals);
    // the next process runs in the same instance, which the first changed all over
    const second: GrowState = { grow: false };
    expect((await runtime.spawn(module, { hostModules: [growHost(false, second)] }).exited).code).toBe(0);
    expect(runtime.pool).toMatchObject({ made: 1, reused: 1 });
    const reset = second.atStart!;
    expect(reset.globals.length).toBeGreaterThan(3);
    expect(reset.globals).toEqual(fresh.globals);
    expect(Buffer.compare(reset.memory, fresh.memory)).toBe(0);
  });

  it('drops an instance whose memory grew, and one whose host module is not reusable', async () => {
    const runtime = new Runtime({ backend: 'asyncify' });
    expect((await runtime.spawn(module, { hostModules: [growHost(true)] }).exited).code).toBe(0);
    expect(runtime.pool).toMatchObject({ count: 0, idle: 0 });
    expect((await runtime.spawn(module, { hostModules: [() => ({ env: { grow: () => 0, started: () => {} } })] }).exited).code).toBe(0);
    expect(runtime.pool).toMatchObject({ count: 0, made: 2, reused: 0 });
  });
});

// Waits once on env.wait and checks the value it gets back survives in memory.
const WAITER = `(module
  (import "env" "wait" (func $wait (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 64) (call $wait))
    (if (i32.eqz (i32.load (i32.const 64))) (then unreachable))))`;

describe('hibernation', () => {
  it('wakes processes hibernated in receive by their message, with at most --max-instances instances', async () => {
    const { status, stdout, stderr, runtime } = await runProgram('spawns.wasm', ['waiters', '400', '20'], { maxInstances: 20 });
    expect(stderr).toBe('');
    expect(status.code).toBe(0);
    expect(figures(stdout.split('\n').find((line) => line.startsWith('answered'))!).n).toBe(400);
    expect(runtime.hibernations).toBeGreaterThanOrEqual(380);
    expect(runtime.pool.mostOccupied).toBeLessThanOrEqual(22);
  });

  it('wakes processes hibernated in lunatic_sleep_ms by their timer, never early', async () => {
    const { status, stdout, runtime } = await runProgram('spawns.wasm', ['sleepers', '200', '60'], { hibernateAfterMs: 0 });
    expect(status.code).toBe(0);
    expect(figures(stdout).n).toBe(200);
    expect(runtime.hibernations).toBeGreaterThanOrEqual(100);
  });

  it('wakes a process hibernated in tcp_read by the bytes that arrive', async () => {
    let hibernatedBefore = 0;
    const { status, stdout, runtime } = await runProgram(
      'scheduling.wasm',
      ['echo', '0'],
      { hibernateAfterMs: 0 },
      async (out, running) => {
        const port = Number(await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out.text())?.[1]));
        const socket = connect(port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        const echoed: Buffer[] = [];
        socket.on('data', (chunk) => echoed.push(chunk));
        for (const word of ['first', 'second']) {
          await waitFor(() => running.hibernating === 1 || undefined);
          hibernatedBefore++;
          socket.write(word);
          await waitFor(() => (Buffer.concat(echoed).toString().endsWith(word) ? true : undefined));
        }
        socket.end();
      },
    );
    expect(status.code).toBe(0);
    expect(stdout).toContain('echoed 11 bytes');
    expect(hibernatedBefore).toBe(2);
    expect(runtime.hibernations).toBeGreaterThanOrEqual(2);
  });

  it('counts hibernated processes in maxProcesses, and spawns again once one ended', async () => {
    const waits: Pending<number>[] = [];
    const kind: HostModuleKind<null> = {
      imports: () => ({ env: { wait: () => (waits.push(hibernatable(new Pending<number>())), waits.at(-1)) } }),
    };
    const waiter: ReusableHostModule<null> = { kind, state: () => null };
    const { binary } = instrumentInChild(await wat(WAITER), ['env.wait']);
    const module = new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>);
    const runtime = new Runtime({ backend: 'asyncify', maxProcesses: 10, maxInstances: 3, hibernateAfterMs: 0 });
    const processes = Array.from({ length: 10 }, () => runtime.spawn(module, { hostModules: [waiter] }));
    await waitFor(() => (waits.length === 10 && runtime.hibernating >= 7 ? true : undefined));
    expect(runtime.pool.occupied).toBeLessThanOrEqual(3);
    expect(() => runtime.spawn(module, { hostModules: [waiter] })).toThrow(ProcessLimitError);
    waits[0]!.resolve(42);
    expect(await processes[0]!.exited).toEqual({ code: 0 });
    const another = runtime.spawn(module, { hostModules: [waiter] });
    await waitFor(() => (waits.length === 11 ? true : undefined));
    for (const wait of waits.slice(1)) wait.resolve(7);
    for (const process of [...processes.slice(1), another]) expect(await process.exited).toEqual({ code: 0 });
  });

  it('holds 20,000 waiting processes in 1,000 instances, and each answers', async () => {
    const { status, stdout, runtime } = await runProgram('spawns.wasm', ['waiters', '20000', '20'], { maxInstances: 1000 });
    expect(status.code).toBe(0);
    expect(figures(stdout.split('\n').find((line) => line.startsWith('answered'))!).n).toBe(20_000);
    // a soft limit: processes that are runnable keep their instances (a few dozen here)
    expect(runtime.pool.mostOccupied).toBeLessThanOrEqual(1100);
    // and the instances are reused, not made again (a busy machine may trim a few idle ones)
    expect(runtime.pool.reused).toBeGreaterThan(10 * runtime.pool.made);
    // the instances hibernating processes left were kept for the ones that woke, up to the limit,
    // and those beyond DEFAULT_MAX_IDLE_INSTANCES go once unused for a while
    expect(runtime.pool.count).toBeLessThanOrEqual(1000);
    expect(runtime.pool.idle).toBeGreaterThan(DEFAULT_MAX_IDLE_INSTANCES);
    await waitFor(() => (runtime.pool.idle === DEFAULT_MAX_IDLE_INSTANCES ? true : undefined), 5000);
    expect(runtime.pool.count).toBe(DEFAULT_MAX_IDLE_INSTANCES);
  }, 120_000);
});

// V8 gives one OS process some 12,000-16,000 memories and, past them, retries for minutes before
// failing (src/runtime/memory-limit.ts): the runtime refuses at its own limit, here a small one.
describe('the wasm memories a runtime may hold (maxMemories)', () => {
  it('refuses a spawn at once past them when processes keep their instances (no hibernation): lunatic_spawn gets ENOMEM', async () => {
    const options = { hibernate: false, maxMemories: 30, maxIdleInstances: 0 };
    const { status, stdout, stderr, runtime } = await runProgram('spawns.wasm', ['waiters', '40', '20'], options);
    // the parent is one of the 30: its 30th child is refused
    expect({ status, stdout, stderr }).toEqual({ status: { code: 1 }, stdout: '', stderr: 'spawn 29 failed: -11\n' });
    expect(runtime.pool.made).toBeLessThanOrEqual(30);
  });

  it("counts them over every thread: a thread is refused at what the others' processes leave it", async () => {
    const cells = MemoryShare.cellsFor(2);
    const otherThread = new MemoryShare(30, cells, 1);
    otherThread.pinned = 20;
    otherThread.instances = 20;
    const options = { hibernate: false, maxIdleInstances: 0, memories: new MemoryShare(30, cells, 0) };
    const { status, stderr, runtime } = await runProgram('spawns.wasm', ['waiters', '40', '20'], options);
    // the parent and 9 children here, 20 there
    expect({ status, stderr }).toEqual({ status: { code: 1 }, stderr: 'spawn 9 failed: -11\n' });
    expect(otherThread.totalPinned()).toBe(29); // 20 there, and here the 9 children still waiting (the parent ended)
    expect(runtime.pool.made).toBeLessThanOrEqual(10);
  });

  it('refuses a child placed on another thread in its parent, where a local one would be refused', async () => {
    const cells = MemoryShare.cellsFor(2);
    new MemoryShare(30, cells, 1).pinned = 29; // with the parent here, no memory is left
    const placed: number[] = [];
    // the other thread as this one sees it: every child goes there
    const calls: Partial<Threads> = {
      isHere: () => true,
      mailboxBound: () => undefined as unknown as MailboxBound,
      placeChild: () => 1,
      spawnOn: (thread) => (placed.push(thread), 1000 + placed.length),
      ended: () => {},
    };
    const threads = new Proxy(calls, {
      get: (target, key) => target[key as keyof Threads] ?? (() => expect.fail(`unexpected Threads.${String(key)}`)),
    }) as Threads;
    const options = { hibernate: false, maxIdleInstances: 0, memories: new MemoryShare(30, cells, 0) };
    const { status, stderr } = await runProgram('spawns.wasm', ['waiters', '5', '20'], options, undefined, threads);
    expect({ status, stderr, placed }).toEqual({ status: { code: 1 }, stderr: 'spawn 0 failed: -11\n', placed: [] });
  });

  it('lets hibernating processes live past them, in no more instances than that', async () => {
    const options = { maxInstances: 10, maxMemories: 30 };
    const { status, stdout, stderr, runtime } = await runProgram('spawns.wasm', ['waiters', '100', '20'], options);
    expect(stderr).toBe('');
    expect(status.code).toBe(0);
    expect(figures(stdout.split('\n').find((line) => line.startsWith('answered'))!).n).toBe(100);
    expect(runtime.pool.mostOccupied).toBeLessThanOrEqual(30);
  });

  it('makes no instance past them: a process that cannot get one (its neighbours wait, but cannot hibernate) does not start', async () => {
    const waits: Pending<number>[] = [];
    const kind: HostModuleKind<null> = { imports: () => ({ env: { wait: () => (waits.push(new Pending<number>()), waits.at(-1)) } }) };
    const waiter: ReusableHostModule<null> = { kind, state: () => null };
    const module = new WebAssembly.Module(instrumentInChild(await wat(WAITER), ['env.wait']).binary as Uint8Array<ArrayBuffer>);
    const runtime = new Runtime({ backend: 'asyncify', maxMemories: 2, maxInstances: 2, maxIdleInstances: 0, hibernateAfterMs: 0 });
    const [first, second, third] = Array.from({ length: 3 }, () => runtime.spawn(module, { hostModules: [waiter] }));
    expect((await third!.exited).trap?.message).toMatch(/^could not start: no instance for it: 2 exist/);
    expect(waits).toHaveLength(2);
    for (const wait of waits) wait.resolve(7);
    expect([await first!.exited, await second!.exited]).toEqual([{ code: 0 }, { code: 0 }]);
    expect(runtime.pool.made).toBe(2);
  });
});

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
