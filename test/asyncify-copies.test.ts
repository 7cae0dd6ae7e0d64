// The two-copy Asyncify (passes/asyncify/asyncify-copies.ts) against the plain program: suspensions at
// every kind of place a rewind must find its way back to (a loop, an if arm, a br_table target,
// a recursion, an indirect call, a second suspension of a frame already resumed), with locals of
// every numeric type live across them; and the fall-back to binaryen's Asyncify.
import { describe, expect, it } from 'vitest';
import { CannotLift, liftCallSites } from '../passes/asyncify/lift-call-sites.js';
import { accessor, type ExpressionRef } from '../passes/ir/binaryen.js';
import { Liveness } from '../passes/ir/liveness.js';
import { definedFunctions } from '../passes/ir/module.js';
import { branchTargets, childSlots, kindOf, type Slot } from '../passes/ir/walker.js';
import { loadBinaryen } from '../src/binaryen.js';
import { instrument, type InstrumentOptions } from '../src/index.js';
import { wasmFunctionsOf } from '../src/runtime/trap.js';
import { resuming, runToEnd, startUnwind } from './helpers/asyncify-host.js';
import { wat } from './helpers/wat.js';

/** `wait(x)` blocks; it answers 3x + 1. Everything else is arithmetic on what it answered. */
const PROGRAM = `(module
  (import "env" "wait" (func $wait (param i32) (result i32)))
  (memory (export "memory") 1)
  (type $step (func (param i32) (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $leaf $recurse)
  (func $leaf (param $x i32) (result i64)
    (i64.extend_i32_u (call $wait (local.get $x))))
  (func $recurse (param $d i32) (result i64) (local $mine f64)
    (local.set $mine (f64.convert_i32_u (i32.mul (local.get $d) (i32.const 7))))
    (if (result i64) (i32.eqz (local.get $d))
      (then (call_indirect (type $step) (i32.const 11) (i32.const 0)))
      (else (i64.add
        (call_indirect (type $step) (i32.sub (local.get $d) (i32.const 1)) (i32.const 1))
        (i64.trunc_f64_u (f64.mul (local.get $mine) (f64.const 1.5)))))))
  (func $mix (export "mix") (param $n i32) (result i64)
    (local $i i32) (local $acc i64) (local $f f32) (local $d f64) (local $h i64)
    (local.set $d (f64.const 1))
    (loop $next
      (local.set $h (i64.add (i64.mul (local.get $h) (i64.const 31)) (i64.extend_i32_u (local.get $i))))
      (local.set $f (f32.add (local.get $f) (f32.const 1.5)))
      (if (i32.eqz (i32.rem_u (local.get $i) (i32.const 3)))
        (then (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (call $wait (local.get $i))))))
        (else (local.set $acc (i64.add (local.get $acc) (call $recurse (i32.rem_u (local.get $i) (i32.const 5)))))))
      (block $two (block $one (block $zero
        (br_table $zero $one $two (i32.rem_u (local.get $i) (i32.const 3))))
        (local.set $d (f64.mul (local.get $d) (f64.const 1.25)))
        (br $two))
        (local.set $acc (i64.xor (local.get $acc) (i64.extend_i32_u (call $wait (i32.add (local.get $i) (i32.const 100)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
    (i64.add (i64.add (local.get $acc) (local.get $h))
      (i64.add (i64.trunc_f32_u (local.get $f)) (i64.trunc_f64_u (local.get $d)))))
  (func $indirect (export "indirect") (param $d i32) (result i64)
    (call_indirect (type $step) (local.get $d) (i32.const 1))))`;

/** The exports of PROGRAM each test calls, with their argument. */
const ENTRY_CALLS = [
  ['mix', 40],
  ['indirect', 6],
  ['indirect', 0],
] as const;

const answer = (x: number) => 3 * x + 1;

/** For a module's defined functions: which of them call `callee` directly. */
async function callersIn(binary: Uint8Array): Promise<(callee: string) => Set<string>> {
  const binaryen = await loadBinaryen();
  const module = binaryen.readBinary(binary);
  try {
    const calls = new Map<string, Set<string>>();
    const walk = (expr: ExpressionRef, into: Set<string>): void => {
      if (kindOf(binaryen, expr) === 'Call') into.add(accessor<string>(binaryen, 'Call', 'getTarget')(expr));
      for (const slot of childSlots(binaryen, expr)) walk(slot.get(), into);
    };
    for (let i = 0; i < module.getNumFunctions(); i++) {
      const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
      if (info.module) continue;
      const into = new Set<string>();
      walk(info.body, into);
      calls.set(info.name, into);
    }
    return (callee) => new Set([...calls].filter(([, callees]) => callees.has(callee)).map(([name]) => name));
  } finally {
    module.dispose();
  }
}

/**
 * For every unwind branch of the functions named `names` in `binary` (a `br` to a block whose
 * value is the call index a `<name>$save` call takes): the locals that save reads which, at that
 * call site, are neither live on the normal path after the site's call, nor read by the call, nor
 * zeroed on the way to the branch. Each of them would be a dead value kept alive across the call
 * for nothing but the save. Also returns how many branches were checked.
 */
