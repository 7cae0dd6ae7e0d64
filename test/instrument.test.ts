// The instrumenter on hand-written modules whose behaviour we know exactly: results equal to the
// original's, preemption (yield is called) in loops, recursion, indirect and tail calls, the
// reserved tail hiding its pages, features, and refusals.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { InputError, instrument, readInstrumentSection } from '../src/index.js';
import { asyncifyData, resuming, startUnwind } from './helpers/asyncify-host.js';
import { requireNode24 } from './helpers/tools.js';
import { instantiateCounted, LEAVE_LOOP_FUNCTION, LONG_WORK, SHORT_AND_LONG_RETURNS, WALK_FUNCTION, wat } from './helpers/wat.js';

const SPIN = `(module
  (func (export "spin") (param $n i32) (result i32) (local $i i32) (local $x i32)
    (local.set $x (i32.const 1))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $x)))`;

const MUTUAL = `(module
  (func $even (export "even") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 1)) (else (call $odd (i32.sub (local.get $n) (i32.const 1))))))
  (func $odd (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0)) (else (call $even (i32.sub (local.get $n) (i32.const 1)))))))`;

const INDIRECT = `(module
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $down $leaf)
  (func $down (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 7))
      (else (i32.add (i32.const 1) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))))))
  (func $leaf (param i32) (result i32) (local.get 0))
  (func (export "run") (param $n i32) (result i32) (call_indirect (type $t) (local.get $n) (i32.const 0))))`;

const TAIL = `(module
  (func $count (export "count") (param $n i32) (param $acc i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (local.get $acc))
      (else (return_call $count (i32.sub (local.get $n) (i32.const 1)) (i32.add (local.get $acc) (i32.const 3)))))))`;

const MEMORY = `(module
  (memory (export "mem") 1 4)
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1))))`;

const LEAVE = `(module ${LEAVE_LOOP_FUNCTION})`;

async function both(text: string, options = {}) {
  const original = await wat(text);
  const { binary, report } = await instrument(original, { asyncify: false, ...options });
  return { before: await instantiateCounted(original), after: await instantiateCounted(binary, 1000), report, binary };
}

