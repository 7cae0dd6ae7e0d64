// The Rust crate rust/lunatic-instrument with the real cargo (Debian's 1.63, offline, in a staged
// copy with CARGO_HOME and the target dir in a temporary directory): its docs build without a
// warning and its examples (and README's) compile; test/rust/processes (spawn by function and by export, ping-pong, crashes caught by a
// monitor and a trapped link, selective receive, timeouts, error names, TCP echo on loopback)
// runs through `lunatic-instrument run` with exactly the expected output on Node 20 (Asyncify)
// and Node 24 (JSPI); examples/rust-echo runs with `cargo run` through its runner and survives
// a crashing connection.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { build, run } from './helpers/command.js';
import { stageRepositoryFolders } from './helpers/stage.js';
import { exchange } from './helpers/tcp.js';
import { findCargo, projectRoot, requireNode24, requireTool } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const STEP_TIMEOUT = 120_000;

const EXPECTED = `spawn by function: 42 from the child: true
spawn by export: named
ping-pong: 1000 rounds, last 1001
monitor: Crashed
monitor: Exited(7)
monitor: Killed
link: Crashed from the child: true
selective: 10000 bytes, then ten, twelve
timeout: LUNATIC_ETIMEDOUT: timed out
send to an ended process: NoProcess
tag 0: Invalid
widening: Permission
denied spawn: LUNATIC_EPERM: not allowed by the process's configuration
tcp echo: hello over tcp
and again
no permission: Permission
done
`;

/**
 * The Rust code blocks of Markdown or doc comments, as programs the way rustdoc makes them: `# `
 * lines shown, `use` lines at the top, a body without `fn main` inside one (in a closure, so that
 * a final `Ok::<(), E>(())` lets it use `?`).
 */
