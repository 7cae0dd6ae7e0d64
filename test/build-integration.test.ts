// The build recipes of examples/ (Make, CMake, cargo), built from source with the real tools in a
// temporary copy: each must produce a really instrumented module, which `lunatic-instrument run`
// runs with the same output as the uninstrumented program under Node's own WASI, and the Make
// and CMake builds must be incremental (nothing changed: no instrument step; source changed:
// re-instrumented).
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInstrumentSection } from '../src/index.js';
import { build, type Run, run } from './helpers/command.js';
import { stageRepositoryFolders } from './helpers/stage.js';
import { findCargo, findClang, projectRoot, requireTool } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
/** The tool as a command line for LUNATIC_INSTRUMENT (make) or CMake's cache variable. */
const TOOL = `"${process.execPath}" "${BIN}"`;
const STEP_TIMEOUT = 60_000;

function hasTool(cmd: string): string | undefined {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore', timeout: 20_000 });
    return cmd;
  } catch {
    return undefined;
  }
}

/** Stages examples/<name> with cmake/ beside it (helpers/stage.ts); returns the example's directory. */
async function stageExample(root: string, name: string): Promise<string> {
  await stageRepositoryFolders(root, [`examples/${name}`, 'cmake']);
  return join(root, 'examples', name);
}

/** Instrumented for real: the custom section, the lunatic.yield import and the Asyncify exports. */
async function expectInstrumented(file: string): Promise<void> {
  const bytes = await readFile(file);
  expect(readInstrumentSection(bytes)).toMatchObject({ abi: 1, reductions: true, asyncify: true });
  const module = new WebAssembly.Module(bytes);
  expect(WebAssembly.Module.imports(module)).toContainEqual({ module: 'lunatic', name: 'yield', kind: 'function' });
  expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain('asyncify_start_unwind');
}

/** The uninstrumented program under Node's built-in WASI: the reference output. */
const REFERENCE_RUNNER = `
const { WASI } = require('node:wasi');
const wasi = new WASI({ version: 'preview1', args: ['prog'], returnOnExit: true });
const module = new WebAssembly.Module(require('node:fs').readFileSync(process.argv[1]));
process.exitCode = wasi.start(new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport }));`;

async function referenceRun(wasm: string, input: string): Promise<Run> {
  return run(process.execPath, ['--no-warnings', '-e', REFERENCE_RUNNER, wasm], { cwd: tmpdir(), input });
}

/**
 * The examples' "slept at least N ms: yes" verdict, left out of the comparison: Node's own WASI
 * sometimes ends a 20 ms poll_oneoff a hair early ("no" on the reference side). Callers check
 * our run's verdict exactly.
 */
const withoutSleepVerdict = (stdout: string) => stdout.replace(/^(slept at least \d+ ms): (yes|no)$/m, '$1: (not compared)');

/** The instrumented module under our runtime, with stdin piped: same exit code and output. */
async function expectRunMatchesReference(instrumented: string, uninstrumented: string, input: string): Promise<Run> {
  const reference = await referenceRun(uninstrumented, input);
  const result = await run(process.execPath, [BIN, 'run', instrumented], { cwd: tmpdir(), input });
  const observed = { code: result.code, stdout: withoutSleepVerdict(result.stdout) };
  expect(observed, result.stderr).toEqual({ code: reference.code, stdout: withoutSleepVerdict(reference.stdout) });
  return result;
}

async function mtimeNs(file: string): Promise<bigint> {
  return (await stat(file, { bigint: true })).mtimeNs;
}