describe('reduction counter', () => {
  it('preempts a tight loop with no calls and keeps its result', async () => {
    const { before, after, report } = await both(SPIN);
    expect(after.exports.spin(200_000)).toBe(before.exports.spin(200_000));
    // 200k iterations of ~13 instructions with a 1000-unit slice: thousands of yields.
    expect(after.yields()).toBeGreaterThan((200_000 * 10) / 1000);
    expect(report.reductions!.checks.loops).toBe(1);
    expect(report.reductions!.checks.entries).toBe(0);
  });

  it('charges about one unit per instruction', async () => {
    const { after } = await both(SPIN);
    after.exports.spin(100_000);
    const perIteration = (after.yields() * 1000) / 100_000;
    expect(perIteration).toBeGreaterThan(8);
    expect(perIteration).toBeLessThan(25);
  });

  // Recursive, the function gets an entry check and keeps the copy for its whole body instead.
  const recursiveLeave = LEAVE.replace(
    '(local.set $i',
    '(if (i32.lt_s (local.get $how) (i32.const 0)) (then (drop (call $leave (local.get $how) (local.get $n))))) (local.set $i',
  );
  for (const [name, text, entries] of [
    ['loop', LEAVE, 0],
    ['whole body', recursiveLeave, 1],
  ] as const) {
    it(`writes the counter it keeps in a local back on every way out (copy for the ${name})`, async () => {
      const { before, after, report } = await both(text, { unrollRecursion: false });
      expect(report.reductions!.checks).toMatchObject({ loops: 1, entries });
      const counter = after.instance.exports.lunatic_reductions as WebAssembly.Global;
      const iterations = 1000;
      for (const [how, way] of ['br_if with a value', 'br_table', 'return', 'the end of the loop'].entries()) {
        counter.value = 1e9;
        expect(after.exports.leave(how, iterations), way).toBe(before.exports.leave(how, iterations));
        // Each iteration runs some 20 instructions: a way out that lost the copy would leave the global untouched.
        expect(1e9 - counter.value, way).toBeGreaterThan(iterations * 10);
      }
      expect(after.yields()).toBe(0);
    });
  }

  it('leaves alone dead branches out of a loop (operands that never complete)', async () => {
    const text = `(module (func (export "f") (param $n i32) (result i32) (local $i i32)
      (block $out (result i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (if (i32.eq (local.get $i) (i32.const 1000000)) (then (unreachable) (br_if $out (i32.const 1)) (br_table $out $out)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $i))))`;
    for (const asyncify of [false, true]) {
      const { binary } = await instrument(await wat(text), { asyncify });
      const after = await instantiateCounted(binary, 1e9);
      expect(after.exports.f(500)).toBe(500);
    }
  });

  it('preempts mutual recursion', async () => {
    const { before, after, report } = await both(MUTUAL);
    expect(after.exports.even(5001)).toBe(before.exports.even(5001));
    expect(after.exports.even(5000)).toBe(1);
    expect(report.reductions!.checks.entries).toBe(2);
    expect(after.yields()).toBeGreaterThan(10);
  });

  it('preempts recursion through call_indirect', async () => {
    const { before, after, report } = await both(INDIRECT);
    expect(after.exports.run(3000)).toBe(before.exports.run(3000));
    expect(report.reductions!.recursiveFunctions).toBeGreaterThanOrEqual(1);
    expect(after.yields()).toBeGreaterThan(5);
  });

  it('preempts recursion through tail calls', async () => {
    const { before, after } = await both(TAIL);
    expect(after.exports.count(100_000, 0)).toBe(before.exports.count(100_000, 0));
    expect(after.exports.count(100_000, 0)).toBe(300_000);
    expect(after.yields()).toBeGreaterThan(100);
  });

  // fib as clang emits it: one recursive call in a loop.
  const FIB_LOOP = `(module (func $f (export "f") (param $n i32) (result i32) (local $acc i32)
      (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (local.get $n))))
      (loop $l
        (local.set $acc (i32.add (local.get $acc) (call $f (i32.sub (local.get $n) (i32.const 1)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 2)))
        (br_if $l (i32.gt_u (local.get $n) (i32.const 1))))
      (i32.add (local.get $acc) (local.get $n))))`;

  it('needs no loop check where every cycle already passes one (a recursive call), and prepays short returns', async () => {
    const { before, after, report } = await both(FIB_LOOP, { unrollRecursion: false });
    expect(report.reductions!.checks).toMatchObject({ loops: 0, entries: 1, afterCalls: 0 });
    // From the recursive call's return around the loop back to it, or to the end: a few instructions.
    expect(report.reductions!.returnStretch).toBeGreaterThan(0);
    expect(report.reductions!.returnStretch).toBeLessThan(20);
    expect(after.exports.f(25)).toBe(before.exports.f(25));
    expect(after.exports.f(25)).toBe(75025);
  });

  it('checks after recursive returns with checkReturns, for a bound independent of depth', async () => {
    const { before, after, report } = await both(FIB_LOOP, { checkReturns: true, unrollRecursion: false });
    expect(report.reductions!.checks).toMatchObject({ loops: 0, entries: 1, afterCalls: 1 });
    expect(report.reductions!.returnStretch).toBe(0);
    expect(after.exports.f(25)).toBe(before.exports.f(25));
  });

  it('checks after a recursive return followed by long code instead of prepaying it', async () => {
    const text = `(module (func $g (export "g") (param $n i32) (result i32) (local $acc i32)
      (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
      (local.set $acc (call $g (i32.sub (local.get $n) (i32.const 1))))
      ${LONG_WORK}
      (local.get $acc)))`;
    const { before, after, report } = await both(text);
    expect(report.reductions!.checks).toMatchObject({ entries: 1, afterCalls: 1 });
    expect(report.reductions!.returnStretch).toBe(0);
    expect(after.exports.g(500)).toBe(before.exports.g(500));
  });

  it('checks only after the recursive calls followed by long code, prepaying the others', async () => {
    const { before, after, report } = await both(`(module ${SHORT_AND_LONG_RETURNS})`);
    expect(report.reductions!.checks).toMatchObject({ entries: 1, afterCalls: 1 });
    expect(report.reductions!.returnStretch).toBeGreaterThan(0);
    expect(after.exports.g(12)).toBe(before.exports.g(12));
  });

  it('sorts the many calls of an interpreter-like recursion one by one: checks only after those followed by long code', async () => {
    // A dispatch over 12 cases, each calling $g: 10 return into short code, 2 into LONG_WORK.
    // Case i's code follows the end of block $ci, inside block $c(i+1).
    let dispatch = '(br_table $c0 $c1 $c2 $c3 $c4 $c5 $c6 $c7 $c8 $c9 $c10 $c11 (i32.rem_u (local.get $n) (i32.const 12)))';
    for (let i = 0; i < 12; i++) {
      const call = `(local.set $acc (i32.add (call $g (i32.sub (local.get $n) (i32.const 1))) (i32.const ${i})))`;
      dispatch = `(block $c${i} ${dispatch}) ${call} ${i >= 10 ? LONG_WORK : ''} (br $done)`;
    }
    const text = `(module (func $g (export "g") (param $n i32) (result i32) (local $acc i32)
      (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
      (block $done ${dispatch})
      (i32.add (local.get $acc) (local.get $n))))`;
    const { before, after, report } = await both(text);
    expect(report.reductions!.checks).toMatchObject({ entries: 1, afterCalls: 2 });
    expect(report.reductions!.returnStretch).toBeGreaterThan(0);
    expect(report.reductions!.returnStretch).toBeLessThanOrEqual(70);
    expect(after.exports.g(40)).toBe(before.exports.g(40));
  });

  it('sorts thousands of calls whose stretches run on through one another in linear time (each call_indirect may also reach a leaf)', async () => {
    // Each stretch runs on through every later call (the leaf has no check), so all are long:
    // followed one by one in every state, 3,000 of them took 28 s to place; set aside once long, 2 s.
    const call =
      '(local.set $acc (i32.add (local.get $acc) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.and (local.get $n) (i32.const 1)))))';
    const text = `(module (type $t (func (param i32) (result i32))) (table 2 funcref) (elem (i32.const 0) $g $leaf)
      (func $leaf (type $t) (i32.add (local.get 0) (i32.const 1)))
      (func $g (export "g") (type $t) (local $n i32) (local $acc i32)
        (local.set $n (local.get 0))
        (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
        ${call.repeat(3000)}
        (local.get $acc)))`;
    const { before, after, report } = await both(text, { asyncify: false });
    // every call but the last few, whose stretches to the return stay short
    expect(report.reductions!.checks.entries).toBe(1);
    expect(report.reductions!.checks.afterCalls).toBeGreaterThan(2980);
    expect(report.reductions!.checks.afterCalls).toBeLessThan(3000);
    expect(after.exports.g(1)).toBe(before.exports.g(1));
  }, 10_000); // a guard against the quadratic case (18 s here), not a speed figure (2 s)

  it('charges an entry check only for the stretches of the plan it keeps, not of plans tried on the way', async () => {
    // $g's call_indirect may also reach $leaf, outside the cycle, so the stretch before it runs
    // on through it when its return is prepaid. The plan kept checks after it (LONG_WORK follows);
    // the all-prepaid plan tried first would charge LONG_WORK twice at the second call's entry.
    const recursion = (leafType: string) => `(module
      (type $t (func (param i32) (result i32))) (type $other (func (param i64) (result i32)))
      (table 2 funcref) (elem (i32.const 0) $g $leaf)
      (func $leaf (type ${leafType}) (i32.const 0))
      (func $g (export "g") (param $n i32) (result i32) (local $acc i32)
        (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
        ${LONG_WORK}
        (local.set $acc (i32.add (local.get $acc) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))))
        ${LONG_WORK}
        (i32.add (local.get $acc) (call $g (i32.sub (local.get $n) (i32.const 1))))))`;
    const yields = async (leafType: string) => {
      const { before, after } = await both(recursion(leafType));
      expect(after.exports.g(10)).toBe(before.exports.g(10));
      return after.yields();
    };
    const onlyInCycle = await yields('$other');
    // The path through $leaf adds one LONG_WORK at the after-call check: 3 stretches charged for
    // every 2 run (the over-charge made it 5).
    expect(await yields('$t')).toBeLessThan(onlyInCycle * 1.6);
  });

  /**
   * A loop summing $i * 3 while stepping $i by STEP and going round while `(OP $i END)` (`eqz_eq`:
   * `(i32.eqz (i32.eq ...))`). The step is in the test (`tee`), a statement before it (`before`),
   * or in the then-arm of an `if` ending in the way back (`guarded`, testing $i before its step).
   * `start` sets $i first (or not).
   */
  function countedLoop({
    start,
    op = 'ne',
    step = 1,
    end = 64,
    extra = '',
    form = 'tee',
  }: {
    start?: string;
    op?: string;
    step?: number;
    end?: number;
    extra?: string;
    form?: 'tee' | 'before' | 'guarded';
  }): string {
    const next = `(i32.add (local.get $i) (i32.const ${step}))`;
    const test = (counter: string) =>
      op === 'eqz_eq' ? `(i32.eqz (i32.eq ${counter} (i32.const ${end})))` : `(i32.${op} ${counter} (i32.const ${end}))`;
    const backEdge = {
      tee: `(br_if $l ${test(`(local.tee $i ${next})`)})`,
      before: `(local.set $i ${next}) (br_if $l ${test('(local.get $i)')})`,
      guarded: `(if ${test('(local.get $i)')} (then (local.set $i ${next}) (br $l)))`,
    }[form];
    return `(module (func (export "sum") (param $p i32) (result i32) (local $i i32) (local $acc i32)
      ${start === undefined ? '' : `(local.set $i ${start})`}
      (loop $l
        (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (i32.const 3))))
        ${extra}
        ${backEdge})
      (local.get $acc)))`;
  }

  describe('counted loops are charged as straight-line code', () => {
    /** Name, loop shape, loop checks expected, and whether the loop ends soon enough to run it. */
    const cases: Array<[string, Parameters<typeof countedLoop>[0], number, boolean?]> = [
      ['i = 0 .. 64 by ne', { start: '(i32.const 0)' }, 0],
      ['a local never written before, at the function start', {}, 0],
      ['i = 100 down to 0 by ne', { start: '(i32.const 100)', step: -1, end: 0 }, 0],
      ['any start by lt_u', { start: '(local.get $p)', op: 'lt_u', step: 4 }, 0],
      ['an unknown start by ne', { start: '(local.get $p)' }, 1],
      // Never meets its end (an odd counter stepping by 2): only the placement is checked.
      ['a step that does not divide the distance', { start: '(i32.const 1)', step: 2 }, 1, false],
      ['a counter written elsewhere in the body', { start: '(i32.const 0)', extra: '(local.set $i (local.get $i))' }, 1],
      ['too many iterations for the limit', { start: '(i32.const 0)', end: 1_000_000 }, 1],
      // Never ends: 0, 2^30, 2^31, 3 * 2^30 pass the test, and the next step wraps around to 0.
      [
        'lt_u whose counter can step past 2^32 after passing',
        { start: '(i32.const 0)', op: 'lt_u', step: 1 << 30, end: -(1 << 28) },
        1,
        false,
      ],
      ['the step a statement before the test', { start: '(i32.const 0)', form: 'before' }, 0],
      ['a guarded way back, i = 0 .. 64 by ne', { start: '(i32.const 0)', form: 'guarded' }, 0],
      ['a guarded way back by eqz(eq)', { start: '(i32.const 0)', op: 'eqz_eq', form: 'guarded' }, 0],
      ['a guarded way back starting at its end', { start: '(i32.const 64)', form: 'guarded' }, 0],
      ['a guarded way back, any start by lt_u', { start: '(local.get $p)', op: 'lt_u', step: 4, form: 'guarded' }, 0],
      ['a guarded way back from an unknown start by ne', { start: '(local.get $p)', form: 'guarded' }, 1, false],
      [
        'a guarded way back, its counter written elsewhere',
        { start: '(i32.const 0)', form: 'guarded', extra: '(local.set $i (local.get $i))' },
        1,
      ],
    ];
    for (const [name, shape, checks, runs = true] of cases) {
      it(`${name}: ${checks ? 'keeps its check' : 'no check'}, same result`, async () => {
        const { before, after, report } = await both(countedLoop(shape));
        expect(report.reductions!.checks.loops).toBe(checks);
        if (!runs) return;
        for (const p of [0, 7, -4]) expect(after.exports.sum(p)).toBe(before.exports.sum(p));
      });
    }

    it('charges all its iterations at the enclosing loop check', async () => {
      const text = `(module (func (export "outer") (param $n i32) (result i32) (local $j i32) (local $i i32) (local $acc i32)
        (loop $o
          (local.set $i (i32.const 0))
          (loop $l
            (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (i32.const 3))))
            (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 64))))
          (br_if $o (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
        (local.get $acc)))`;
      const { before, binary, report } = await both(text);
      expect(report.reductions!.checks.loops).toBe(1);
      const after = await instantiateCounted(binary, 10_000);
      expect(after.exports.outer(1000)).toBe(before.exports.outer(1000));
      // 1,000 x 64 iterations of 13 instructions against a slice of 10,000: about 83 yields (a
      // few fewer, as a refill forgives what the yielding check overspent). Charging only one
      // iteration per outer round would give 2 or 3.
      expect(after.yields()).toBeGreaterThan(60);
      expect(after.yields()).toBeLessThan(100);
    });
  });

  it('leaves a loop that never branches back without a check', async () => {
    const { report } = await both(`(module (func (export "f") (result i32) (loop $l (result i32) (i32.const 4))))`);
    expect(report.reductions!.checks.total).toBe(0);
  });

  it('reports the bound and exports the ABI items', async () => {
    const { after, report, binary } = await both(SPIN);
    expect(report.reductions!.bound).toBeGreaterThan(5);
    expect(report.reductions!.bound).toBeLessThan(100);
    expect(after.exports.lunatic_reductions).toBeInstanceOf(WebAssembly.Global);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(binary as BufferSource));
    expect(imports).toContainEqual({ module: 'lunatic', name: 'yield', kind: 'function' });
    expect(readInstrumentSection(binary)).toMatchObject({ abi: 1, reductions: true, asyncify: false, bound: report.reductions!.bound });
  });
});

