// Runtime faults, on both backends: C processes (clang, then our instrumenter) that trap
// (unreachable, out-of-bounds access, division by zero), grow memory past their limit, recurse
// into a stack overflow, spin past their reductions limit or flood another's mailbox each end
// with their own clear reason, while well-behaved processes running beside them in the same
// runtime finish with their exact output; and 1,000 faulting processes in a row leave the
// runtime's tables and timers empty, every process garbage-collected and its memory flat.
// Asyncify runs in-process on this Node; JSPI in a Node 24 child running the same scenarios
// (test/helpers/fault-scenarios.ts, bundled).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { instrument } from '../src/index.js';
import type { BackendName } from '../src/runtime/index.js';
import { Errno, MAILBOX_MAX_BYTES } from '../src/runtime/lunatic/index.js';
import { bundleForChild, type ChildScript } from './helpers/child-bundle.js';
import { compileLunaticC } from './helpers/clang.js';
import {
  CHECKSUM_LENGTHS,
  FAULTS,
  FAULTS_C,
  FLOOD_MESSAGE_BYTES,
  FLOOD_REFUSALS,
  type FaultTask,
  Harness,
  LIMITS,
  type Outcome,
  runFaultTask,
  runFaultTaskInNode,
  type SoakResult,
} from './helpers/fault-scenarios.js';
import { findClang, requireNode24, requireTool } from './helpers/tools.js';

const SOAK_COUNT = 1000;
const SOAK_WARM_UP = 200;
/**
 * How much the runtime's own memory may grow from the 200th to the 1,000th faulting process,
 * after full collections. Seen: heap +-0.5 MiB, array buffers (wasm memories too) +0, RSS
 * +-20 MiB; keeping each ended process reachable costs the heap about 3.5 MiB here (and is
 * caught exactly by the count of uncollected processes), keeping its memory far more.
 */
const MEMORY_GROWTH_LIMITS = { heapUsed: 2 << 20, arrayBuffers: 1 << 20, rss: 64 << 20 };
/** The spinner calls test.tick once every this many loop iterations. */
const SPIN_ITERATIONS_PER_TICK = 1024;

const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
const node24 = requireNode24();

/** The program, instrumented for each backend (JSPI needs the reduction counters only). */
const modules = {} as Record<BackendName, Uint8Array>;

beforeAll(async () => {
  if (!clang) return;
  const bytes = compileLunaticC(clang, FAULTS_C);
  modules.asyncify = (await instrument(bytes)).binary;
  modules.jspi = (await instrument(bytes, { asyncify: false })).binary;
}, 120_000);

/** What the checksum process prints, computed here. */
function expectedChecksum(n: number): string {
  let hash = 2166136261;
  let x = 12345;
  for (let i = 1; i <= n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    hash = Math.imul(hash ^ ((x >>> 16) & 0xff), 16777619) >>> 0;
  }
  return `checksum(${n}) = ${hash.toString(16).padStart(8, '0')}\n`;
}

const trapped = (message: string | RegExp, functionName: string) => ({
  status: {
    trap: {
      message: typeof message === 'string' ? message : expect.stringMatching(message),
      functions: expect.arrayContaining([functionName]),
    },
  },
});

/** Ended by the runtime for going past a limit: a crash whose message names the limit. */
const limitReached = (limit: string) => ({
  status: { trap: { message: expect.stringMatching(new RegExp(`^process \\d+ exceeded its limit of ${limit}$`)) } },
});

/** What a flooder and its victim print when `messages` messages of `bytes` got through. */
const floodLines = (messages: number, bytes: number) => ({
  flooder: `flooder: ${messages} messages of ${bytes} bytes sent, then ${FLOOD_REFUSALS} refused with ${-Errno.FULL}\n`,
  victim: expect.stringMatching(
    new RegExp(`^victim: flooder \\d+ exited with code ${Errno.FULL}; got ${messages} messages of ${bytes} bytes, in order\\n$`),
  ),
});

