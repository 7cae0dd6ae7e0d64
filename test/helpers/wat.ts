// Test helpers for hand-written modules: .wat text to bytes, and instantiation with a host that
// services `lunatic.yield` by refilling the budget and counting the calls.
import wabtInit from 'wabt';

const wabtReady = wabtInit();

/** `names: false` leaves the name section out, as a C toolchain does by default (Debian's clang). */
export async function wat(text: string, { names = true }: { names?: boolean } = {}): Promise<Uint8Array> {
  const wabt = await wabtReady;
  const module = wabt.parseWat('test.wat', text, {
    bulk_memory: true,
    tail_call: true,
    sign_extension: true,
    mutable_globals: true,
    threads: true,
    exceptions: true,
    // wabt's types predate the flag its parser takes
    ...({ multi_memory: true } as object),
  });
  try {
    module.resolveNames();
    return module.toBinary({ write_debug_names: names }).buffer;
  } finally {
    module.destroy();
  }
}

/**
 * A self-recursive function with what an unrolled copy must get right: an early return, a local
 * read before it is written (zero on every entry), a loop holding the recursive call, a br_table.
 */
export const WALK_FUNCTION = `(func $walk (param $n i32) (result i32) (local $acc i32) (local $i i32)
  (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (i32.add (local.get $acc) (local.get $n)))))
  (loop $l
    (local.set $acc (i32.add (local.get $acc) (call $walk (i32.sub (local.get $n) (i32.add (local.get $i) (i32.const 1))))))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br_if $l (i32.lt_u (local.get $i) (i32.const 2))))
  (block $odd (block $even (br_table $even $odd (i32.and (local.get $n) (i32.const 1))))
    (return (i32.add (local.get $acc) (i32.const 1))))
  (local.get $acc))`;

/** A loop left, depending on $how, by a br_if with a value, a br_table, a return, or its end (each way taken only then). */
export const LEAVE_LOOP_FUNCTION = `(func $leave (export "leave") (param $how i32) (param $n i32) (result i32) (local $i i32) (local $done i32)
  (block $out (result i32)
    (block $table
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (br_if $out (i32.mul (local.get $i) (i32.const 10)) (i32.and (local.get $done) (i32.eq (local.get $how) (i32.const 0)))))
        (if (i32.and (local.get $done) (i32.eq (local.get $how) (i32.const 2))) (then (return (i32.mul (local.get $i) (i32.const 30)))))
        (if (i32.and (local.get $done) (i32.eq (local.get $how) (i32.const 1)))
          (then (block $stay (br_table $stay $table (local.get $how)))))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
    (i32.mul (local.get $i) (i32.add (local.get $how) (i32.const 1)))))`;

/** Straight-line code on $acc, longer than a return stretch may be (40 statements). */
export const LONG_WORK = Array.from(
  { length: 40 },
  () => '(local.set $acc (i32.mul (i32.add (local.get $acc) (i32.const 7)) (i32.const 3)))',
).join(' ');

/**
 * A recursion whose first call is followed by little (the second call) and whose second call by
 * long code: only the second return needs a check, the first is prepaid at entry.
 */
export const SHORT_AND_LONG_RETURNS = `(func $g (export "g") (param $n i32) (result i32) (local $acc i32)
  (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
  (local.set $acc (call $g (i32.sub (local.get $n) (i32.const 1))))
  (local.set $acc (i32.add (local.get $acc) (call $g (i32.sub (local.get $n) (i32.const 1)))))
  ${LONG_WORK}
  (local.get $acc))`;

export interface Counted {
  instance: WebAssembly.Instance;
  exports: Record<string, any>;
  /** How many times `lunatic.yield` was called so far. */
  yields(): number;
}

/** Instantiates with `lunatic.yield` refilling `lunatic_reductions` to `slice`, plus `extra` imports. */
export async function instantiateCounted(bytes: Uint8Array, slice = 1000, extra: WebAssembly.Imports = {}): Promise<Counted> {
  let yields = 0;
  let instance: WebAssembly.Instance | undefined;
  const refill = () => {
    const counter = instance?.exports.lunatic_reductions as WebAssembly.Global | undefined;
    if (counter) counter.value = slice;
  };
  const imports: WebAssembly.Imports = {
    ...extra,
    lunatic: {
      yield: () => {
        yields++;
        refill();
      },
    },
  };
  instance = (await WebAssembly.instantiate(bytes as BufferSource, imports)).instance;
  refill();
  return { instance, exports: instance.exports as Record<string, any>, yields: () => yields };
}