const WALK = `(module (memory (export "memory") 1) ${WALK_FUNCTION} (export "walk" (func $walk)))`;

/**
 * Runs `call` on an Asyncify-instrumented module whose every yield really suspends: unwinds to
 * here, then rewinds. Returns the result and how many suspensions it took.
 */
async function runSuspending(binary: Uint8Array, slice: number, call: (exports: Record<string, any>) => number) {
  let exports: Record<string, any> = {};
  const dataAt = () => (exports.memory as WebAssembly.Memory).buffer.byteLength - exports.lunatic_reserved_pages.value * 65536;
  const yieldNow = () => {
    if (exports.asyncify_get_state() === 2) return void exports.asyncify_stop_rewind();
    exports.lunatic_reductions.value = slice;
    const data = dataAt();
    const view = new DataView((exports.memory as WebAssembly.Memory).buffer);
    view.setInt32(data, data + 8, true);
    view.setInt32(data + 4, (exports.memory as WebAssembly.Memory).buffer.byteLength, true);
    exports.asyncify_start_unwind(data);
  };
  const { instance } = await WebAssembly.instantiate(binary as BufferSource, { lunatic: { yield: yieldNow } });
  exports = instance.exports as Record<string, any>;
  exports.lunatic_reductions.value = slice;
  for (let suspensions = 0; ; suspensions++) {
    const result = call(exports);
    if (exports.asyncify_get_state() !== 1) return { result, suspensions };
    exports.asyncify_stop_unwind();
    exports.asyncify_start_rewind(dataAt());
  }
}

