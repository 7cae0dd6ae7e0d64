// The CLI end to end, as a user runs it: a child process of bin/lunatic-instrument.js (built by
// `npm test`), checking output files, exit codes and that errors are one line with no stack.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeU32 } from '../src/binary.js';
import { isQuickJob } from '../src/cli/engine-tuning.js';
import { instrument, readInstrumentSection } from '../src/index.js';
import stringWidthPackage from 'string-width';
import stringWidth from '../scripts/lazy-string-width.js';
import { run as command } from './helpers/command.js';
import { projectRoot, requireNode24 } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const SPIN_WAT = `(module (memory (export "memory") 1)
  (func (export "spin") (param $n i32) (result i32) (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i)))`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** One line on stderr, no stack frames. */
function expectOneLineError(run: Run, code: number, pattern: RegExp): void {
  expect(run.code).toBe(code);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/^\s+at /m);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lunatic-cli-'));
  await writeFile(join(dir, 'spin.wat'), SPIN_WAT);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('lunatic-instrument CLI', () => {
  it.each([[['--help']], [['run', '--help']], [['run', '-h', 'x.wasm']]])(
    'prints help for %j laid out to at most 110 columns',
    async (args) => {
      const run = await cli(args, dir);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Options:$/m);
      const lines = run.stdout.split('\n');
      expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(110);
      expect(
        lines.some((line) => /^\s{20,}\S/.test(line)),
        'a description wrapped onto a line of its own',
      ).toBe(true);
    },
  );

  it('instruments .wat to .wasm and reports as JSON', async () => {
    const run = await cli(['spin.wat', '-o', 'spin.wasm', '--report', 'json'], dir);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.reductions.checks.loops).toBe(1);
    const info = readInstrumentSection(await readFile(join(dir, 'spin.wasm')));
    expect(info).toMatchObject({ reductions: true, asyncify: true, bound: report.reductions.bound });
  });

  it('writes .wat output and honours --no-asyncify', async () => {
    const run = await cli(['spin.wat', '-o', 'out.wat', '--no-asyncify'], dir);
    expect(run.code).toBe(0);
    const text = await readFile(join(dir, 'out.wat'), 'utf8');
    expect(text).toContain('(import "lunatic" "yield"');
    expect(text).toContain('lunatic_reductions');
    expect(text).not.toContain('asyncify_start_unwind');
  });

  it("--no-rewind-copies selects binaryen's Asyncify, and the report and section say which ran", async () => {
    const ours = await cli(['spin.wat', '-o', 'copies.wasm', '--report', 'json'], dir);
    const binaryens = await cli(['spin.wat', '-o', 'single.wasm', '--no-rewind-copies', '--report', 'json'], dir);
    expect([ours.code, binaryens.code]).toEqual([0, 0]);
    expect([JSON.parse(ours.stdout).asyncify.rewindCopies, JSON.parse(binaryens.stdout).asyncify.rewindCopies]).toEqual([true, false]);
    expect(readInstrumentSection(await readFile(join(dir, 'copies.wasm')))!.options.rewindCopies).toBe(true);
    const [copies, single] = [await readFile(join(dir, 'copies.wasm'), 'latin1'), await readFile(join(dir, 'single.wasm'), 'latin1')];
    expect(copies).toContain('$rewind');
    expect(single).not.toContain('$rewind');
  });

  it('--single-copy-above N leaves larger functions their rewind copy alone, and the report and section say so', async () => {
    const run = await cli(['spin.wat', '-o', 'one.wasm', '--single-copy-above', '0', '--report', 'json'], dir);
    expect(run.code).toBe(0);
    const { singleCopies, instrumentedFunctions } = JSON.parse(run.stdout).asyncify;
    expect(singleCopies).toBeGreaterThan(0);
    expect(singleCopies).toBe(instrumentedFunctions.length);
    expect(readInstrumentSection(await readFile(join(dir, 'one.wasm')))!.options.singleCopyAbove).toBe(0);
    expect(await readFile(join(dir, 'one.wasm'), 'latin1')).not.toContain('$rewind');
    expect((await cli(['spin.wat', '-o', 'two.wasm'], dir)).code).toBe(0);
    expect(readInstrumentSection(await readFile(join(dir, 'two.wasm')))!.options.singleCopyAbove).toBeNull();
  });

  it('unrolls small loops by default only without Asyncify; --unroll-loops and --no-unroll-loops say otherwise', async () => {
    const unrolled = async (...flags: string[]) => {
      const run = await cli(['spin.wat', '-o', 'loops.wasm', '--report', 'json', ...flags], dir);
      expect(run.code).toBe(0);
      expect(readInstrumentSection(await readFile(join(dir, 'loops.wasm')))!.options.unrollLoops).toBe(
        JSON.parse(run.stdout).reductions.unrolledLoops > 0,
      );
      return JSON.parse(run.stdout).reductions.unrolledLoops;
    };
    expect(await unrolled()).toBe(0);
    expect(await unrolled('--no-asyncify')).toBe(1);
    expect(await unrolled('--no-asyncify', '--no-unroll-loops')).toBe(0);
    expect(await unrolled('--unroll-loops')).toBe(1);
  });

  it('prints a text report', async () => {
    const run = await cli(['spin.wat', '-o', 'text.wasm', '--report', 'text'], dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/preemption bound: at most \d+ instructions/);
  });

  it('refuses to instrument twice, leaving the output untouched', async () => {
    await cli(['spin.wat', '-o', 'once.wasm'], dir);
    await writeFile(join(dir, 'keep.wasm'), 'previous');
    const run = await cli(['once.wasm', '-o', 'keep.wasm'], dir);
    expectOneLineError(run, 1, /once\.wasm is already instrumented/);
    expect(await readFile(join(dir, 'keep.wasm'), 'utf8')).toBe('previous');
  });

  it('reports bad input on one line with exit code 1 and no output file', async () => {
    await writeFile(join(dir, 'text.txt.wasm'), 'hello');
    const cases: Array<[string[], RegExp]> = [
      [['missing.wasm', '-o', 'o1.wasm'], /missing\.wasm: cannot read input: does not exist/],
      [['text.txt.wasm', '-o', 'o2.wasm'], /text\.txt\.wasm is not a WebAssembly module/],
      [['.', '-o', 'o3.wasm'], /cannot read input: is a directory/],
    ];
    for (const [args, pattern] of cases) {
      expectOneLineError(await cli(args, dir), 1, pattern);
      await expect(stat(join(dir, args[2]!))).rejects.toThrow();
    }
  });

  it('refuses an output that would overwrite the input', async () => {
    const before = await readFile(join(dir, 'spin.wat'));
    expectOneLineError(await cli(['spin.wat', '-o', './spin.wat'], dir), 1, /would overwrite the input/);
    expect(await readFile(join(dir, 'spin.wat'))).toEqual(before);
  });

  it('reports an unwritable output on one line', async () => {
    expectOneLineError(await cli(['spin.wat', '-o', 'no/such/dir/x.wasm'], dir), 1, /x\.wasm: cannot write output/);
  });

  it('exits 2 on usage errors', async () => {
    expectOneLineError(await cli(['spin.wat'], dir), 2, /Missing required argument: output/);
    expectOneLineError(await cli(['spin.wat', '-o', 'u.wasm', '--frobnicate'], dir), 2, /Unknown argument/);
    expectOneLineError(await cli(['spin.wat', '-o', 'u.wasm', '-O', '9'], dir), 2, /Invalid values/);
    expectOneLineError(await cli(['spin.wat', '-o', 'u.wasm', '--blocking-imports', 'sleep'], dir), 2, /not of the form module\.name/);
    expectOneLineError(
      await cli(['spin.wat', '-o', 'u.wasm', '--single-copy-above', '-1'], dir),
      2,
      /--single-copy-above must be a whole number/,
    );
    expectOneLineError(
      await cli(['spin.wat', '-o', 'u.wasm', '--hand-back-above', '1.5'], dir),
      2,
      /--hand-back-above must be a whole number/,
    );
    await expect(stat(join(dir, 'u.wasm'))).rejects.toThrow();
  });
});

