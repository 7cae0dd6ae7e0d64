// The preemption guarantee, measured by an independent interpreter: wabt's `wasm-interp --trace`
// prints every instruction it executes. With dummy imports the budget is never refilled, so
// every check calls `lunatic.yield`; the instructions between two consecutive yields must stay
// within the bound the report states (plus the check's own instructions), plus its return
// stretch per frame of the deepest recursion being unwound; with checkReturns, within the bound.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { requireTool } from './helpers/tools.js';
import { instantiateCounted, LEAVE_LOOP_FUNCTION, LONG_WORK, SHORT_AND_LONG_RETURNS, WALK_FUNCTION, wat } from './helpers/wat.js';

function findInterp(): string | undefined {
  try {
    execFileSync('wasm-interp', ['--version'], { stdio: 'ignore' });
    return 'wasm-interp';
  } catch {
    return undefined;
  }
}

const interp = requireTool('wasm-interp (Debian package wabt)', findInterp(), 'apt-get install wabt');
const dir = mkdtempSync(join(tmpdir(), 'lunatic-bound-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Instructions of the instrumentation itself around one yield: the check, the call of
 * `lunatic_check_yield` (which stores the counter, yields and computes the credit), for a loop
 * check the way out of the loop and the check at its top once more, and in a function that keeps
 * the counter in a local, writing it back on return (the result kept aside meanwhile: 4) and
 * reading it again after the call that returned (2).
 */
const CHECK_INSTRUCTIONS = 40;

/**
 * The longest run of traced wasm instructions between two yields (or the ends of the run).
 * The interpreter's own bookkeeping is not wasm: `drop_keep`/`alloca`/`catch_drop` shuffle its
 * stacks, a taken `br_if` shows as `br_unless` followed by `br`, and `br_table` as itself
 * followed by the `br` it picked.
 */
function longestStretch(trace: string): { longest: number; yields: number; total: number } {
  let longest = 0;
  let current = 0;
  let yields = 0;
  let total = 0;
  let previous = '';
  for (const line of trace.split('\n')) {
    if (line.startsWith('called host lunatic.yield')) {
      yields++;
      longest = Math.max(longest, current);
      current = 0;
      continue;
    }
    const op = /^#\d+\.\s+\d+: V:\d+\s*\| (\S+)/.exec(line)?.[1];
    if (!op || op === 'drop_keep' || op === 'alloca' || op === 'catch_drop') continue;
    if (!(op === 'br' && (previous === 'br_unless' || previous === 'br_table'))) {
      current++;
      total++;
    }
    previous = op;
  }
  return { longest: Math.max(longest, current), yields, total };
}

/**
 * Each case: its text, the depth of its deepest recursion (frames unwound in a row), and the
 * loop checks it must get when that is the point of the case.
 */
const CASES: Record<string, { text: string; depth: number; loopChecks?: number }> = {
  'spin loop': {
    depth: 0,
    // The end is a global's: a constant would make it a counted loop, charged whole.
    text: `(module (global $end (mut i32) (i32.const 300)) (func (export "main") (local $i i32)
      (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (global.get $end))))))`,
  },
  'mutual recursion': {
    depth: 201,
    text: `(module
      (func $even (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 1)) (else (call $odd (i32.sub (local.get $n) (i32.const 1))))))
      (func $odd (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0)) (else (call $even (i32.sub (local.get $n) (i32.const 1))))))
      (func (export "main") (drop (call $even (i32.const 200)))))`,
  },
  'recursion with work on the way back': {
    depth: 12,
    text: `(module
      (func $fib (param $n i32) (result i32)
        (if (result i32) (i32.lt_u (local.get $n) (i32.const 2)) (then (local.get $n))
          (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1))) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
      (func (export "main") (drop (call $fib (i32.const 12)))))`,
  },
  'unrolled recursion: early return, a loop around the call, br_table': {
    depth: 15,
    text: `(module ${WALK_FUNCTION}
      (func (export "main") (drop (call $walk (i32.const 14)))))`,
  },
  'a loop kept in a local, left by br_if with a value, br_table, return and its end': {
    depth: 0,
    loopChecks: 1,
    text: `(module ${LEAVE_LOOP_FUNCTION}
      (func (export "main") (local $how i32)
        (loop $each
          (drop (call $leave (local.get $how) (i32.const 300)))
          (br_if $each (i32.lt_u (local.tee $how (i32.add (local.get $how) (i32.const 1))) (i32.const 4))))))`,
  },
  'recursion with one short and one long return stretch': {
    depth: 9,
    text: `(module ${SHORT_AND_LONG_RETURNS}
      (func (export "main") (drop (call $g (i32.const 8)))))`,
  },
  'indirect recursion': {
    depth: 201,
    text: `(module
      (type $t (func (param i32) (result i32)))
      (table 1 funcref) (elem (i32.const 0) $down)
      (func $down (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
          (else (i32.add (i32.const 1) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))))))
      (func (export "main") (drop (call $down (i32.const 200)))))`,
  },
  'tail calls': {
    depth: 0,
    text: `(module
      (func $count (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
          (else (return_call $count (i32.sub (local.get $n) (i32.const 1))))))
      (func (export "main") (drop (call $count (i32.const 200)))))`,
  },
  'counted loops inside a spin loop (one wraps its counter around first)': {
    depth: 0,
    loopChecks: 1,
    text: `(module (memory 1)
      (func (export "main") (local $j i32) (local $i i32) (local $acc i32)
        (i32.store (i32.const 0) (i32.const -4))
        (loop $o
          (local.set $i (i32.const 0))
          (loop $a
            (local.set $acc (i32.add (local.get $acc) (local.get $i)))
            (br_if $a (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 64))))
          (local.set $i (i32.load (i32.const 0)))
          (loop $b
            (local.set $acc (i32.xor (local.get $acc) (local.get $i)))
            (br_if $b (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (i32.const 64))))
          (br_if $o (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 40))))))`,
  },
  'a counted loop that tests its counter before stepping it, inside a spin loop': {
    // Three rounds of LONG_WORK (i = 0, 1, 2): charging two would miss one round, far more than
    // the check's own instructions.
    depth: 0,
    loopChecks: 1,
    text: `(module
      (func (export "main") (local $j i32) (local $i i32) (local $acc i32)
        (loop $o
          (local.set $i (i32.const 0))
          (loop $a
            ${LONG_WORK}
            (if (i32.ne (local.get $i) (i32.const 2)) (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $a))))
          (br_if $o (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 40))))))`,
  },
  'nested loops and a deep call tree': {
    depth: 0,
    loopChecks: 1,
    // The inner loop is counted and charged whole; the outer one ends at a global's value.
    text: `(module (global $rounds (mut i32) (i32.const 30))
      (func $leaf (param $x i32) (result i32) (i32.mul (i32.add (local.get $x) (i32.const 3)) (i32.const 7)))
      (func $mid (param $x i32) (result i32) (i32.add (call $leaf (local.get $x)) (call $leaf (i32.add (local.get $x) (i32.const 1)))))
      (func $top (param $x i32) (result i32) (i32.add (call $mid (local.get $x)) (call $mid (i32.add (local.get $x) (i32.const 1)))))
      (func (export "main") (local $i i32) (local $j i32) (local $acc i32)
        (loop $outer
          (local.set $j (i32.const 0))
          (loop $inner
            (local.set $acc (i32.add (local.get $acc) (call $top (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 20))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $outer (i32.lt_u (local.get $i) (global.get $rounds))))))`,
  },
};

describe.skipIf(!interp)('preemption bound, measured by wasm-interp', () => {
  /** The longest stretch between yields when `text` runs instrumented, and the report's figures. */
  async function measure(name: string, text: string, checkReturns: boolean) {
    const { binary, report } = await instrument(await wat(text), { asyncify: false, checkReturns, fileName: name });
    const file = join(dir, `${name.replace(/\W+/g, '-')}${checkReturns ? '-checked' : ''}.wasm`);
    writeFileSync(file, binary);
    const trace = execFileSync(interp!, ['--enable-tail-call', '--dummy-import-func', '--trace', '--run-all-exports', file], {
      maxBuffer: 1 << 28,
    }).toString();
    const { longest, yields } = longestStretch(trace);
    expect(yields).toBeGreaterThan(10);
    expect(longest).toBeGreaterThan(0);
    return {
      longest,
      bound: report.reductions!.bound,
      returnStretch: report.reductions!.returnStretch,
      loopChecks: report.reductions!.checks.loops,
    };
  }

  for (const [name, { text, depth, loopChecks: expectedLoopChecks }] of Object.entries(CASES)) {
    it(`holds for ${name}`, async () => {
      const { longest, bound, returnStretch, loopChecks } = await measure(name, text, false);
      if (expectedLoopChecks !== undefined) expect(loopChecks).toBe(expectedLoopChecks);
      expect(longest).toBeLessThanOrEqual(bound + CHECK_INSTRUCTIONS + depth * returnStretch);
    });

    if (depth > 0) {
      it(`holds for ${name} with checked returns, independent of depth`, async () => {
        const { longest, bound, returnStretch } = await measure(name, text, true);
        expect(returnStretch).toBe(0);
        expect(longest).toBeLessThanOrEqual(bound + CHECK_INSTRUCTIONS);
      });
    }
  }
});

/**
 * Programs whose paths differ much in length, the long ones rare (one turn or call in 16): a
 * dispatch loop over arms of 4 and some 280 instructions, a callee that mostly returns early,
 * and a recursion called after short and after long code. Charging the longest path at every
 * check charged these some 8 times what they ran (QuickJS 60 times).
 */
const UNEVEN: Record<string, string> = {
  'a dispatch loop and a callee with an early return': `(module
    (global $rounds (mut i32) (i32.const 3200))
    (func $pick (param $n i32) (result i32) (local $acc i32)
      (if (i32.and (local.get $n) (i32.const 15)) (then (return (local.get $n))))
      (local.set $acc (local.get $n))
      ${LONG_WORK}
      (local.get $acc))
    (func (export "dispatch") (result i32) (local $i i32) (local $acc i32)
      (loop $next
        (block $join
          (block $long
            (block $short
              (br_table ${'$short '.repeat(15)} $long (i32.and (local.get $i) (i32.const 15))))
            (local.set $acc (i32.add (local.get $acc) (call $pick (i32.shr_u (local.get $i) (i32.const 4)))))
            (br $join))
          ${LONG_WORK})
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next (i32.lt_u (local.get $i) (global.get $rounds))))
      (local.get $acc)))`,
  'a recursion called after short and after long code': `(module
    (func $down (param $n i32) (result i32) (local $acc i32)
      (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
      (if (i32.and (local.get $n) (i32.const 15))
        (then (return (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
      (local.set $acc (local.get $n))
      ${LONG_WORK}
      (i32.add (local.get $acc) (call $down (i32.sub (local.get $n) (i32.const 1)))))
    (func (export "recurse") (result i32) (call $down (i32.const 3000))))`,
  // One target list for all the indirect calls, shared by three functions of the cycle; $b is
  // also called directly, after long code: each entry check must take what every call brings.
  'a cycle through a table, one target also called directly': `(module
    (type $t (func (param i32) (result i32)))
    (table 3 funcref) (elem (i32.const 0) $a $b $c)
    (func $a (type $t) (param $n i32) (result i32) (local $acc i32)
      (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
      (local.set $acc (local.get $n))
      ${LONG_WORK}
      (i32.add (local.get $acc) (call $b (i32.sub (local.get $n) (i32.const 1)))))
    (func $b (type $t) (param $n i32) (result i32) (local $acc i32)
      (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
      (local.set $acc (local.get $n))
      (i32.add (local.get $acc) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.rem_u (local.get $n) (i32.const 3)))))
    (func $c (type $t) (param $n i32) (result i32) (local $acc i32)
      (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
      (local.set $acc (local.get $n))
      (i32.add (local.get $acc) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.rem_u (local.get $n) (i32.const 3)))))
    (func (export "cycle") (result i32) (call $a (i32.const 600))))`,
};

describe.skipIf(!interp)('charges, against what wasm-interp counts', () => {
  for (const [name, text] of Object.entries(UNEVEN)) {
    it(`charges about what runs: ${name}`, async () => {
      const original = await wat(text);
      const file = join(dir, `${name.replace(/\W+/g, '-')}-plain.wasm`);
      writeFileSync(file, original);
      const trace = execFileSync(interp!, ['--trace', '--run-all-exports', file], { maxBuffer: 1 << 28 }).toString();
      const executed = longestStretch(trace).total;
      const { binary } = await instrument(original, { asyncify: false, fileName: name });
      const budget = 1e9;
      const after = await instantiateCounted(binary, budget);
      const [entry] = Object.keys(after.exports).filter((key) => typeof after.exports[key] === 'function');
      after.exports[entry!]();
      const charged = budget - (after.instance.exports.lunatic_reductions as WebAssembly.Global).value;
      expect(after.yields()).toBe(0);
      expect(charged / executed).toBeGreaterThan(0.75);
      expect(charged / executed).toBeLessThan(1.5);
    });
  }
});