describe('recursion unrolling', () => {
  it('inlines one level of a small self-recursive function, with the same results', async () => {
    const { before, after, report } = await both(WALK);
    expect(report.reductions!.unrolledFunctions).toEqual(['walk']);
    expect(report.reductions!.checks.entries).toBe(1);
    for (let n = 0; n <= 22; n++) expect(after.exports.walk(n)).toBe(before.exports.walk(n));
    expect(after.yields()).toBeGreaterThan(100);
  });

  // The one check charges the longest way through both levels, also when the inner level is a
  // short base case: some overcharge, never a level left uncharged.
  it('charges both levels at the one entry check: no less budget per call than before', async () => {
    const plain = await both(WALK, { unrollRecursion: false });
    const unrolled = await both(WALK);
    plain.after.exports.walk(22);
    unrolled.after.exports.walk(22);
    const ratio = unrolled.after.yields() / plain.after.yields();
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.6);
  });

  it('suspends and resumes inside the inlined level under Asyncify', async () => {
    const original = await instantiateCounted(await wat(WALK));
    const { binary, report } = await instrument(await wat(WALK));
    expect(report.reductions!.unrolledFunctions).toEqual(['walk']);
    const { result, suspensions } = await runSuspending(binary, 200, (exports) => exports.walk(20));
    expect(result).toBe(original.exports.walk(20));
    expect(suspensions).toBeGreaterThan(100);
  });

  it('leaves alone recursive functions that call others or are large', async () => {
    const callsOther = `(module (import "env" "f" (func $f (param i32)))
      (func $r (export "r") (param $n i32) (call $f (local.get $n))
        (if (local.get $n) (then (call $r (i32.sub (local.get $n) (i32.const 1)))))))`;
    const work = Array.from({ length: 30 }, () => '(local.set $n (i32.add (local.get $n) (i32.const 0)))').join(' ');
    const large = `(module (func $r (export "r") (param $n i32) ${work}
        (if (local.get $n) (then (call $r (i32.sub (local.get $n) (i32.const 1)))))))`;
    for (const text of [callsOther, large]) {
      const { report } = await instrument(await wat(text), { asyncify: false });
      expect(report.reductions!.unrolledFunctions).toEqual([]);
      expect(report.reductions!.recursiveFunctions).toBe(1);
    }
  });
});