/**
 * How each faulting process (and a flood's victim) must end. A limit ends its process as a crash
 * naming the limit; a recursion without end is the engine's stack overflow, suspended in it or
 * not. A flooder is not
 * ended for flooding: its sends past the mailbox's bound fail with FULL, and it gives up with that code.
 */
function expectedEnd(role: string): object {
  const flood = floodLines(LIMITS.mailbox, FLOOD_MESSAGE_BYTES.small);
  const expected: Record<string, object> = {
    unreachable: trapped('unreachable', 'trap_unreachable'),
    'out-of-bounds': trapped('memory access out of bounds', 'trap_out_of_bounds'),
    'divide-by-zero': trapped('divide by zero', 'trap_divide_by_zero'),
    // Ended by the runtime: the program never sees malloc fail (it would print so).
    memory: { ...limitReached(`${LIMITS.memoryPages} memory pages \\(it uses \\d+\\)`), stdout: '' },
    recursion: trapped('Maximum call stack size exceeded', 'dive'),
    // On Asyncify too: the reserved tail grows with the suspended stack, so V8's own stack ends it.
    'yielding-recursion': trapped('Maximum call stack size exceeded', 'dive_yielding'),
    reductions: limitReached(`${LIMITS.reductions} reductions`),
    flood: { status: { code: Errno.FULL }, stdout: flood.flooder },
    'flood-victim': { status: { code: 0 }, stdout: flood.victim },
  };
  return expected[role]!;
}

function checkEnd(outcome: Outcome): void {
  expect(outcome, `${outcome.role} (pid ${outcome.pid})`).toMatchObject(expectedEnd(outcome.role));
}

function checkMix(outcomes: Outcome[]): void {
  const withRole = (role: string) => outcomes.filter((outcome) => outcome.role === role);
  for (const role of [...FAULTS.filter((fault) => fault !== 'flood'), 'flood-victim']) {
    expect(withRole(role), role).toHaveLength(1);
    checkEnd(withRole(role)[0]!);
  }
  // Big messages fill the mailbox by its bytes long before its count (1,024 by default).
  const bigFlood = floodLines(MAILBOX_MAX_BYTES / FLOOD_MESSAGE_BYTES.big, FLOOD_MESSAGE_BYTES.big);
  expect(withRole('big-flood-victim')).toMatchObject([{ status: { code: 0 }, stdout: bigFlood.victim }]);
  const flooders = withRole('flood');
  expect(flooders.map((outcome) => outcome.status)).toEqual([{ code: Errno.FULL }, { code: Errno.FULL }]);
  expect(flooders.map((outcome) => outcome.stdout).sort()).toEqual(
    [floodLines(LIMITS.mailbox, FLOOD_MESSAGE_BYTES.small).flooder, bigFlood.flooder].sort(),
  );

  const checksums = withRole('checksum');
  expect(checksums.map((outcome) => outcome.status)).toEqual(CHECKSUM_LENGTHS.map(() => ({ code: 0 })));
  expect(checksums.map((outcome) => outcome.stdout)).toEqual(CHECKSUM_LENGTHS.map(expectedChecksum));
}

const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function checkSoak(result: SoakResult, backend: BackendName): void {
  expect(result.faulting).toHaveLength(SOAK_COUNT);
  for (const fault of FAULTS)
    expect(
      result.faulting.filter((outcome) => outcome.role === fault),
      fault,
    ).toHaveLength(SOAK_COUNT / FAULTS.length);
  for (const outcome of [...result.faulting, ...result.victims]) checkEnd(outcome);

  expect(result.tables).toEqual({ runtimeProcesses: 0, lunaticProcesses: 0, handles: 0 });
  expect(result.timers.after).toBeLessThanOrEqual(result.timers.before); // the test runner's own may end meanwhile
  expect(result.uncollected).toBe(0);
  const { afterWarmUp, atEnd } = result.memory;
  const keys = Object.keys(MEMORY_GROWTH_LIMITS) as Array<keyof typeof MEMORY_GROWTH_LIMITS>;
  const figures = keys.map((key) => `${key} ${mebibytes(afterWarmUp[key])} -> ${mebibytes(atEnd[key])}`).join(', ');
  console.log(
    `${backend}: ${SOAK_COUNT} faulting processes in ${(result.milliseconds / 1000).toFixed(1)} s; after the ${SOAK_WARM_UP}th and the last: ${figures}`,
  );
  for (const key of keys) expect(atEnd[key] - afterWarmUp[key], `growth of ${key}`).toBeLessThan(MEMORY_GROWTH_LIMITS[key]);
}

