// Exception handling (the legacy instructions LLVM emits: try, catch, catch_all, delegate, throw,
// rethrow) instrumented for a JSPI host, counters only: Asyncify refuses it at once (a resumed
// frame cannot re-enter a catch), the checks go on counting across throws (a throw from inside a
// loop that keeps the counter in a local writes it back first), the output is the module's own,
// and the runtime ends a process without unwinding its stack through the program's catches (an
// exit inside `catch_all` exits, plain node:wasi lets the catch take it; a limit ends a loop that
// catches everything).
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { loadBinaryen } from '../src/binaryen.js';
import { run } from './helpers/command.js';
import { projectRoot, requireNode24 } from './helpers/tools.js';
import { wat } from './helpers/wat.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');

/** Prints `$v` as 8 hex digits and a newline (memory 16..24, iovec at 0). */
const HEX = `
  (data (i32.const 64) "0123456789abcdef")
  (func $hex (param $v i32) (local $i i32)
    (loop $digits
      (i32.store8 (i32.sub (i32.const 23) (local.get $i))
        (i32.load8_u offset=64 (i32.and (i32.shr_u (local.get $v) (i32.shl (local.get $i) (i32.const 2))) (i32.const 15))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (i32.const 8))))
    (i32.store8 (i32.const 24) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 9))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))`;

const FD_WRITE = `(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))`;

/**
 * A loop of n turns whose last turn calls a function that throws when the sum is odd: the loop
 * keeps the counter in a local, and the throw leaves it from inside. `throws: false` is the
 * same work with the throw taken out, to compare the yields with.
 */
function loopThrows(throws: boolean): string {
  return `(module ${FD_WRITE}
    (tag $odd (param i32))
    (memory (export "memory") 1)
    (func $check_odd (param $v i32)
      (if (i32.and (local.get $v) (i32.const 1)) (then ${throws ? '(throw $odd (local.get $v))' : 'nop'})))
    (func $work (param $n i32) (result i32) (local $i i32) (local $s i32)
      (loop $l
        (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31)) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eq (local.get $i) (local.get $n)) (then (call $check_odd (local.get $s))))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $s))
    ${HEX}
    (func (export "_start") (local $k i32) (local $sum i32) (local $caught i32)
      (loop $outer
        (try
          (do (local.set $sum (i32.add (local.get $sum) (call $work (i32.add (local.get $k) (i32.const 1000))))))
          (catch $odd
            local.get $sum
            i32.xor
            local.set $sum
            (local.set $caught (i32.add (local.get $caught) (i32.const 1)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $k) (i32.const 3000))))
      (call $hex (local.get $sum))
      (call $hex (local.get $caught))))`;
}

/** Recursion that throws at the bottom, catches and rethrows on the way up, a delegate, catch_all. */
const TANGLED = `(module ${FD_WRITE}
  (tag $e (param i32))
  (tag $f)
  (memory (export "memory") 1)
  (func $rec (param $n i32) (param $d i32) (result i32) (local $r i32)
    (if (i32.eqz (local.get $d))
      (then
        (if (i32.eqz (i32.rem_u (local.get $n) (i32.const 7))) (then (throw $e (local.get $n))))
        (return (i32.add (local.get $n) (i32.const 1)))))
    (try (result i32)
      (do (i32.add (call $rec (i32.add (local.get $n) (local.get $d)) (i32.sub (local.get $d) (i32.const 1))) (i32.const 3)))
      (catch $e
        (call $mix)
        (local.set $r)
        (if (i32.and (local.get $d) (i32.const 1)) (then (rethrow 1)))
        (i32.mul (local.get $r) (i32.const 5)))
      (catch_all (i32.const 77))))
  (func $mix (param $v i32) (result i32) (local $i i32)
    (loop $l
      (local.set $v (i32.xor (i32.mul (local.get $v) (i32.const 1103515245)) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.add (i32.const 20) (i32.and (local.get $v) (i32.const 63))))))
    (local.get $v))
  (func $delegating (param $n i32) (result i32)
    (try $outer (result i32)
      (do
        (try (result i32)
          (do (if (i32.eqz (i32.rem_u (local.get $n) (i32.const 3))) (then (throw $f))) (local.get $n))
          (delegate $outer)))
      (catch $f (i32.const -1))))
  ${HEX}
  (func (export "_start") (local $k i32) (local $s i32)
    (loop $outer
      (try
        (do (local.set $s (i32.add (local.get $s) (call $rec (local.get $k) (i32.rem_u (local.get $k) (i32.const 9))))))
        (catch $e (local.set $s (i32.sub (local.get $s) (call $mix (i32.and (i32.const 255))))))
        (catch_all (local.set $s (i32.add (local.get $s) (i32.const 1000)))))
      (local.set $s (i32.add (local.get $s) (call $delegating (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $k) (i32.const 100000))))
    (call $hex (local.get $s))))`;