async function staleSavedLocals(binary: Uint8Array, names: string[]): Promise<{ stale: string[]; branches: number }> {
  const binaryen = await loadBinaryen();
  const module = binaryen.readBinary(binary);
  const stale: string[] = [];
  let branches = 0;
  try {
    for (const name of names) {
      const func = module.getFunction(name);
      const body = binaryen.getFunctionInfo(func).body;
      // Each save: its label (the block that is the saver's first operand) and the locals it passes.
      const saveReads = new Map<string, number[]>();
      // Each statement holding a `br` to a save, with the slot it sits in and the statement before it.
      const unwinds: Array<{ label: string; statement: ExpressionRef; slot: Slot; call: ExpressionRef }> = [];
      const walk = (expr: ExpressionRef, statementOf: { expr: ExpressionRef; slot: Slot; previous: ExpressionRef } | undefined) => {
        const kind = kindOf(binaryen, expr);
        if (kind === 'Call' && accessor<string>(binaryen, 'Call', 'getTarget')(expr).endsWith('$save')) {
          const [index, ...values] = childSlots(binaryen, expr).map((slot) => slot.get());
          const label = accessor<string | null>(binaryen, 'Block', 'getName')(index!);
          if (label)
            saveReads.set(
              label,
              values.filter((v) => kindOf(binaryen, v) === 'LocalGet').map((v) => accessor(binaryen, 'LocalGet', 'getIndex')(v)),
            );
        }
        if (kind === 'Break' && statementOf)
          // (Its targets: only those of a save are checked.)
          for (const label of branchTargets(binaryen, expr, kind))
            unwinds.push({ label, statement: statementOf.expr, slot: statementOf.slot, call: statementOf.previous });
        childSlots(binaryen, expr).forEach((slot, i, slots) => {
          const child = slot.get();
          // An unwind test: an `if` on the state global (or, as binaryen's, a dropped `br_if`), after its call.
          const childKind = kindOf(binaryen, child);
          const test =
            (childKind === 'If' && kindOf(binaryen, accessor(binaryen, 'If', 'getCondition')(child)) === 'GlobalGet') ||
            (childKind === 'Drop' && kindOf(binaryen, accessor(binaryen, 'Drop', 'getValue')(child)) === 'Break');
          const inBlock = kind === 'Block' && i > 0 && test;
          walk(child, inBlock ? { expr: child, slot, previous: slots[i - 1]!.get() } : statementOf);
        });
      };
      walk(body, undefined);
      const checked = unwinds.filter(({ label }) => saveReads.has(label));
      // The normal path alone: each unwind statement made a nop, whose live-in is what the code after the site reads.
      const nops = new Map(checked.map((unwind) => [unwind, module.nop()]));
      for (const [unwind, nop] of nops) unwind.slot.set(nop);
      const watched = new Set(nops.values());
      const liveness = new Liveness(binaryen, (expr) => watched.has(expr));
      liveness.run(body);
      const localsIn = (expr: ExpressionRef, kind: 'LocalGet' | 'LocalSet', into = new Set<number>()): Set<number> => {
        if (kindOf(binaryen, expr) === kind) into.add(accessor(binaryen, kind, 'getIndex')(expr));
        for (const slot of childSlots(binaryen, expr)) localsIn(slot.get(), kind, into);
        return into;
      };
      for (const unwind of checked) {
        branches++;
        const fine = new Set([
          ...liveness.liveIn.get(nops.get(unwind)!)!,
          ...localsIn(unwind.call, 'LocalGet'),
          ...localsIn(unwind.statement, 'LocalSet'),
        ]);
        for (const local of saveReads.get(unwind.label)!) if (!fine.has(local)) stale.push(`${name}: local ${local} at ${unwind.label}`);
      }
    }
    return { stale, branches };
  } finally {
    module.dispose();
  }
}

/**
 * Runs `entry(...args)`, suspending at every `wait` (`env`: more imports of module "env"), and
 * returns the result and the suspensions.
 */
async function runSuspendingWith(
  binary: Uint8Array,
  env: WebAssembly.ModuleImports,
  entry: string,
  ...args: number[]
): Promise<{ result: unknown; suspensions: number }> {
  let exports: Record<string, any> = {};
  let asked = 0;
  const wait = (x: number) => {
    if (resuming(exports)) return answer(asked);
    asked = x;
    startUnwind(exports);
    return 0;
  };
  const { instance } = await WebAssembly.instantiate(binary as BufferSource, { env: { ...env, wait } });
  exports = instance.exports as Record<string, any>;
  const run = runToEnd(exports, entry, ...args);
  expect(exports.asyncify_get_state()).toBe(0);
  return run;
}

const runSuspending = (binary: Uint8Array, entry: string, ...args: number[]) => runSuspendingWith(binary, {}, entry, ...args);

