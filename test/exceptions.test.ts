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
import { EXIT_IN_CATCH, loopThrows, SWALLOWS_EVERYTHING, TANGLED, UNCAUGHT } from './helpers/exception-programs.js';
import { wat } from './helpers/wat.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');

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

  it('gives Asyncify to a module that declares exception handling but neither throws nor catches', async () => {
    const plain = await wat(`(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))`);
    const feature = new TextEncoder().encode('exception-handling');
    const name = new TextEncoder().encode('target_features');
    // a custom section: name, one feature, "+" (used), its name
    const payload = [name.length, ...name, 1, 0x2b, feature.length, ...feature];
    const declared = new Uint8Array([...plain, 0, payload.length, ...payload]);
    const { binary, report } = await instrument(declared);
    expect(report.features).toContain('exception-handling');
    expect(report.asyncify?.instrumentedFunctions).toHaveLength(1); // the spinning _start, which can yield
    const [section] = WebAssembly.Module.customSections(new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>), 'lunatic.instrument');
    expect(JSON.parse(new TextDecoder().decode(section))).not.toHaveProperty('exceptions');
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
