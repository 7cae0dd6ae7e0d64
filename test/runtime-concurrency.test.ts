// Concurrency and preemption, on both backends: 1,000 processes sleeping at once finish in about
// the time one of them sleeps, and a process spinning in a loop without calls cannot make a
// sleeping neighbour late by more than about a time slice. Asyncify runs in-process on this
// Node; JSPI in a Node 24 child running the same scenarios (bench/runtime.ts, bundled).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inChild, type LatenessResult, type Modules, prepareModules, runTask, type SleepersResult, type Task } from '../bench/runtime.js';
import type { BackendName } from '../src/runtime/index.js';
import { bundleForChild, type ChildScript } from './helpers/child-bundle.js';
import { requireNode24 } from './helpers/tools.js';

/** Long enough that the sleeper's 40 naps of 10 ms all happen while it spins (about 1 s here; 0.4 s was too close once a spinner alone stopped suspending at every slice). */
const SPINNER_ITERATIONS = 1_000_000_000;
const SLEEPERS: Task = { scenario: 'sleepers', args: [1000, 5, 100] };
const LATENESS: Task = { scenario: 'lateness', args: [40] };

function checkSleepers(result: SleepersResult): void {
  expect(result.failures).toEqual([]);
  expect(result.ok).toBe(1000);
  expect(result.milliseconds).toBeGreaterThanOrEqual(500); // each really slept 5 x 100 ms
  expect(result.milliseconds).toBeLessThan(10_000); // 1,000 x 500 ms one after the other would be 500 s
}

function checkLateness(result: LatenessResult): void {
  expect(result.statuses).toEqual([{ code: 0 }, { code: 0 }]);
  expect(result.naps).toBe(40);
  expect(result.sleeperMilliseconds).toBeLessThan(result.spinnerMilliseconds); // it slept next to the spinner
  expect(result.spinnerYields).toBeGreaterThan(10);
  // Without preemption the sleeper would wait for the whole spin (seconds); a slice is ~1 ms.
  // The typical wake-up is within a few slices; the worst is left room for a GC pause or a
  // busy CI machine (seen: 74 ms at load average 12 on 2 cores), still far below the spin.
  expect(result.medianLateness).toBeLessThan(20);
  expect(result.maxLateness).toBeLessThan(Math.min(250, result.spinnerMilliseconds / 4));
}

describe('Asyncify backend (this Node, in-process)', () => {
  let modules: Modules;
  beforeAll(async () => {
    modules = await prepareModules('asyncify', SPINNER_ITERATIONS);
  });

  it('1,000 processes sleeping 100 ms five times finish in a few seconds', async () => {
    checkSleepers((await runTask(modules, 'asyncify', SLEEPERS)) as SleepersResult);
  });

  it('a spinning process delays a sleeping one by about a slice at most', async () => {
    checkLateness((await runTask(modules, 'asyncify', LATENESS)) as LatenessResult);
  });
});

describe('JSPI backend (Node 24 child)', () => {
  const node24 = requireNode24();
  let script: ChildScript | undefined;
  let modules: Modules;

  beforeAll(async () => {
    if (!node24) return;
    // The child gets ready module bytes, so it needs neither binaryen nor wabt.
    script = await bundleForChild('bench/runtime.ts', ['binaryen', 'wabt']);
    modules = await prepareModules('jspi', SPINNER_ITERATIONS);
  });
  afterAll(() => script?.remove());

  const inNode24 = async (task: Task, backend: BackendName = 'jspi') => (await inChild(node24!, script!.path, backend, modules, [task]))[0];

  it.skipIf(!node24)('1,000 processes sleeping 100 ms five times finish in a few seconds', async () => {
    checkSleepers((await inNode24(SLEEPERS)) as SleepersResult);
  });

  it.skipIf(!node24)('a spinning process (reductions only, --no-asyncify) delays a sleeping one by about a slice at most', async () => {
    checkLateness((await inNode24(LATENESS)) as LatenessResult);
  });
});