// A bytecode loop: a br_table over three ops read from memory, branches back to the loop from
// two of them, a branch out when `$n` steps are done, and a way of falling out of the loop's end
// (op 2 at `pc == $stop`), so both copies of an unrolled body leave by every way there is.
const DISPATCH = `(module (memory (export "memory") 1) (data (i32.const 0) "\\00\\01\\02\\00\\02\\01\\02\\02")
  (func (export "run") (param $n i32) (param $stop i32) (result i32) (local $pc i32) (local $acc i32) (local $steps i32)
    (block $done
      (loop $next
        (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
        (br_if $done (i32.gt_u (local.get $steps) (local.get $n)))
        (block $op2 (block $op1 (block $op0
          (br_table $op0 $op1 $op2 (i32.load8_u (i32.and (local.get $pc) (i32.const 7)))))
          (local.set $acc (i32.add (local.get $acc) (i32.const 3)))
          (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
          (br $next))
          (local.set $acc (i32.mul (local.get $acc) (i32.const 5)))
          (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
          (br $next))
        (local.set $acc (i32.xor (local.get $acc) (local.get $pc)))
        (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
        (br_if $next (i32.ne (local.get $pc) (local.get $stop)))))
    (i32.add (local.get $acc) (i32.mul (local.get $steps) (i32.const 1000)))))`;

describe('loop unrolling', () => {
  it('gives a small call-free loop a second copy of its body, with the same results by every way out', async () => {
    const { before, after, report } = await both(DISPATCH);
    expect(report.reductions!.unrolledLoops).toBe(1);
    expect(report.reductions!.checks.loops).toBe(1);
    for (let n = 0; n <= 24; n++) {
      for (const stop of [0, 3, 5, 7, 8, 13, 15, 1000]) expect(after.exports.run(n, stop)).toBe(before.exports.run(n, stop));
    }
  });

  it('checks once per two iterations, charging both', async () => {
    const plain = await both(DISPATCH, { unrollLoops: false });
    expect(plain.report.reductions!.unrolledLoops).toBe(0);
    const unrolled = await both(DISPATCH);
    // A slice of 1 unit: every check that runs yields.
    const checks = async (binary: Uint8Array) => {
      const counted = await instantiateCounted(binary, 1);
      counted.exports.run(10_000, -1);
      return counted.yields();
    };
    expect(await checks(plain.binary)).toBeGreaterThanOrEqual(10_000);
    const unrolledChecks = await checks(unrolled.binary);
    expect(unrolledChecks).toBeGreaterThanOrEqual(5_000);
    expect(unrolledChecks).toBeLessThanOrEqual(5_001);
    // The same budget lasts about as many iterations: each check charges two.
    plain.after.exports.run(100_000, -1);
    unrolled.after.exports.run(100_000, -1);
    const ratio = unrolled.after.yields() / plain.after.yields();
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.3);
  });

  it('suspends and resumes inside either copy under Asyncify', async () => {
    const original = await instantiateCounted(await wat(DISPATCH));
    const { binary, report } = await instrument(await wat(DISPATCH), { unrollLoops: true });
    expect(report.reductions!.unrolledLoops).toBe(1);
    for (const slice of [1, 7, 60]) {
      const { result, suspensions } = await runSuspending(binary, slice, (exports) => exports.run(500, 331));
      expect(result).toBe(original.exports.run(500, 331));
      expect(suspensions).toBeGreaterThan(slice === 1 ? 150 : 10);
    }
  });

  it('leaves alone loops that call, counted loops and large bodies', async () => {
    const calls = `(module (import "env" "f" (func $f (param i32)))
      (func (export "r") (param $n i32) (loop $l (call $f (local.get $n))
        (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`;
    const counted = `(module (memory 1) (func (export "r") (local $i i32)
      (loop $l (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $i))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 16))))))`;
    const work = Array.from({ length: 160 }, () => '(local.set $n (i32.add (local.get $n) (i32.const 3)))').join(' ');
    const large = `(module (func (export "r") (param $n i32) (loop $l ${work} (br_if $l (i32.and (local.get $n) (i32.const 1))))))`;
    for (const text of [calls, counted, large]) {
      const { report } = await instrument(await wat(text), { asyncify: false });
      expect(report.reductions!.unrolledLoops).toBe(0);
    }
  });
});