/** Marks a source as edited now (the builds before took seconds, so it is newer than their outputs). */
async function touch(file: string): Promise<void> {
  const now = new Date();
  await utimes(file, now, now);
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lunatic-build-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('Make recipe (examples/c-make)', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  const make = requireTool('make', hasTool('make'), 'apt-get install make');

  it.skipIf(!clang || !make)(
    'builds, instruments, runs, and rebuilds only what changed',
    async () => {
      const dir = await stageExample(root, 'c-make');
      const makeArgs = [`LUNATIC_INSTRUMENT=${TOOL}`];
      const output = join(dir, 'prog.inst.wasm');

      expect(await build('make', makeArgs, { cwd: dir })).toContain(`${BIN}" prog.wasm -o prog.inst.wasm`);
      await expectInstrumented(output);
      const first = await expectRunMatchesReference(output, join(dir, 'prog.wasm'), 'ping\n');
      expect(first.stdout).toBe('hello from C\nslept at least 20 ms: yes\nyou said: ping\n');

      const builtAt = await mtimeNs(output);
      const again = await build('make', makeArgs, { cwd: dir });
      expect(again).toMatch(/Nothing to be done/);
      expect(again).not.toContain('-o prog.inst.wasm');
      expect(await mtimeNs(output)).toBe(builtAt);

      const source = join(dir, 'prog.c');
      await writeFile(source, (await readFile(source, 'utf8')).replace('hello from C', 'hello again from C'));
      expect(await build('make', makeArgs, { cwd: dir })).toContain('-o prog.inst.wasm');
      expect(await mtimeNs(output)).toBeGreaterThan(builtAt);
      await expectInstrumented(output);
      const edited = await expectRunMatchesReference(output, join(dir, 'prog.wasm'), 'pong\n');
      expect(edited.stdout).toBe('hello again from C\nslept at least 20 ms: yes\nyou said: pong\n');
    },
    STEP_TIMEOUT,
  );
});

describe('CMake recipe (examples/c-cmake, cmake/LunaticInstrument.cmake)', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  const cmake = requireTool('cmake', hasTool('cmake'), 'apt-get install cmake make');

  it.skipIf(!clang || !cmake)(
    'instruments as part of cmake --build, incrementally',
    async () => {
      const dir = await stageExample(root, 'c-cmake');
      const buildDir = join(dir, 'build');
      const toolchain = join(root, 'cmake/wasm32-wasi-clang.cmake');
      await build('cmake', ['-S', dir, '-B', buildDir, `-DCMAKE_TOOLCHAIN_FILE=${toolchain}`], { cwd: dir });
      const cmakeBuild = () => build('cmake', ['--build', buildDir], { cwd: dir });
      const output = join(buildDir, 'shout.inst.wasm');

      expect(await cmakeBuild()).toMatch(/Instrumenting shout/);
      await expectInstrumented(output);
      const first = await expectRunMatchesReference(output, join(buildDir, 'shout.wasm'), 'a b\nxyz\n');
      expect(first.stdout).toBe('A B\nXYZ\n2 lines\n');

      const builtAt = await mtimeNs(output);
      expect(await cmakeBuild()).not.toMatch(/Instrumenting/);
      expect(await mtimeNs(output)).toBe(builtAt);

      // An edit in the library relinks shout.wasm, which must re-run the instrument step.
      await touch(join(dir, 'src/shout.c'));
      expect(await cmakeBuild()).toMatch(/Instrumenting shout/);
      expect(await mtimeNs(output)).toBeGreaterThan(builtAt);
      await expectInstrumented(output);
    },
    STEP_TIMEOUT,
  );
});

describe('cargo recipe (examples/rust-hello)', () => {
  const cargo = requireTool('cargo with the wasm32-wasi target', findCargo(), 'apt-get install cargo rustc libstd-rust-dev-wasm32');
  /** Debian's rustc has the wasm32-wasi std; rustup's (first in PATH here) has not. */
  const env = { ...process.env, RUSTC: '/usr/bin/rustc', CARGO_TARGET_WASM32_WASI_RUNNER: undefined };

  it.skipIf(!cargo)(
    'cargo run uses lunatic-instrument as the runner; a release build instruments post-build',
    async () => {
      const dir = await stageExample(root, 'rust-hello');
      const expected = 'hello from Rust\nslept at least 20 ms: yes\nyou said: ping\n';

      // The runner from .cargo/config.toml, started from a subdirectory to show its path is project-relative.
      const viaRunner = await run(cargo!, ['run', '--quiet', '--target', 'wasm32-wasi'], { cwd: join(dir, 'src'), env, input: 'ping\n' });
      expect({ code: viaRunner.code, stdout: viaRunner.stdout }, viaRunner.stderr).toEqual({ code: 0, stdout: expected });

      await build(cargo!, ['build', '--release', '--target', 'wasm32-wasi'], { cwd: dir, env });
      const artifact = join(dir, 'target/wasm32-wasi/release/rust-hello.wasm');
      const output = join(dir, 'rust-hello.inst.wasm');
      await build(process.execPath, [BIN, artifact, '-o', output], { cwd: dir });
      await expectInstrumented(output);
      const released = await expectRunMatchesReference(output, artifact, 'ping\n');
      expect(released.stdout).toBe(expected);
    },
    STEP_TIMEOUT,
  );
});
