// `lunatic-instrument run` end to end (bin/lunatic-instrument.js, built by `npm test`): every C
// fixture prints the same stdout and stderr and exits with the same code as under node:wasi,
// on this Node (Asyncify) and on Node 24 (JSPI), with stdin piped in, args, env and a preopened
// directory. Modules are instrumented once here; one test covers instrumenting in memory. The
// fixture runs are concurrent: most of each is a child Node starting up.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { MAY_WAIT_IMPORTS } from '../src/runtime/wasi/index.js';
import { run as command } from './helpers/command.js';
import { projectRoot, requireNode24 } from './helpers/tools.js';
import { cFixtures, fixturesDir, runWasi, TRAP_EXIT_CODE } from './helpers/wasi-run.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const FIXTURES = cFixtures().map((path) => basename(path, '.wasm'));
const STDIN = 'a line of input\nand another\n';
const ENV = { LUNATIC_GREETING: 'hello there' };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(node: string, args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(node, [BIN, ...args], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(stdin);
  });
}

let dir: string;
const fixture = (name: string) => readFileSync(join(fixturesDir, 'c', `${name}.wasm`));
/** Program arguments: files works in the directory given as its first argument. */
const programArgs = (name: string, sandbox: string) => (name === 'files' ? [sandbox] : ['one', 'two words']);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lunatic-run-'));
  for (const name of FIXTURES) {
    // as `run` instruments in memory: every WASI call that may wait is blocking
    writeFileSync(join(dir, `${name}.asyncify.wasm`), (await instrument(fixture(name), { blockingImports: [...MAY_WAIT_IMPORTS] })).binary);
    writeFileSync(join(dir, `${name}.jspi.wasm`), (await instrument(fixture(name), { asyncify: false })).binary);
  }
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function reference(name: string): Promise<Run> {
  const sandbox = mkdtempSync(join(dir, 'ref-'));
  const result = await runWasi(fixture(name), {
    args: programArgs(name, '/sandbox'),
    env: ENV,
    stdin: STDIN,
    preopens: { '/sandbox': sandbox },
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.trap ? '' : result.stderr.toString() };
}

async function ours(node: string, name: string, backend: string, flags: string[] = []): Promise<Run> {
  const sandbox = mkdtempSync(join(dir, 'run-'));
  const env = Object.entries(ENV).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
  // argv[0] is the module's file name, as the reference runner names it
  const program = join(dir, `${name}.${backend}.wasm`);
  const run = await cli(
    node,
    ['run', program, '--backend', backend, ...flags, '--dir', `${sandbox}::/sandbox`, ...env, '--', ...programArgs(name, '/sandbox')],
    STDIN,
  );
  return { ...run, stdout: run.stdout.replaceAll(`${name}.${backend}.wasm`, 'program.wasm') };
}

function expectSameRun(actual: Run, expected: Run): void {
  expect(actual.stdout).toBe(expected.stdout);
  expect(actual.code).toBe(expected.code);
  if (expected.code === TRAP_EXIT_CODE) expect(actual.stderr).toMatch(/crashed: .*\n {4}at \w+/);
  else expect(actual.stderr).toBe(expected.stderr);
}

describe('run on this Node (Asyncify)', () => {
  it.concurrent.each(FIXTURES)('%s: same output and exit code as node:wasi', async (name) => {
    expectSameRun(await ours(process.execPath, name, 'asyncify'), await reference(name));
  });

  // these programs are small: by default a process is suspended every batch; --keep-cpu keeps it
  // running, through stdin reads (host Promises, which give the event loop its turn) and files
  it.concurrent.each(FIXTURES)('%s with --keep-cpu: the same', async (name) => {
    expectSameRun(await ours(process.execPath, name, 'asyncify', ['--keep-cpu']), await reference(name));
  });

  it('names the trap and the function that trapped, exit code 134', async () => {
    const run = await cli(process.execPath, ['run', join(dir, 'trap.asyncify.wasm')]);
    expect(run.code).toBe(TRAP_EXIT_CODE);
    expect(run.stdout).toBe('about to trap\n');
    expect(run.stderr).toMatch(/crashed: unreachable\n {4}at crash_here\n {4}at main\n/);
  });

  it('instruments a plain module in memory and reads the piped stdin', async () => {
    const run = await cli(process.execPath, ['run', join(fixturesDir, 'c/cat.wasm'), '--backend', 'asyncify'], 'piped\nbytes\n');
    expect(run).toEqual({ code: 0, stdout: 'piped\nbytes\n', stderr: 'cat: 12 bytes\n' });
  });

  it('bad input: one line, exit code 1', async () => {
    const run = await cli(process.execPath, ['run', join(dir, 'missing.wasm')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lunatic-instrument: .*missing\.wasm: cannot read input: does not exist\n$/);
  });
});

/** A command that calls a small function 20 million times: V8 compiles both again, optimized, as it runs. */
const HOT_WAT = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $mix (param $x i32) (result i32) (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
  (func (export "_start") (local $i i32) (local $x i32)
    (loop $l
      (local.set $x (call $mix (local.get $x)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20000000))))
    (call $exit (i32.and (local.get $x) (i32.const 0)))))`;

/** Wasm functions V8 compiled optimized (TurboFan) while `run` ran the hot command with `flags`. */
async function optimizedCompiles(node: string, backend: string, flags: string[]): Promise<number> {
  const [source, program] = [join(dir, 'hot.wat'), join(dir, `hot.${backend}.wasm`)];
  writeFileSync(source, HOT_WAT);
  expect((await cli(process.execPath, [source, '-o', program, ...(backend === 'asyncify' ? [] : ['--no-asyncify'])])).code).toBe(0);
  const run = await command(node, ['--trace-wasm-compilation-times', BIN, 'run', program, '--backend', backend, ...flags], { cwd: dir });
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.split('\n').filter((line) => line.includes('using TurboFan')).length;
}

/** Prints the WASI filetype of descriptors 0, 1 and 2 (2: a character device, as a terminal is; 0: unknown). */
const STDIO_TYPES_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $stat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "types ? ? ?\\n")
  (func (export "_start") (local $fd i32)
    (loop $each
      (drop (call $stat (local.get $fd) (i32.const 0)))
      (i32.store8 (i32.add (i32.const 106) (i32.shl (local.get $fd) (i32.const 1))) (i32.add (i32.load8_u (i32.const 0)) (i32.const 48)))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $fd) (i32.const 3))))
    (i32.store (i32.const 200) (i32.const 100))
    (i32.store (i32.const 204) (i32.const 12))
    (drop (call $write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))))`;

describe('run: stdio is a terminal only when it is one', () => {
  it('piped stdin, stdout and stderr are not terminals: of no known type, so isatty is 0', async () => {
    writeFileSync(join(dir, 'stdio-types.wat'), STDIO_TYPES_WAT);
    const run = await cli(process.execPath, ['run', join(dir, 'stdio-types.wat')]);
    expect(run).toEqual({ code: 0, stdout: 'types 0 0 0\n', stderr: '' });
  });

  it('on a pseudo-terminal all three are character devices', async (context) => {
    const script = '/usr/bin/script'; // util-linux: runs a command on a pseudo-terminal
    if (!existsSync(script)) return context.skip('util-linux script(1) is not installed');
    writeFileSync(join(dir, 'stdio-types.wat'), STDIO_TYPES_WAT);
    const commandLine = [process.execPath, BIN, 'run', join(dir, 'stdio-types.wat')].map((word) => `'${word}'`).join(' ');
    const run = await command(script, ['-qec', commandLine, '/dev/null'], { cwd: dir });
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/^types 2 2 2\r?\n$/);
  });
});

describe('run --no-tier-up', () => {
  const node24 = requireNode24();
  it('keeps V8 from compiling the program again, optimized (Asyncify, this Node)', async () => {
    expect(await optimizedCompiles(process.execPath, 'asyncify', [])).toBeGreaterThan(0);
    expect(await optimizedCompiles(process.execPath, 'asyncify', ['--no-tier-up'])).toBe(0);
  });

  it.skipIf(!node24)('keeps V8 from compiling the program again, optimized (JSPI, Node 24)', async () => {
    expect(await optimizedCompiles(node24!, 'jspi', [])).toBeGreaterThan(0);
    expect(await optimizedCompiles(node24!, 'jspi', ['--no-tier-up'])).toBe(0);
  });
});

describe('run on Node 24 (JSPI)', () => {
  const node24 = requireNode24();

  it.skipIf(!node24).concurrent.each(FIXTURES)('%s: same output and exit code as node:wasi', async (name) => {
    expectSameRun(await ours(node24!, name, 'jspi'), await reference(name));
  });
});