/** A WASI command that writes "hi\n" to stdout. */
const HI_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

/** Loaded before the CLI (`node -r`): at exit it writes what the start loaded to the file in LUNATIC_TEST_LOADED. */
const LOADED_PROBE = `const Segmenter = Intl.Segmenter; let segmenters = 0;
Intl.Segmenter = class extends Segmenter { constructor(...args) { super(...args); segmenters++; } };
process.on('exit', () => require('node:fs').writeFileSync(process.env.LUNATIC_TEST_LOADED, JSON.stringify({ segmenters, modules: process.moduleLoadList })));`;

/**
 * A WASI command whose function nests `depth` blocks around a br_table, the shape Go's wasm
 * backend gives a function (a block per basic block). Branching out of block 7 runs the code after
 * blocks 7, 6, ... 0, which adds their numbers: the command exits with 28. Built with binaryen:
 * wabt takes minutes over such text.
 */
async function deeplyNested(depth: number): Promise<Uint8Array> {
  const binaryen = (await import('binaryen')).default;
  const { i32, none } = binaryen;
  const module = new binaryen.Module();
  module.setMemory(1, 1, 'memory');
  module.addFunctionImport('proc_exit', 'wasi_snapshot_preview1', 'proc_exit', i32, none);
  const add = (k: number) => module.local.set(1, module.i32.add(module.local.get(1, i32), module.i32.const(k)));
  const labels = Array.from({ length: depth }, (_, i) => `b${i}`);
  let nest = module.switch(labels, labels[depth - 1]!, module.local.get(0, i32));
  for (let i = depth - 1; i >= 0; i--) nest = module.block(labels[i]!, i === depth - 1 ? [nest] : [nest, add(i + 1)]);
  module.addFunction('dispatch', i32, i32, [i32], module.block(null, [nest, add(0), module.local.get(1, i32)], i32));
  module.addFunction('_start', none, none, [], module.call('proc_exit', [module.call('dispatch', [module.i32.const(7)], i32)], none));
  module.addFunctionExport('_start', '_start');
  const bytes = module.emitBinary();
  module.dispose();
  return bytes;
}