function docExamples(text: string): string[] {
  const lines = text.split('\n').map((line) => line.replace(/^\s*\/\/[/!] ?/, ''));
  const examples: string[] = [];
  let block: string[] | undefined;
  for (const line of lines) {
    if (!block && /^```(rust|no_run)$/.test(line)) block = [];
    else if (block && line.startsWith('```')) {
      const code = block.map((codeLine) => codeLine.replace(/^# /, ''));
      const uses = code.filter((codeLine) => codeLine.startsWith('use '));
      const body = code.filter((codeLine) => !codeLine.startsWith('use '));
      const main = body.some((codeLine) => codeLine.startsWith('fn main')) ? body : ['fn main() {', 'let _ = (|| {', ...body, '})();', '}'];
      examples.push(['#![allow(unused)]', ...uses, ...main].join('\n'));
      block = undefined;
    } else block?.push(line);
  }
  return examples;
}

/** The panic message and the runtime's crash report, once per crashing process (the monitored one, the linked one). */
const CRASH_REPORT =
  /panicked at 'this process crashes on purpose'[\s\S]*?lunatic-instrument: process \d+ crashed: unreachable\n[\s\S]*?at \S*crasher/g;

describe('the Rust crate with cargo', () => {
  const cargo = requireTool('cargo with the wasm32-wasi target', findCargo(), 'apt-get install cargo rustc libstd-rust-dev-wasm32');
  const node24 = requireNode24();
  let root: string;
  let env: NodeJS.ProcessEnv;
  let program: string;

  beforeAll(async () => {
    if (!cargo) return;
    root = await mkdtemp(join(tmpdir(), 'lunatic-rust-'));
    await stageRepositoryFolders(root, ['rust/lunatic-instrument', 'test/rust/processes', 'examples/rust-echo']);
    // Debian's rustc/rustdoc have the wasm32-wasi std; rustup's (first in PATH here) have not.
    env = {
      ...process.env,
      RUSTC: '/usr/bin/rustc',
      RUSTDOC: '/usr/bin/rustdoc',
      CARGO_HOME: join(root, 'cargo-home'),
      CARGO_TARGET_DIR: join(root, 'target'),
      CARGO_TARGET_WASM32_WASI_RUNNER: undefined,
    };
    await build(cargo, ['build', '--offline', '--target', 'wasm32-wasi'], { cwd: join(root, 'test/rust/processes'), env });
    program = join(root, 'target/wasm32-wasi/debug/lunatic-processes-test.wasm');
  }, STEP_TIMEOUT);
  afterAll(() => root && rm(root, { recursive: true, force: true }));

  it.skipIf(!cargo)(
    'cargo doc: no warnings',
    async () => {
      const doc = await run(cargo!, ['doc', '--offline', '--target', 'wasm32-wasi'], {
        cwd: join(root, 'rust/lunatic-instrument'),
        env: { ...env, RUSTDOCFLAGS: '-Dwarnings' },
      });
      expect({ code: doc.code, warnings: doc.stderr.match(/^(warning|error).*$/gm) }, doc.stderr).toEqual({ code: 0, warnings: null });
    },
    STEP_TIMEOUT,
  );

  it.skipIf(!cargo)(
    'the examples of the docs and of the README compile (cargo check: rustdoc cannot run wasm32 doctests)',
    async () => {
      const crate = join(root, 'rust/lunatic-instrument');
      const sources = await Promise.all((await readdir(join(crate, 'src'))).map((file) => readFile(join(crate, 'src', file), 'utf8')));
      const examples = [...sources, await readFile(join(projectRoot, 'README.md'), 'utf8')].flatMap(docExamples);
      expect(examples.length).toBeGreaterThanOrEqual(10);
      const checker = join(root, 'doc-examples');
      await mkdir(join(checker, 'src/bin'), { recursive: true });
      const manifest = `[package]\nname = "doc-examples"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nlunatic-instrument = { path = "../rust/lunatic-instrument" }\n`;
      await writeFile(join(checker, 'Cargo.toml'), manifest);
      await Promise.all(examples.map((example, i) => writeFile(join(checker, `src/bin/example${i}.rs`), example)));
      await build(cargo!, ['check', '--offline', '--bins', '--target', 'wasm32-wasi'], { cwd: checker, env });
    },
    STEP_TIMEOUT,
  );

  async function expectProgramRuns(node: string): Promise<void> {
    const result = await run(node, [BIN, 'run', program, '--allow-listen', '127.0.0.1:0', '--allow-connect', '127.0.0.1:*'], { cwd: root });
    expect({ code: result.code, stdout: result.stdout }, result.stderr).toEqual({ code: 0, stdout: EXPECTED });
    expect(result.stderr.match(CRASH_REPORT), result.stderr).toHaveLength(2);
  }

  it.skipIf(!cargo)('the test program on Node 20 (Asyncify)', () => expectProgramRuns(process.execPath), STEP_TIMEOUT);
  it.skipIf(!cargo || !node24)('the test program on Node 24 (JSPI)', () => expectProgramRuns(node24!), STEP_TIMEOUT);

  describe('examples/rust-echo with cargo run', () => {
    let server: ChildProcess | undefined;
    afterEach(() => {
      // cargo and the runner it started: the whole process group.
      if (server?.pid !== undefined && server.exitCode === null) process.kill(-server.pid, 'SIGKILL');
    });

    it.skipIf(!cargo)(
      'echoes with one process per connection and survives a crashing one',
      async () => {
        server = spawn(cargo!, ['run', '--offline', '--quiet', '--target', 'wasm32-wasi'], {
          cwd: join(root, 'examples/rust-echo'),
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
        let stdout = '';
        let stderr = '';
        server.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
        const port = await new Promise<number>((resolve, reject) => {
          server!.stdout!.on('data', (data: Buffer) => {
            stdout += data.toString();
            const match = /^listening on 127\.0\.0\.1:(\d+)\n/.exec(stdout);
            if (match) resolve(Number(match[1]));
          });
          server!.on('exit', (code) => reject(new Error(`cargo run exited with ${code}: ${stderr}`)));
        });
        expect(await exchange(port, 'hello\n', 6)).toBe('hello\n');
        expect(await exchange(port, 'CRASH\n')).toBe('');
        expect(await exchange(port, 'still serving\n', 14)).toBe('still serving\n');
        await expect.poll(() => stderr).toMatch(/lunatic-instrument: process \d+ crashed: unreachable\n[\s\S]*at \S*rust_echo5serve/);
        expect(server.exitCode).toBe(null);
      },
      STEP_TIMEOUT,
    );
  });
});