describe('reserved tail', () => {
  it('hides its pages from the program and zeroes pages it hands over', async () => {
    const original = await wat(MEMORY);
    const { binary, report } = await instrument(original, { reductions: false, reservedPages: 2 });
    expect(report.asyncify!.memoryExport).toBe('mem');
    const { exports } = await instantiateCounted(binary);
    const memory = exports.mem as WebAssembly.Memory;
    expect(memory.buffer.byteLength).toBe(3 * 65536);
    expect(exports.size()).toBe(1);
    expect(exports.lunatic_reserved_pages.value).toBe(2);
    // Dirty the tail as a suspended stack would, then let the program grow into it.
    new Uint8Array(memory.buffer, 65536).fill(0xab);
    expect(exports.grow(1)).toBe(1);
    expect(exports.size()).toBe(2);
    expect(exports.load(65536)).toBe(0);
    expect(exports.load(2 * 65536 - 4)).toBe(0);
    // The original's maximum of 4 pages stays the program's maximum.
    expect(exports.grow(2)).toBe(2);
    expect(exports.grow(1)).toBe(-1);
    expect(exports.size()).toBe(4);
  });

  it('exports memory when the program did not', async () => {
    const { binary, report } = await instrument(await wat(`(module (memory 1) (func (export "f") (result i32) (memory.size)))`), {
      reductions: false,
    });
    expect(report.asyncify!.memoryExport).toBe('memory');
    const { exports } = await instantiateCounted(binary);
    expect(exports.f()).toBe(1);
    expect((exports.memory as WebAssembly.Memory).buffer.byteLength).toBe(2 * 65536);
  });
});

describe('asyncify', () => {
  // Recurses `depth` frames, calls the blocking env.wait at the bottom, and checks on the way
  // back that every frame's memory cell survived.
  const DEEP = `(module
    (import "env" "wait" (func $wait (param i32) (result i32)))
    (memory (export "memory") 1)
    (func $down (param $d i32) (result i32) (local $r i32)
      (i32.store (i32.mul (local.get $d) (i32.const 4)) (i32.add (local.get $d) (i32.const 1000)))
      (if (i32.eqz (local.get $d))
        (then (local.set $r (call $wait (i32.const 5))))
        (else (local.set $r (call $down (i32.sub (local.get $d) (i32.const 1))))))
      (if (i32.ne (i32.load (i32.mul (local.get $d) (i32.const 4))) (i32.add (local.get $d) (i32.const 1000)))
        (then (unreachable)))
      (i32.add (local.get $r) (local.get $d)))
    (func (export "run") (param i32) (result i32) (call $down (local.get 0))))`;

  /** DEEP, whose env.wait suspends it the first time and, resumed, returns twice what it was given. */
  async function suspendingDeep(binary: Uint8Array): Promise<Record<string, any>> {
    let exports: Record<string, any> = {};
    let pending: number | undefined;
    const wait = (x: number) => {
      if (resuming(exports)) return pending! * 2;
      pending = x;
      startUnwind(exports);
      return 0;
    };
    const { instance } = await WebAssembly.instantiate(binary as BufferSource, { env: { wait } });
    exports = instance.exports as Record<string, any>;
    return exports;
  }

  it("reports the input's functions that can suspend, not the yield helpers the counter adds", async () => {
    const { report } = await instrument(await wat(DEEP), { blockingImports: ['env.wait'] });
    expect(report.definedFunctions).toBe(2);
    expect([...report.asyncify!.instrumentedFunctions].sort()).toEqual(['1', 'down']);
  });

  it('suspends deep in a recursion through the reserved tail and resumes with memory intact', async () => {
    const { binary, report } = await instrument(await wat(DEEP), { blockingImports: ['env.wait'], reductions: false });
    expect(report.asyncify!.blockingImports).toEqual(['env.wait']);
    expect(report.asyncify!.instrumentedFunctions).toContain('down');
    expect(report.asyncify!.instrumentedFunctions).toHaveLength(2);
    const exports = await suspendingDeep(binary);
    const before = new Uint8Array((exports.memory as WebAssembly.Memory).buffer.slice(0, 65536));
    const depth = 300;
    exports.run(depth);
    expect(exports.asyncify_get_state()).toBe(1);
    exports.asyncify_stop_unwind();
    // The program's pages are untouched by the saved stack: only the frames' own cells changed.
    const during = new Uint8Array((exports.memory as WebAssembly.Memory).buffer, 0, 65536);
    expect(Buffer.compare(Buffer.from(during.subarray((depth + 1) * 4)), Buffer.from(before.subarray((depth + 1) * 4)))).toBe(0);
    exports.asyncify_start_rewind(asyncifyData(exports));
    const result = exports.run(depth);
    expect(exports.asyncify_get_state()).toBe(0);
    expect(result).toBe(5 * 2 + (depth * (depth + 1)) / 2);
  });

  it('grows the tail when the suspended stack outgrows it, and the stack rewinds whole', async () => {
    const { binary } = await instrument(await wat(DEEP), { blockingImports: ['env.wait'], reductions: false, reservedPages: 1 });
    const exports = await suspendingDeep(binary);
    const memory = exports.memory as WebAssembly.Memory;
    const depth = 8_000; // 8k frames of saved locals do not fit in 64 KiB
    exports.run(depth);
    exports.asyncify_stop_unwind();
    expect(memory.buffer.byteLength / 65536).toBeGreaterThan(2);
    expect(exports.lunatic_reserved_pages.value).toBe(memory.buffer.byteLength / 65536 - 1); // the program keeps its one page
    expect(new Uint8Array(memory.buffer, (depth + 1) * 4, 65536 - (depth + 1) * 4).every((b) => b === 0)).toBe(true);
    exports.asyncify_start_rewind(asyncifyData(exports));
    expect(exports.run(depth)).toBe(5 * 2 + (depth * (depth + 1)) / 2);
  });

  it("traps instead of corrupting memory when binaryen's single-copy Asyncify outgrows its fixed tail", async () => {
    const options = { blockingImports: ['env.wait'], reductions: false, reservedPages: 1, rewindCopies: false };
    const { binary } = await instrument(await wat(DEEP), options);
    let exports: Record<string, any> = {};
    const wait = () => (startUnwind(exports), 0);
    const { instance } = await WebAssembly.instantiate(binary as BufferSource, { env: { wait } });
    exports = instance.exports as Record<string, any>;
    const program = new Uint8Array((exports.memory as WebAssembly.Memory).buffer, 0, 65536);
    expect(() => exports.run(8_000)).toThrow(WebAssembly.RuntimeError);
    expect(program.subarray(8_001 * 4).every((b) => b === 0)).toBe(true);
  });
});