/** An exit inside a catch_all: the process must end with 3, not print and end with 9. */
const EXIT_IN_CATCH = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ${FD_WRITE}
  (tag $never)
  (memory (export "memory") 1)
  (data (i32.const 16) "caught the exit\\n")
  (func (export "_start")
    (try
      (do (call $proc_exit (i32.const 3)))
      (catch_all
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 16))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    (call $proc_exit (i32.const 9))))`;

/** A loop that takes every exception and spins again: only its limit can end it, by an error thrown from `lunatic.yield`. */
const SWALLOWS_EVERYTHING = `(module (memory (export "memory") 1) (tag $never)
  (func (export "_start")
    (loop $forever
      (try (do (loop $spin (br $spin))) (catch_all))
      (br $forever))))`;

const UNCAUGHT = `(module (tag $boom (param i32)) (memory (export "memory") 1)
  (func $deep (param i32) (throw $boom (local.get 0)))
  (func (export "_start") (call $deep (i32.const 7))))`;

/** Runs a command module under node:wasi in this process; `lunatic.yield` refills `budget` and is counted. */
function runHere(bytes: Uint8Array, dir: string, budget = 10_000): { stdout: string; exit: number; yields: number } {
  const out = join(dir, `stdout-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(out, 'w');
  try {
    const wasi = new WASI({ version: 'preview1', args: ['m'], env: {}, stdout: fd, returnOnExit: true });
    const imports = wasi.getImportObject() as WebAssembly.Imports;
    let yields = 0;
    let exports: WebAssembly.Exports = {};
    const counter = () => exports.lunatic_reductions as WebAssembly.Global;
    imports.lunatic = { yield: () => void (yields++, (counter().value = budget)) };
    exports = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), imports).exports;
    if (exports.lunatic_reductions) counter().value = budget;
    const exit = wasi.start({ exports });
    return { stdout: readFileSync(out, 'utf8'), exit, yields };
  } finally {
    closeSync(fd);
  }
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lunatic-exceptions-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('instrumenting modules that throw and catch', () => {
  it('refuses them for Asyncify at once, with the way out, tagged or catching with catch_all alone', async () => {
    const message = /^e\.wasm uses exception handling, which Asyncify cannot suspend .*--no-asyncify .*JSPI/;
    await expect(instrument(await wat(loopThrows(true)), { fileName: 'e.wasm' })).rejects.toThrow(message);
    // no tag: found once binaryen has read the module, not from the bytes
    const untagged = `(module (import "env" "f" (func $f)) (func (export "g") (try (do (call $f)) (catch_all))))`;
    await expect(instrument(await wat(untagged), { fileName: 'e.wasm' })).rejects.toThrow(message);
  });

  it('refuses the new instructions (try_table) with the way to build the old ones', async () => {
    const binaryen = await loadBinaryen();
    const module = binaryen.parseText(`(module (tag $t (param i32))
      (func (export "f") (result i32) (block $h (result i32) (try_table (catch $t $h) (throw $t (i32.const 1))) (i32.const 0))))`);
    module.setFeatures(binaryen.Features.All);
    const bytes = module.emitBinary();
    module.dispose();
    await expect(instrument(bytes, { fileName: 'n.wasm', asyncify: false })).rejects.toThrow(
      /^n\.wasm uses the new exception-handling instructions \(try_table, throw_ref\).*-wasm-use-legacy-eh/,
    );
  });

  it('counters only: the output is the module’s own, and a throw out of a counting loop loses none of its charges', async () => {
    const plain = await wat(loopThrows(true));
    const { binary, report } = await instrument(plain, { asyncify: false });
    expect(report.features).toContain('exception-handling');
    const expected = runHere(plain, dir);
    expect(expected.stdout).toMatch(/^[0-9a-f]{8}\n000005dc\n$/); // 1,500 of the 3,000 calls threw
    const instrumented = runHere(binary, dir);
    expect(instrumented.stdout).toBe(expected.stdout);
    // the same work without the throws: the yields must be as many (they were a third fewer
    // when the loop's local copy of the counter was left behind by the throw)
    const control = runHere((await instrument(await wat(loopThrows(false)), { asyncify: false })).binary, dir);
    expect(instrumented.yields).toBeGreaterThanOrEqual(Math.floor(control.yields * 0.95));
    expect(control.yields).toBeGreaterThan(1000);
  });

  it('counters only: rethrow, delegate, catch_all and recursion through catches run as the module does', async () => {
    const plain = await wat(TANGLED);
    const expected = runHere(plain, dir);
    const instrumented = runHere((await instrument(plain, { asyncify: false })).binary, dir, 1000);
    expect(instrumented).toMatchObject({ stdout: expected.stdout, exit: 0 });
    expect(instrumented.yields).toBeGreaterThan(100);
  });
});