async function runPlain(binary: Uint8Array, entry: string, ...args: number[]): Promise<{ result: unknown; waits: number }> {
  let waits = 0;
  const { instance } = await WebAssembly.instantiate(binary as BufferSource, { env: { wait: (x: number) => (waits++, answer(x)) } });
  return { result: (instance.exports as Record<string, any>)[entry](...args), waits };
}

/**
 * Runs `entry(...args)` of a module with reduction checks, suspending at every wait and at every
 * yield (each of which gives the process 50 reductions); returns its result and the yields.
 */
async function runYielding(binary: Uint8Array, entry: string, ...args: number[]): Promise<{ result: unknown; yields: number }> {
  let exports: Record<string, any> = {};
  let yields = 0;
  let asked = 0;
  const imports = {
    env: { wait: (x: number) => (resuming(exports) ? answer(asked) : ((asked = x), startUnwind(exports), 0)) },
    lunatic: {
      yield: () => {
        exports.lunatic_reductions.value = 50;
        if (!resuming(exports)) yields++, startUnwind(exports);
      },
    },
  };
  const { instance } = await WebAssembly.instantiate(binary as BufferSource, imports);
  exports = instance.exports as Record<string, any>;
  return { result: runToEnd(exports, entry, ...args).result, yields };
}

/** Loops a resumed frame turns again: each hands the frame back to its fast copy (passes/asyncify/reentry.ts). */
const LOOPS = `(module
  (import "env" "wait" (func $wait (param i32) (result i32)))
  (memory (export "memory") 1)
  (type $walk (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $walk)
  (func (export "turns") (param $n i32) (result i64) (local $i i32) (local $h i64) (local $f f32) (local $d f64)
    (local.set $d (f64.const 1))
    (loop $turn
      (local.set $h (i64.add (i64.mul (local.get $h) (i64.const 31)) (i64.extend_i32_u (call $wait (local.get $i)))))
      (local.set $f (f32.add (local.get $f) (f32.const 0.5)))
      (local.set $d (f64.mul (local.get $d) (f64.const 1.125)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $turn (i32.lt_u (local.get $i) (local.get $n))))
    (i64.add (local.get $h) (i64.add (i64.trunc_f32_u (local.get $f)) (i64.trunc_f64_u (local.get $d)))))
  (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7)) (call $wait (i32.add (local.get $i) (local.get $j)))))
        (local.set $acc (i32.xor (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $acc (i32.rotl (local.get $acc) (i32.const 5)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (i32.const 5))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))
  (func (export "sequence") (param $n i32) (param $second i32) (result i32) (local $i i32) (local $acc i32)
    (local.set $acc (block (result i32)
      (loop $first
        (local.set $acc (i32.add (local.get $acc) (call $wait (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $first (i32.lt_u (local.get $i) (local.get $n))))
      (if (local.get $second)
        (then (loop $then
          (local.set $acc (i32.xor (local.get $acc) (call $wait (local.get $i))))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br_if $then (local.get $i))))
        (else (loop $else
          (local.set $acc (i32.sub (local.get $acc) (call $wait (local.get $i))))
          (local.set $i (i32.sub (local.get $i) (i32.const 2)))
          (br_if $else (i32.gt_s (local.get $i) (i32.const 0))))))
      (i32.mul (local.get $acc) (i32.const 3))))
    (local.get $acc))
  (func $walk (param $d i32) (result i32) (local $k i32) (local $sum i32)
    (loop $each
      (local.set $sum (i32.add (local.get $sum) (call $wait (i32.add (local.get $d) (local.get $k)))))
      (if (local.get $d)
        (then (local.set $sum (i32.add (local.get $sum) (call_indirect (type $walk) (i32.sub (local.get $d) (i32.const 1)) (i32.const 0))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $k) (i32.const 3))))
    (local.get $sum))
  (func (export "tree") (param $d i32) (result i32) (call_indirect (type $walk) (local.get $d) (i32.const 0))))`;

/**
 * `binary` with every hand-back counted: in each `<name>$resume`, the call of the copy a handed-back
 * frame goes on in (made only when the rewind copy handed the frame back: the re-entry copy, or
 * with `reentryCopies: false` the fast copy) first calls the import `env.handedBack`.
 */