describe('module handling', () => {
  it('keeps the name section', async () => {
    const { binary } = await instrument(await wat(MUTUAL));
    const names = new TextDecoder('latin1').decode(binary);
    expect(names).toContain('even');
    expect(names).toContain('odd');
  });

  it('refuses a module it already instrumented', async () => {
    const { binary } = await instrument(await wat(SPIN));
    await expect(instrument(binary, { fileName: 'x.wasm' })).rejects.toThrow(/^x\.wasm is already instrumented/);
    await expect(instrument(binary)).rejects.toBeInstanceOf(InputError);
  });

  it('detects bulk memory and sign extension without a target_features section', async () => {
    const text = `(module (memory (export "memory") 1)
      (func (export "f") (param i32) (result i32)
        (memory.fill (i32.const 0) (i32.const 7) (i32.const 16))
        (i32.extend8_s (i32.add (local.get 0) (i32.load8_u (i32.const 3))))))`;
    const { binary, report } = await instrument(await wat(text));
    expect(report.features).toEqual(expect.arrayContaining(['bulk-memory', 'sign-ext']));
    expect(report.features).not.toContain('simd128');
    const { exports } = await instantiateCounted(binary);
    expect(exports.f(250)).toBe(((250 + 7) << 24) >> 24);
  });

  it('takes a module without a target_features section that validates as the MVP as just that', async () => {
    const { binary, report } = await instrument(await wat(SPIN));
    expect(report.features).toEqual([]);
    expect(WebAssembly.validate(binary as Uint8Array<ArrayBuffer>)).toBe(true);
  });

  it('refuses threads and exception handling clearly', async () => {
    const shared = await wat(`(module (memory 1 1 shared) (func (export "f") (result i32) (i32.atomic.load (i32.const 0))))`);
    await expect(instrument(shared, { fileName: 's.wasm' })).rejects.toThrow(/^s\.wasm uses threads\/shared memory/);
    const eh = await wat(`(module (tag $e) (func (export "f") (try (do (throw $e)) (catch $e))))`);
    await expect(instrument(eh, { fileName: 'e.wasm' })).rejects.toThrow(/^e\.wasm uses exception handling/);
  });

  it('rejects garbage with one clear line', async () => {
    await expect(instrument(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 200]), { fileName: 'g.wasm' })).rejects.toThrow(
      /^g\.wasm is truncated/,
    );
    await expect(instrument(new TextEncoder().encode('hello'), { fileName: 'h.wasm' })).rejects.toThrow(
      /^h\.wasm is not a WebAssembly module/,
    );
  });
});

describe('blocking imports', () => {
  it('cover every WASI call our runtime may answer with a Promise', async () => {
    const { DEFAULT_BLOCKING_IMPORTS } = await import('../src/index.js');
    const { MAY_WAIT_IMPORTS } = await import('../src/runtime/wasi/index.js');
    for (const name of MAY_WAIT_IMPORTS) expect(DEFAULT_BLOCKING_IMPORTS).toContain(name);
  });
});

describe('tail calls and Asyncify', () => {
  it('refuses tail calls in code that can suspend, and instruments them without Asyncify', async () => {
    const text = `(module (import "env" "wait" (func $wait))
      (func $count (export "count") (param $n i32) (result i32)
        (call $wait)
        (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
          (else (return_call $count (i32.sub (local.get $n) (i32.const 1)))))))`;
    const bytes = await wat(text);
    await expect(instrument(bytes, { fileName: 't.wasm', blockingImports: ['env.wait'] })).rejects.toThrow(
      /^t\.wasm uses tail calls \(return_call\) in function "count".*--no-asyncify/,
    );
    const { binary } = await instrument(bytes, { asyncify: false });
    const { exports } = await instantiateCounted(binary, 1000, { env: { wait: () => {} } });
    expect(exports.count(10_000)).toBe(0);
  });
});