describe('inputs that nest deeper than the stack of this thread', () => {
  it('instruments a function whose blocks nest 3,000 deep (on a thread with a deeper stack), which then runs', async () => {
    await writeFile(join(dir, 'nested.wasm'), await deeplyNested(3_000));
    const inMemory = await cli(['run', 'nested.wasm', '--no-cache'], dir);
    expect(inMemory, inMemory.stderr).toEqual({ code: 28, stdout: '', stderr: '' });
    const made = await cli(['nested.wasm', '-o', 'nested.inst.wasm'], dir);
    expect(made, made.stderr).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await cli(['run', 'nested.inst.wasm'], dir)).toEqual({ code: 28, stdout: '', stderr: '' });
  });
});

describe('the instrumenting thread', () => {
  it('reports a heap that fills up as one line, where V8 would end the whole process', async () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import { instrumentOnThread } from ${JSON.stringify(join(projectRoot, 'dist/src/instrument-thread.js'))};
      const bytes = readFileSync(${JSON.stringify(join(projectRoot, 'fixtures/c/hello.wasm'))});
      for (const heapMb of [4, 256]) {
        try {
          const { binary } = await instrumentOnThread(bytes, { fileName: 'hello.wasm' }, heapMb);
          console.log(heapMb, 'instrumented', binary.length > bytes.length);
        } catch (error) {
          console.log(heapMb, error.name, error.message);
        }
      }`;
    const run = await command(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    const [small, large] = run.stdout.trim().split('\n');
    expect(small).toMatch(
      /^4 OutOfMemoryError hello\.wasm: ran out of memory while instrumenting: .* heap of 4 MB is full; run Node with a larger one/,
    );
    expect(large).toBe('256 instrumented true');
  });
});

describe("the command line's start", () => {
  const node24 = requireNode24();
  it('measures text as string-width does, without loading it for printable ASCII', () => {
    for (const text of ['', 'plain --help text, 110 columns', '日本語', '\u001b[31mred\u001b[0m', 'tab\there', '👍🏽 ok', 'é'])
      expect(stringWidth(text), JSON.stringify(text)).toBe(stringWidthPackage(text));
  });

  it('runs an instrumented program without what it does not use: string-width, node:crypto, node:net', async () => {
    await writeFile(join(dir, 'hi.wat'), HI_WAT);
    await writeFile(join(dir, 'loaded-probe.cjs'), LOADED_PROBE);
    expect((await cli(['hi.wat', '-o', 'hi.wasm'], dir)).code).toBe(0);
    const loaded = join(dir, 'loaded.json');
    // output to files: a pipe or a terminal as process.stdout would load node:net for itself
    const [out, err] = [join(dir, 'hi.out'), join(dir, 'hi.err')];
    const code = await new Promise<number | null>((resolve) => {
      const stdio = ['ignore', openSync(out, 'w'), openSync(err, 'w')] as const;
      const env = { ...process.env, LUNATIC_TEST_LOADED: loaded };
      const child = spawn(process.execPath, ['-r', './loaded-probe.cjs', BIN, 'run', 'hi.wasm'], { cwd: dir, env, stdio: [...stdio] });
      child.on('close', (status) => {
        closeSync(stdio[1]);
        closeSync(stdio[2]);
        resolve(status);
      });
    });
    expect({ code, stdout: await readFile(out, 'utf8'), stderr: await readFile(err, 'utf8') }).toEqual({
      code: 0,
      stdout: 'hi\n',
      stderr: '',
    });
    const { segmenters, modules } = JSON.parse(await readFile(loaded, 'utf8')) as { segmenters: number; modules: string[] };
    expect(segmenters, 'Intl.Segmenter constructions (string-width loads with one)').toBe(0);
    expect(modules.filter((name) => /^NativeModule (crypto|net)$/.test(name))).toEqual([]);
  });

  it.skipIf(!node24)("keeps the CLI's compiled code in Node's compile cache (Node 24)", async () => {
    // Node's default place, under the temporary directory: NODE_COMPILE_CACHE would turn it on by itself
    const temporary = join(dir, 'tmp');
    const { NODE_COMPILE_CACHE: _, NODE_DISABLE_COMPILE_CACHE: __, ...rest } = process.env;
    const env = { ...rest, TMPDIR: temporary };
    await mkdir(temporary);
    const version = await command(node24!, [BIN, '--version'], { cwd: dir, env });
    expect(version.code, version.stderr).toBe(0);
    const entries = await readdir(join(temporary, 'node-compile-cache'), { recursive: true, withFileTypes: true });
    expect(entries.filter((entry) => entry.isFile()).length, 'cached modules').toBeGreaterThan(0);
  });
});

/** A module of one function whose body is `nops` nops: a code section of about that many bytes. */
function moduleWithCode(nops: number): Uint8Array {
  const section = (id: number, payload: number[]) => [id, ...encodeU32(payload.length), ...payload];
  const body = [0, ...new Array<number>(nops).fill(0x01), 0x0b]; // no locals, nops, end
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, [1, 0x60, 0, 0]), // type 0: [] -> []
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(10, [1, ...encodeU32(body.length), ...body]),
  ]);
}

describe('engine tuning of the instrument command', () => {
  it('skips optimized compilation of binaryen only for modules with little code', () => {
    expect(isQuickJob(moduleWithCode(1000))).toBe(true);
    expect(isQuickJob(moduleWithCode(1_000_000))).toBe(true);
    expect(isQuickJob(moduleWithCode(3_000_000))).toBe(false);
    expect(isQuickJob(Uint8Array.from([1, 2, 3]))).toBe(false); // malformed: left to instrument()
  });

  it('gives the same bytes as the library, which runs with default engine flags', async () => {
    const input = join(projectRoot, 'fixtures/c/nbody.wasm');
    expect(isQuickJob(await readFile(input))).toBe(true);
    const run = await cli([input, '-o', 'nbody.out.wasm'], dir);
    expect(run.code).toBe(0);
    const { binary } = await instrument(await readFile(input));
    expect(await readFile(join(dir, 'nbody.out.wasm'))).toEqual(Buffer.from(binary));
  });
});