describe('running them (lunatic-instrument run)', () => {
  const node24 = requireNode24();
  const write = async (name: string, text: string): Promise<string> => {
    const path = join(dir, name);
    writeFileSync(path, await wat(text));
    return path;
  };

  it.skipIf(!node24)('on Node 24 (JSPI): the output of the module itself', async () => {
    const program = await write('loop-throws.wasm', loopThrows(true));
    const expected = runHere(readFileSync(program), dir).stdout;
    expect(await run(node24!, [BIN, 'run', program], { cwd: dir })).toEqual({ code: 0, stdout: expected, stderr: '' });
  });

  it.skipIf(!node24)('an exit inside catch_all ends the process: the catch does not take it', async () => {
    const program = await write('exit-in-catch.wasm', EXIT_IN_CATCH);
    expect(await run(node24!, [BIN, 'run', program], { cwd: dir })).toEqual({ code: 3, stdout: '', stderr: '' });
  });

  it.skipIf(!node24)('a process over its reductions limit ends, though it catches everything', async () => {
    const program = await write('swallows.wasm', SWALLOWS_EVERYTHING);
    const result = await run(node24!, [BIN, 'run', program, '--max-reductions', '1000000'], { cwd: dir, timeoutMs: 30_000 });
    expect(result).toMatchObject({ code: 134, stdout: '' });
    expect(result.stderr).toMatch(/crashed: process \d+ exceeded its limit of 1000000 reductions\n$/);
  });

  it.skipIf(!node24)('an exception nothing catches is a crash that says so', async () => {
    const program = await write('uncaught.wasm', UNCAUGHT);
    const result = await run(node24!, [BIN, 'run', program], { cwd: dir });
    expect(result).toMatchObject({ code: 134, stdout: '' });
    expect(result.stderr).toMatch(/^lunatic-instrument: .*uncaught\.wasm crashed: a wasm exception that nothing caught\n$/);
  });

  it('on Node 20 (no JSPI): refused in one line', async () => {
    const program = await write('loop-throws-20.wasm', loopThrows(true));
    const result = await run(process.execPath, [BIN, 'run', program], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^lunatic-instrument: .*loop-throws-20\.wasm uses exception handling, .*JSPI .*\n$/);
  });
});