describe('reference-typed locals and Asyncify', () => {
  it('refuses references in locals of code that can suspend, and instruments them without Asyncify', async () => {
    const text = `(module (import "env" "wait" (func $wait))
      (func $keep (export "keep") (param $r externref) (result externref)
        (call $wait)
        (local.get $r)))`;
    const bytes = await wat(text);
    await expect(instrument(bytes, { fileName: 'r.wasm', blockingImports: ['env.wait'] })).rejects.toThrow(
      /^r\.wasm keeps references in locals of function "keep".*--no-asyncify/,
    );
    const { binary } = await instrument(bytes, { asyncify: false });
    const { exports } = await instantiateCounted(binary, 1000, { env: { wait: () => {} } });
    const token = { any: 'object' };
    expect(exports.keep(token)).toBe(token);
  });

  it('refuses a reference result of code that can suspend (fuzz seed 700050: was an internal error)', async () => {
    const bytes = await wat(`(module (import "env" "wait" (func $wait)) (table 1 externref)
      (func $fetch (export "fetch") (result externref) (call $wait) (table.get 0 (i32.const 0))))`);
    await expect(instrument(bytes, { fileName: 'r.wasm', blockingImports: ['env.wait'] })).rejects.toThrow(
      /^r\.wasm returns a reference from function "fetch", which can suspend.*--no-asyncify/,
    );
  });

  it("instruments a multivalue result kept in a local of code that can suspend, and refuses it to binaryen's Asyncify, naming it (fuzz seed 720001)", async () => {
    // binaryen reads the pair into a scratch local of a tuple type.
    const bytes = await wat(`(module (import "env" "wait" (func $wait (param i32) (result i32)))
      (func $pair (param $x i32) (result i32 i32) (call $wait (local.get $x)) (i32.const 100))
      (func (export "sum") (param $x i32) (result i32) (call $pair (local.get $x)) (i32.add)))`);
    await expect(instrument(bytes, { fileName: 'm.wasm', blockingImports: ['env.wait'], rewindCopies: false })).rejects.toThrow(
      /^m\.wasm keeps multivalue tuples in locals of function "1", which can suspend.*--no-asyncify/,
    );
    for (const asyncify of [true, false]) {
      const { binary } = await instrument(bytes, { asyncify, blockingImports: ['env.wait'] });
      const { exports } = await instantiateCounted(binary, 1000, { env: { wait: (x: number) => x * 2 } });
      expect(exports.sum(21), `asyncify: ${asyncify}`).toBe(142);
    }
  });

  it('refuses a reference held across a call that can suspend, and instruments it without Asyncify', async () => {
    // No reference in a local or a result: the table entry waits on the stack for `$wait`'s result.
    const bytes = await wat(`(module (import "env" "wait" (func $wait (result i32)))
      (import "env" "take" (func $take (param externref i32) (result i32))) (table 1 externref)
      (func (export "pass") (result i32) (call $take (table.get 0 (i32.const 0)) (call $wait))))`);
    await expect(instrument(bytes, { fileName: 'r.wasm', blockingImports: ['env.wait'] })).rejects.toThrow(
      /^r\.wasm holds a reference across a call that can suspend, and Asyncify cannot save it; .*--no-asyncify/,
    );
    const { binary } = await instrument(bytes, { asyncify: false });
    const { exports } = await instantiateCounted(binary, 1000, {
      env: { wait: () => 7, take: (r: unknown, n: number) => (r === null ? n : -1) },
    });
    expect(exports.pass()).toBe(7);
  });
});

describe('process state and vectors', () => {
  it('leaves a mutable vector global unexported, which a host cannot read, and says the module is not resettable', async () => {
    const bytes = await wat(`(module (memory 1) (global $v (mut v128) (v128.const i32x4 7 0 0 0)) (global $n (mut i32) (i32.const 3))
      (func (export "f") (result i32) (global.set $v (i32x4.add (global.get $v) (global.get $v))) (i32x4.extract_lane 0 (global.get $v))))`);
    const { binary, report } = await instrument(bytes);
    expect(report.state).toMatchObject({ resettable: false, reason: expect.stringMatching(/vector, which a host cannot read/) });
    const { exports } = await instantiateCounted(binary, 1000, {});
    const state = Object.keys(exports).filter((name) => name.startsWith('lunatic_global_'));
    expect(state.length).toBe(report.state.globals);
    // Every exported state global can be read (a vector's value would throw).
    expect(state.map((name) => typeof (exports[name] as WebAssembly.Global).value)).not.toContain('undefined');
    expect(state.map((name) => (exports[name] as WebAssembly.Global).value)).toContain(3);
    expect(exports.f()).toBe(14);
  });
});

describe('several memories', () => {
  it('refuses them with Asyncify, and instruments them without it for a JSPI host, which runs them with yields', async () => {
    const bytes = await wat(`(module (memory 1) (memory $b 1)
      (func (export "f") (param $n i32) (result i32) (local $i i32)
        (loop $l
          (i32.store $b (i32.const 8) (i32.add (i32.load $b (i32.const 8)) (local.get $i)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
        (i32.load $b (i32.const 8))))`);
    await expect(instrument(bytes, { fileName: 'm.wasm' })).rejects.toThrow(/^m\.wasm has several memories; .*--no-asyncify/);
    const { binary, report } = await instrument(bytes, { asyncify: false });
    expect(report.features).toContain('multimemory');
    const node24 = requireNode24();
    if (!node24) return;
    // Node 20 runs several memories only behind a flag; Node 24 (the JSPI host) by default.
    const script = `const module = new WebAssembly.Module(Buffer.from(process.argv[1], 'base64'));
      let yields = 0, instance;
      const refill = () => { instance.exports.lunatic_reductions.value = 1000; };
      instance = new WebAssembly.Instance(module, { lunatic: { yield: () => { yields++; refill(); } } });
      refill();
      console.log(instance.exports.f(5000), yields > 0);`;
    const out = execFileSync(node24, ['-e', script, Buffer.from(binary).toString('base64')], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${(4999 * 5000) / 2} true`);
  });
});