const MIX: FaultTask = { scenario: 'mix' };
const SOAK: FaultTask = { scenario: 'soak', count: SOAK_COUNT, warmUp: SOAK_WARM_UP };

describe.skipIf(!clang)('Asyncify backend (this Node, in-process)', () => {
  it('each fault ends only its own process, with its reason; the well-behaved ones finish', async () => {
    checkMix((await runFaultTask(modules.asyncify, 'asyncify', MIX)) as Outcome[]);
  });

  it('1,000 faulting processes in a row: each with its reason, nothing left behind, memory flat', async () => {
    checkSoak((await runFaultTask(modules.asyncify, 'asyncify', SOAK)) as SoakResult, 'asyncify');
  });

  it('the reductions limit counts every budget spent, also those inside a minimum time slice', async () => {
    // Small slices: the 1 ms minimum slice then spans many budgets, which all count.
    const harness = new Harness('asyncify', { reductions: 100_000 });
    await harness.load(modules.asyncify);
    const limit = 400_000_000;
    const spinner = await harness.start('reductions', { entry: 'spin', permissions: { maxReductions: limit } });
    expect(spinner).toMatchObject(limitReached(`${limit} reductions`));
    // Every loop iteration costs several reductions, so a limit that counts them all ends the
    // spinner long before it has run `limit` iterations, even though the limit is only checked
    // every 10 ms; counting only the slices it gave up let it run about 20 times that.
    expect(spinner.ticks * SPIN_ITERATIONS_PER_TICK).toBeLessThan(limit);
    expect(spinner.ticks * SPIN_ITERATIONS_PER_TICK).toBeGreaterThan(limit / 100);
  });

  it('a long-lived process keeps no trace of crashed processes it monitored or that monitored it', async () => {
    const crashers = 50;
    const harness = new Harness('asyncify', { childRole: 'crasher' });
    await harness.load(modules.asyncify);
    const watched = harness.spawn({ entry: 'watched_by_crashers', arg: BigInt(crashers), permissions: { canSpawn: true } });
    const watchedOutcome = harness.outcome('watched', watched);
    await vi.waitFor(() => expect(harness.children).toHaveLength(crashers), { timeout: 10_000 });
    for (const crasher of await Promise.all(harness.children)) expect(crasher).toMatchObject(trapped('unreachable', 'monitor_and_trap'));
    expect([watched.monitoredBy.size, watched.monitoring.size]).toEqual([0, 0]);
    // Once it has taken every DOWN it prints how many said "crashed" and waits for a message.
    await vi.waitFor(() => expect(harness.output(watched.pid)).toBe(`${crashers} crashed\n`), { timeout: 10_000 });
    expect(watched.mailbox.size).toBe(0);
    watched.core.kill();
    expect(await watchedOutcome).toMatchObject({ status: { killed: true }, stdout: `${crashers} crashed\n` });
  });
});

describe.skipIf(!clang)('JSPI backend (Node 24 child)', () => {
  let script: ChildScript | undefined;

  beforeAll(async () => {
    if (!node24) return;
    script = await bundleForChild('test/helpers/fault-scenarios.ts');
  });
  afterAll(() => script?.remove());

  const inNode24 = (task: FaultTask) => runFaultTaskInNode(node24!, script!.path, modules.jspi, 'jspi', task);

  it.skipIf(!node24)('each fault ends only its own process, with its reason; the well-behaved ones finish', async () => {
    checkMix((await inNode24(MIX)) as Outcome[]);
  });

  it.skipIf(!node24)('1,000 faulting processes in a row: each with its reason, nothing left behind, memory flat', async () => {
    checkSoak((await inNode24(SOAK)) as SoakResult, 'jspi');
  });
});