async function countingHandBacks(binary: Uint8Array, reentryCopies = true): Promise<Uint8Array> {
  const binaryen = await loadBinaryen();
  const module = binaryen.readBinary(binary);
  try {
    // What the instrumenter's output may use here (its memory.grow helper fills, its counter is exported; vectors).
    module.setFeatures(
      binaryen.Features.MutableGlobals | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt | binaryen.Features.SIMD128,
    );
    module.addFunctionImport('lunatic_test_handed_back', 'env', 'handedBack', binaryen.none, binaryen.none);
    const wrap = (expr: ExpressionRef, fast: string, slot: Slot | undefined): void => {
      if (slot && kindOf(binaryen, expr) === 'Call' && accessor<string>(binaryen, 'Call', 'getTarget')(expr) === fast) {
        const counted = module.call('lunatic_test_handed_back', [], binaryen.none);
        slot.set(module.block(null, [counted, expr], binaryen.getExpressionType(expr)));
        return;
      }
      for (const child of childSlots(binaryen, expr)) wrap(child.get(), fast, child);
    };
    for (let i = 0; i < module.getNumFunctions(); i++) {
      const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
      const base = info.name.slice(0, -'$resume'.length);
      if (info.name.endsWith('$resume')) wrap(info.body, reentryCopies ? `${base}$reenter` : base, undefined);
    }
    expect(module.validate()).toBe(1);
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}

/** runSuspending, counting the hand-backs of a binary made by countingHandBacks. */
async function runCountingHandBacks(binary: Uint8Array, entry: string, ...args: number[]) {
  let handBacks = 0;
  const run = await runSuspendingWith(binary, { handedBack: () => handBacks++ }, entry, ...args);
  return { ...run, handBacks };
}

describe('two-copy Asyncify', () => {
  const options: InstrumentOptions = { blockingImports: ['env.wait'], reductions: false };

  it('resumes in loops, if arms, br_table targets, recursions and indirect calls with the plain result', async () => {
    const plain = await wat(PROGRAM);
    const { binary, report } = await instrument(plain, options);
    expect(report.asyncify!.rewindCopies).toBe(true);
    for (const [entry, arg] of ENTRY_CALLS) {
      const expected = await runPlain(plain, entry, arg);
      const got = await runSuspending(binary, entry, arg);
      expect(got.result, `${entry}(${arg})`).toBe(expected.result);
      // Every wait suspended: each frame above it was saved and restored as often.
      expect(got.suspensions, `${entry}(${arg})`).toBe(expected.waits);
    }
  });

  it.each([true, false])(
    "hands a frame resumed in a loop back to fast code at the loop's next turn, with the plain result (reentryCopies: %s)",
    async (reentryCopies) => {
      const plain = await wat(LOOPS);
      const { binary } = await instrument(plain, { ...options, handBackAbove: 0, reentryCopies });
      const counting = await countingHandBacks(binary, reentryCopies);
      // [entry, args, hand-backs]: every resume but the last is followed by another turn of a loop
      // (the inner one, or the outer one when the inner ended; in "sequence", the second loop
      // after the first's last resume).
      const cases: Array<[string, number[], number | undefined]> = [
        ['turns', [6], 5],
        ['nested', [3], 14],
        ['sequence', [4, 1], 4 + 4 - 1],
        ['sequence', [5, 0], 5 + 3 - 1],
        ['tree', [2], undefined],
      ];
      for (const [entry, args, handBacks] of cases) {
        const label = `${entry}(${args.join(', ')})`;
        const expected = await runPlain(plain, entry, ...args);
        const got = await runCountingHandBacks(counting, entry, ...args);
        expect({ result: got.result, suspensions: got.suspensions }, label).toEqual({
          result: expected.result,
          suspensions: expected.waits,
        });
        if (handBacks !== undefined) expect(got.handBacks, label).toBe(handBacks);
        else expect(got.handBacks, label).toBeGreaterThan(expected.waits / 2);
      }
    },
  );

  it('keeps the hand-back out of the fast copy: only the re-entry copy takes the carried locals back', async () => {
    const { binary } = await instrument(await wat(LOOPS), { ...options, handBackAbove: 0 });
    const binaryen = await loadBinaryen();
    const module = binaryen.readBinary(binary);
    try {
      const globalsRead = (expr: ExpressionRef, out = new Set<string>()): Set<string> => {
        if (kindOf(binaryen, expr) === 'GlobalGet') out.add(accessor<string>(binaryen, 'GlobalGet', 'getName')(expr));
        for (const slot of childSlots(binaryen, expr)) globalsRead(slot.get(), out);
        return out;
      };
      const carried = (name: string) =>
        [...globalsRead(binaryen.getFunctionInfo(module.getFunction(name)).body)].filter((g) => g.startsWith('lunatic_asyncify_carry'));
      const reentryCopies = definedFunctions(binaryen, module)
        .map((func) => binaryen.getFunctionInfo(func).name)
        .filter((name) => name.endsWith('$reenter'));
      expect(reentryCopies.length).toBeGreaterThanOrEqual(3);
      for (const reentry of reentryCopies) {
        expect(carried(reentry).length, reentry).toBeGreaterThan(0);
        expect(carried(reentry.slice(0, -'$reenter'.length)), reentry).toEqual([]);
      }
    } finally {
      module.dispose();
    }
  });

  it("gives a command's _start, which runs once, no re-entry copy: its frame is handed back to its fast copy", async () => {
    const command = `(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (global $sum (mut i32) (i32.const 0))
      (func $inner (param $n i32) (result i32) (local $i i32) (local $acc i32)
        (loop $turn
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3)) (call $wait (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $turn (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $acc))
      (func (export "_start") (local $k i32)
        (loop $each
          (global.set $sum (i32.add (global.get $sum) (call $inner (i32.add (local.get $k) (i32.const 2)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $each (i32.lt_u (local.get $k) (i32.const 4))))))`;
    const { binary } = await instrument(await wat(command), { ...options, handBackAbove: 0 });
    const binaryen = await loadBinaryen();
    const module = binaryen.readBinary(binary);
    try {
      const names = definedFunctions(binaryen, module).map((func) => binaryen.getFunctionInfo(func).name);
      expect(names.filter((name) => name.endsWith('$resume')).length).toBe(2);
      expect(names.filter((name) => name.endsWith('$reenter'))).toEqual(['inner$reenter']);
    } finally {
      module.dispose();
    }
  });

  it('hands frames back in PROGRAM too, which resumes alike', async () => {
    const plain = await wat(PROGRAM);
    const counting = await countingHandBacks((await instrument(plain, { ...options, handBackAbove: 0 })).binary);
    const expected = await runPlain(plain, 'mix', 40);
    const got = await runCountingHandBacks(counting, 'mix', 40);
    expect(got.result).toBe(expected.result);
    expect(got.handBacks).toBeGreaterThan(30);
  });

  it('with reduction checks too, and with every yield suspending', async () => {
    const plain = await wat(PROGRAM);
    const { binary } = await instrument(plain, { blockingImports: ['env.wait'] });
    const { result, yields } = await runYielding(binary, 'mix', 40);
    expect(result).toBe((await runPlain(plain, 'mix', 40)).result);
    expect(yields).toBeGreaterThan(10);
  });

  it('keeps the order of evaluation around calls lifted out of expressions', async () => {
    // Calls that can suspend in the middle of expressions: after a local.tee the same expression
    // reads again (musl's __fmodeflags), as an if condition with effects, inside a value block,
    // as operands of calls, selects, br_if, call_indirect, stores and returns.
    const plain = await wat(`(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (type $un (func (param i32) (result i32)))
      (table 1 funcref)
      (elem (i32.const 0) $twice)
      (func $twice (param $v i32) (result i32) (i32.add (call $wait (local.get $v)) (local.get $v)))
      (func $pure (param $a i32) (param $b i32) (result i32) (i32.sub (i32.mul (local.get $a) (i32.const 5)) (local.get $b)))
      (func (export "nested") (param $x i32) (result i32) (local $t i32) (local $u i32)
        (local.set $u
          (i32.add
            (i32.or (local.tee $t (select (i32.const 7) (local.get $x) (call $wait (local.get $x)))) (i32.const 256))
            (i32.mul (local.get $t) (call $wait (i32.add (local.get $t) (i32.const 1))))))
        (local.set $u (select (local.get $u) (local.get $t) (call $wait (local.get $u))))
        (if (i32.and (local.tee $t (call $wait (local.get $u))) (i32.const 1))
          (then (local.set $u (i32.add (local.get $u) (local.get $t)))))
        (if (i32.and (local.tee $t (i32.add (local.get $t) (i32.const 1))) (i32.const 1))
          (then (local.set $u (i32.add (call $wait (local.get $u)) (local.get $t))))
          (else (local.set $u (i32.sub (call $wait (local.get $u)) (local.get $t)))))
        (local.set $u (i32.add (local.get $u)
          (block (result i32) (local.set $u (i32.mul (local.get $u) (i32.const 3))) (call $wait (local.get $u)))))
        (i32.store (i32.and (local.get $u) (i32.const 1020)) (call $pure (local.get $u) (call $wait (local.tee $t (i32.const 5)))))
        (block $out
          (br_if $out (i32.gt_u (call $wait (local.get $t)) (i32.load (i32.and (local.get $u) (i32.const 1020)))))
          (local.set $u (i32.xor (local.get $u) (i32.const 99))))
        (local.set $u (i32.add (local.get $u)
          (call_indirect (type $un) (call $wait (local.get $u)) (i32.and (call $wait (local.get $t)) (i32.const 0)))))
        (return (i32.add (local.get $u) (call $twice (i32.load (i32.and (local.get $u) (i32.const 1020))))))))`);
    const { binary, report } = await instrument(plain, options);
    expect(report.asyncify!.rewindCopies).toBe(true);
    for (const arg of [0, 1, 6]) {
      const expected = await runPlain(plain, 'nested', arg);
      const got = await runSuspending(binary, 'nested', arg);
      expect(got.result, `nested(${arg})`).toBe(expected.result);
      expect(got.suspensions, `nested(${arg})`).toBe(expected.waits);
    }
  });

  it('flattens a function whose call comes after an unreachable value, and still gives it copies', async () => {
    // The lifter cannot spill a value that never arrives; binaryen's flatten handles that arm.
    const plain = await wat(`(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "f") (param $x i32) (result i32)
        (if (result i32) (local.get $x)
          (then (i32.add (call $wait (local.get $x)) (i32.mul (local.get $x) (call $wait (i32.const 2)))))
          (else (i32.add (unreachable) (call $wait (local.get $x)))))))`);
    const { binary, report } = await instrument(plain, options);
    expect(report.asyncify!.rewindCopies).toBe(true);
    const expected = await runPlain(plain, 'f', 3);
    expect(await runSuspending(binary, 'f', 3)).toEqual({ result: expected.result, suspensions: expected.waits });
  });

  it('saves a frame through one saver per function, shared by both copies', async () => {
    const { binary } = await instrument(await wat(PROGRAM), options);
    const callers = await callersIn(binary);
    for (const name of ['leaf', 'recurse', 'mix', 'indirect'])
      expect(callers(`${name}$save`), name).toEqual(new Set([name, `${name}$rewind`]));
  });

  it("calls from a rewind copy go to the callees' rewind copies, which pass an ordinary call on to their function", async () => {
    const plain = await wat(PROGRAM);
    const { binary } = await instrument(plain, options);
    const callers = await callersIn(binary);
    // One call per site, not a test and two calls: a rewind copy calls a fast copy only to pass a call on.
    for (const name of ['leaf', 'recurse', 'mix'])
      expect(
        [...callers(name)].filter((caller) => caller.includes('$rewind')),
        name,
      ).toEqual([`${name}$rewind`]);
    // mix's loop goes on calling recurse and wait after a rewind into it, through those pass-ons.
    for (const [entry, arg] of ENTRY_CALLS) {
      const expected = await runPlain(plain, entry, arg);
      expect(await runSuspending(binary, entry, arg), `${entry}(${arg})`).toEqual({ result: expected.result, suspensions: expected.waits });
    }
  });

  it('names a trap in a call from a resumed frame as the program has it, without the frames that pass calls on between copies', async () => {
    const program = `(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (func $crash_if (param $i i32) (result i32)
        (if (i32.eq (local.get $i) (i32.const 3)) (then unreachable))
        (if (i32.eq (local.get $i) (i32.const 100)) (then (drop (call $wait (local.get $i)))))
        (i32.add (local.get $i) (i32.const 1)))
      (func $main (export "main") (result i32) (local $i i32) (local $acc i32)
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (call $wait (local.get $i))))
          (local.set $acc (i32.add (local.get $acc) (call $crash_if (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
        (local.get $acc)))`;
    const trapped = async (names: boolean) => {
      const { binary } = await instrument(await wat(program, { names }), options);
      const error = await runSuspending(binary, 'main').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(WebAssembly.RuntimeError);
      return { stack: (error as Error).stack!, module: new WebAssembly.Module(binary as BufferSource) };
    };
    const { stack, module } = await trapped(true);
    // After the first suspension main runs in its rewind copy (entered through the export, which
    // passes the rewind on), whose call reaches crash_if through crash_if$rewind.
    expect(stack).toMatch(/crash_if\$rewind/);
    expect(wasmFunctionsOf(stack, module)).toEqual(['crash_if', 'main']);
    // Without a name section the copies go by the index V8 gives their function (crash_if is
    // defined function 0, main 1, after the imports).
    const unnamed = await trapped(false);
    const imports = WebAssembly.Module.imports(unnamed.module).filter((entry) => entry.kind === 'function').length;
    expect(wasmFunctionsOf(unnamed.stack, unnamed.module)).toEqual([`wasm-function[${imports}]`, `wasm-function[${imports + 1}]`]);
  });

  it('gives a function past singleCopyAbove its rewind copy alone, which runs normally and resumes alike', async () => {
    const plain = await wat(PROGRAM);
    const mixes: number[] = [];
    for (const limit of [0, 10, 20, 40, 80, 160]) {
      const { binary, report } = await instrument(plain, { ...options, singleCopyAbove: limit });
      const { singleCopies, instrumentedFunctions } = report.asyncify!;
      if (singleCopies > 0 && singleCopies < instrumentedFunctions.length) mixes.push(limit);
      const callers = await callersIn(binary);
      const rewindCopies = instrumentedFunctions.filter((name) => callers(`${name}$save`).has(`${name}$rewind`));
      expect(rewindCopies.length, `limit ${limit}`).toBe(instrumentedFunctions.length - singleCopies);
      for (const [entry, arg] of ENTRY_CALLS) {
        const expected = await runPlain(plain, entry, arg);
        expect(await runPlain(binary, entry, arg), `${entry}(${arg}), limit ${limit}, not suspending`).toEqual(expected);
        expect(await runSuspending(binary, entry, arg), `${entry}(${arg}), limit ${limit}`).toEqual({
          result: expected.result,
          suspensions: expected.waits,
        });
      }
      if (limit === 0) expect(singleCopies).toBe(instrumentedFunctions.length);
    }
    // Some limit splits the program: one-copy and two-copy functions rewind through each other.
    expect(mixes.length).toBeGreaterThan(0);
  });

  it('zeroes, before an unwind branch, the locals its shared save keeps that are dead at that call', async () => {
    // Each call's live locals differ from the previous one's by a few: all four share one save.
    // Without the zeroing, $n would be held from the first call to the last for that save alone:
    // on a large interpreter loop, hundreds of such values made V8's optimized code spill them
    // all and run five times slower (bench/RESULTS.md, issue 26).
    const plain = await wat(`(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (func $chain (export "chain") (param $n i32) (result i32) (local $a i32) (local $b i32) (local $c i32) (local $d i32)
        (local.set $a (call $wait (local.get $n)))
        (local.set $b (call $wait (local.get $a)))
        (local.set $c (call $wait (local.get $b)))
        (local.set $d (call $wait (i32.add (local.get $a) (local.get $c))))
        (i32.add (local.get $d) (local.get $b))))`);
    const { binary } = await instrument(plain, { ...options, optimize: 0 });
    const { stale, branches } = await staleSavedLocals(binary, ['chain', 'chain$rewind']);
    expect(branches).toBeGreaterThanOrEqual(8);
    expect(stale).toEqual([]);
    const expected = await runPlain(plain, 'chain', 5);
    expect(await runSuspending(binary, 'chain', 5)).toEqual({ result: expected.result, suspensions: expected.waits });
  });

  it('zeroes dead shared-save locals in the fast and rewind copies of a loop with many call sites', async () => {
    const { binary } = await instrument(await wat(PROGRAM), { ...options, optimize: 0 });
    const { stale, branches } = await staleSavedLocals(binary, ['mix', 'mix$rewind', 'recurse', 'recurse$rewind']);
    expect(branches).toBeGreaterThanOrEqual(8);
    expect(stale).toEqual([]);
  });

  it("falls back to binaryen's Asyncify when a frame would save more locals than a saver can take", async () => {
    // The frame holds $x (the call reads it again on a rewind) and the $l locals. 999 saved locals
    // and the call index are 1,000 parameters, as many as engines accept.
    for (const [saved, copies] of [
      [999, true],
      [1000, false],
    ] as const) {
      const locals = Array.from({ length: saved - 1 }, (_, i) => i);
      const plain = await wat(`(module
        (import "env" "wait" (func $wait (param i32) (result i32)))
        (func (export "many") (param $x i32) (result i32) ${locals.map((i) => `(local $l${i} i32)`).join(' ')}
          ${locals.map((i) => `(local.set $l${i} (i32.mul (local.get $x) (i32.const ${i + 1})))`).join(' ')}
          (local.set $x (call $wait (local.get $x)))
          ${locals.map((i) => `(local.set $x (i32.add (local.get $x) (local.get $l${i})))`).join(' ')}
          (local.get $x)))`);
      const { binary, report } = await instrument(plain, options);
      expect(report.asyncify!.rewindCopies, `${saved} saved locals`).toBe(copies);
      const expected = await runPlain(plain, 'many', 5);
      expect(await runSuspending(binary, 'many', 5)).toEqual({ result: expected.result, suspensions: 1 });
    }
  });

  it("gives the same results as binaryen's Asyncify (--no-rewind-copies), which it replaces", async () => {
    const plain = await wat(PROGRAM);
    const ours = await instrument(plain, options);
    const binaryens = await instrument(plain, { ...options, rewindCopies: false });
    expect(binaryens.report.asyncify!.rewindCopies).toBe(false);
    expect(Buffer.compare(Buffer.from(ours.binary), Buffer.from(binaryens.binary))).not.toBe(0);
    expect(await runSuspending(ours.binary, 'mix', 25)).toEqual(await runSuspending(binaryens.binary, 'mix', 25));
  });

  it('saves multivalue tuples in locals element by element, resuming with the plain results', async () => {
    // binaryen reads $triple's three results into a local of a tuple type, live across the waits
    // that follow; $triple suspends itself, and so does the block of two results.
    const plain = await wat(`(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (func $triple (param $x i32) (result i32 i64 f64)
        (call $wait (local.get $x))
        (i64.extend_i32_u (call $wait (i32.add (local.get $x) (i32.const 1))))
        (f64.convert_i32_u (call $wait (i32.add (local.get $x) (i32.const 2)))))
      (func (export "tuples") (param $n i32) (result i64)
        (local $i i32) (local $acc i64) (local $a i32) (local $b i64) (local $c f64)
        (loop $next
          (call $triple (local.get $i))
          (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (call $wait (i32.const 1000)))))
          (local.set $c) (local.set $b) (local.set $a)
          (block (result i32 i64)
            (i32.mul (local.get $a) (call $wait (local.get $i)))
            (i64.add (local.get $b) (i64.trunc_f64_u (local.get $c))))
          (local.set $b)
          (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 7))
            (i64.add (local.get $b) (i64.extend_i32_u (call $wait (i32.const 5))))))
          (i64.extend_i32_u) (local.get $acc) (i64.add) (local.set $acc)
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $acc)))`);
    const expected = await runPlain(plain, 'tuples', 6);
    const { binary, report } = await instrument(plain, options);
    expect(report.asyncify!.rewindCopies).toBe(true);
    expect(await runSuspending(binary, 'tuples', 6)).toEqual({ result: expected.result, suspensions: expected.waits });
    const counted = await instrument(plain, { blockingImports: ['env.wait'] });
    const { result, yields } = await runYielding(counted.binary, 'tuples', 6);
    expect(result).toBe(expected.result);
    expect(yields).toBeGreaterThan(0);
    // binaryen's Asyncify, asked for, is not trusted with them (docs/robustness.md, item 9).
    await expect(instrument(plain, { ...options, fileName: 't.wasm', rewindCopies: false })).rejects.toThrow(
      /^t\.wasm keeps multivalue tuples in locals of function "\d+", which can suspend, .*instrument without --no-rewind-copies/,
    );
  });

  it('saves vectors (v128) in slots of their own, and keeps a frame with one live at a way back in its rewind copy', async () => {
    // The first keeps a vector local across the call; the second, a vector lifting spills out of
    // the expression the call stands in; the third makes its vector after the call.
    const bodies = [
      `(local $v v128)
      (local.set $v (i32x4.splat (local.get $x)))
      (local.set $x (call $wait (local.get $x)))
      (i64.extend_i32_u (i32.add (local.get $x) (i32x4.extract_lane 3 (local.get $v))))`,
      `(i64.extend_i32_u (i32x4.extract_lane 3 (i32x4.sub (i32x4.splat (local.get $x)) (i32x4.splat (i32.sub (i32.const 0) (call $wait (local.get $x)))))))`,
      `(i64.extend_i32_u (i32.add (call $wait (local.get $x)) (i32x4.extract_lane 3 (i32x4.splat (local.get $x)))))`,
    ];
    for (const body of bodies) {
      const plain = await wat(`(module
        (import "env" "wait" (func $wait (param i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "lanes") (param $x i32) (result i64) ${body}))`);
      const { binary, report } = await instrument(plain, options);
      expect(report.asyncify!.rewindCopies).toBe(true);
      expect(await runSuspending(binary, 'lanes', 9)).toEqual({ result: BigInt(answer(9) + 9), suspensions: 1 });
    }
    // A loop whose vector accumulator is live at its top, the way back of a large function.
    const plain = await wat(`(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc v128)
        (loop $next
          (local.set $acc (i32x4.add (local.get $acc) (i32x4.splat (call $wait (local.get $i)))))
          (local.set $acc (i32x4.mul (local.get $acc) (v128.const i32x4 1 2 3 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
        (i32.add (i32x4.extract_lane 1 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))`);
    const { binary } = await instrument(plain, { ...options, handBackAbove: 0 });
    const counting = await countingHandBacks(binary, true);
    const expected = await runPlain(plain, 'sum', 7);
    const got = await runCountingHandBacks(counting, 'sum', 7);
    expect({ result: got.result, suspensions: got.suspensions }).toEqual({ result: expected.result, suspensions: expected.waits });
    expect(got.handBacks).toBe(0);
    // The same loop over an i32 accumulator is handed back at every turn after a resume.
    const scalar = await wat(`(module
      (import "env" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
        (loop $next
          (local.set $acc (i32.mul (i32.add (local.get $acc) (call $wait (local.get $i))) (i32.const 3)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $acc)))`);
    const scalarCounting = await countingHandBacks((await instrument(scalar, { ...options, handBackAbove: 0 })).binary, true);
    expect((await runCountingHandBacks(scalarCounting, 'sum', 7)).handBacks).toBe(6);
  });
});

describe('lifting call sites (passes/asyncify/lift-call-sites.ts)', () => {
  it('leaves the body as it was when a value it must spill is unreachable, so flatten sees every call', async () => {
    const binaryen = await loadBinaryen();
    const module = new binaryen.Module();
    try {
      module.setMemory(1, 1);
      module.addFunctionImport('log', 'env', 'log', binaryen.i32, binaryen.none);
      const log = (value: number) => module.call('log', [module.i32.const(value)], binaryen.none);
      // i32.store16(address: log 1, then 0; value: (log 2, then unreachable) + 3), as a fuzzed module had it
      const address = module.block(null, [log(1), module.i32.const(0)], binaryen.i32);
      const value = module.i32.add(module.block(null, [log(2), module.unreachable()]), module.i32.const(3));
      const func = module.addFunction('f', binaryen.none, binaryen.none, [], module.i32.store16(0, 1, address, value));
      const before = module.emitText();
      const isSite = (expr: ExpressionRef, kind: string) => kind === 'Call' && binaryen.getExpressionInfo(expr).id === binaryen.CallId;
      expect(() => liftCallSites(binaryen, module, func, isSite)).toThrow(CannotLift);
      // the spill of the address (its log 1) was made before the value failed: it must not be lost
      expect(module.emitText().replace(/\(local \$\d+ i32\)\n\s*/g, '')).toBe(before);
    } finally {
      module.dispose();
    }
  });
});
