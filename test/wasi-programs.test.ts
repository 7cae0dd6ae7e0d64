// Real clang-built C programs (fixtures/c) on our WASI, compared with plain node:wasi
// (runWasi, the reference runner). First without any suspension: a tiny synchronous driver and
// the in-memory file system, where no call may return a Promise. Then through the runtime
// (Asyncify on this Node): stdin from a Node stream, files in a host directory, sleeps, and a
// process blocked on stdin while another runs to completion. Last, plain (uninstrumented)
// modules on JSPI in a real Node 24, with the file calls suspending on fs/promises.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { importsOf, Runtime } from '../src/runtime/index.js';
import { nodeDirectory } from '../src/runtime/node/fs.js';
import { NodeInput, NodeOutput } from '../src/runtime/node/stdio.js';
import { type ProcessContext, ProcessExit } from '../src/runtime/types.js';
import {
  CollectedOutput,
  MAY_WAIT_IMPORTS,
  MemoryDirectory,
  QueueInput,
  type WasiOptions,
  wasiPreview1,
} from '../src/runtime/wasi/index.js';
import { projectRoot, requireNode24 } from './helpers/tools.js';
import { fixturesDir, runWasi } from './helpers/wasi-run.js';

/**
 * What file_meta prints where the calls do what POSIX says. node:wasi (uvwasi) prints otherwise: it
 * drops the sub-second part of the times and does not report O_APPEND in F_GETFL after F_SETFL.
 */
const FILE_META_OUTPUT = [
  'utimensat: ok',
  'by path: atime 1000000000.250000000 mtime 1200000000.500000000 size 4',
  'futimens, mtime only: ok',
  'by descriptor: atime 1000000000.250000000 mtime 1300000000.000000000 size 4',
  'utimensat, not following links: ok',
  'not following: atime 1100000000.000000000 mtime 1400000000.000000000 size 4',
  'fcntl O_APPEND on: ok',
  'append flag: 1',
  'fcntl O_APPEND off: ok',
  'append flag: 0',
  'posix_fadvise: ok',
  'posix_fallocate to 4096: ok',
  'posix_fallocate inside: ok',
  'size after fallocate: 4096',
  'text: ONE',
  'two',
  'file_meta done',
  '',
].join('\n');

const fixture = (name: string): Uint8Array<ArrayBuffer> => new Uint8Array(readFileSync(join(fixturesDir, 'c', `${name}.wasm`)));
const ARGV0 = 'program.wasm'; // what runWasi passes
const GUEST_DIR = '/sandbox';

/**
 * Runs a command module to its end with no suspension at all: every WASI call must answer at
 * once (a Promise fails the run). Returns the exit code and what was written.
 */
function runSynchronously(bytes: Uint8Array<ArrayBuffer>, options: Omit<WasiOptions, 'stdout' | 'stderr'>) {
  const stdout = new CollectedOutput();
  const stderr = new CollectedOutput();
  let memory: WebAssembly.Memory | undefined;
  const unexpected = () => {
    throw new Error('the synchronous driver cannot wait');
  };
  const ctx: ProcessContext = {
    pid: 1,
    signal: new AbortController().signal,
    memory: () => memory!,
    sleep: unexpected,
    yieldNow: unexpected,
    charge: () => {},
  };
  const wasi = importsOf(wasiPreview1({ ...options, stdout, stderr }), ctx).wasi_snapshot_preview1!;
  const imports: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, fn] of Object.entries(wasi)) {
    imports[name] = (...args) => {
      const result = fn(...args);
      if (result instanceof Promise) throw new Error(`${name} returned a Promise`);
      return result;
    };
  }
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { wasi_snapshot_preview1: imports });
  memory = instance.exports.memory as WebAssembly.Memory;
  let code = 0;
  try {
    (instance.exports._start as () => void)();
  } catch (error) {
    if (!(error instanceof ProcessExit)) throw error;
    code = error.code;
  }
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('C programs on WASI without suspension (in-memory file system)', () => {
  it.each<{ name: string; args: string[]; env: Record<string, string> }>([
    { name: 'hello', args: [], env: {} },
    { name: 'args_env', args: ['one', 'two words', 'ünï'], env: { LUNATIC_GREETING: 'hi there', OTHER: 'x' } },
    { name: 'exit_code', args: [], env: {} },
  ])('$name prints and exits as under node:wasi', async ({ name, args, env }) => {
    const reference = await runWasi(fixture(name), { args, env });
    const ours = runSynchronously(fixture(name), { args: [ARGV0, ...args], env, preopens: [] });
    expect(ours.stdout).toBe(reference.stdout.toString());
    expect(ours.stdout.length).toBeGreaterThan(0);
    expect(ours.code).toBe(reference.exitCode);
  });

  it('files: mkdir, write, read, stat, readdir, rename, unlink, rmdir give the same output', async () => {
    const hostDir = mkdtempSync(join(tmpdir(), 'wasi-ref-'));
    try {
      const reference = await runWasi(fixture('files'), { args: [GUEST_DIR], preopens: { [GUEST_DIR]: hostDir } });
      const dir = new MemoryDirectory({ 'keep.txt': 'kept' });
      const ours = runSynchronously(fixture('files'), { args: [ARGV0, GUEST_DIR], env: {}, preopens: [{ guestPath: GUEST_DIR, dir }] });
      // node:wasi's directory had no keep.txt: drop it from our listing lines to compare.
      expect(ours.stdout.replaceAll(' keep.txt', '')).toBe(reference.stdout.toString());
      expect(ours.stdout).toContain('files done');
      expect(ours.code).toBe(0);
      expect(dir.list().map((entry) => entry.name)).toEqual(['keep.txt']);
    } finally {
      rmSync(hostDir, { recursive: true, force: true });
    }
  });

  it('file_meta: times, O_APPEND by fcntl, posix_fallocate and posix_fadvise on the in-memory file system', () => {
    const dir = new MemoryDirectory();
    const ours = runSynchronously(fixture('file_meta'), { args: [ARGV0, GUEST_DIR], env: {}, preopens: [{ guestPath: GUEST_DIR, dir }] });
    expect(ours.stdout).toBe(FILE_META_OUTPUT);
    expect(ours.code).toBe(0);
  });

  it('a program without a preopen gets no file system (its own error, not host access)', () => {
    const ours = runSynchronously(fixture('files'), { args: [ARGV0, '/tmp'], env: {}, preopens: [] });
    expect(ours.code).toBe(1);
    expect(ours.stdout).toMatch(/^error: mkdir \/tmp\/sub: /);
  });
});

describe('C programs on WASI through the runtime (suspending)', () => {
  const NAMES = ['cat', 'files', 'sleep', 'file_meta'];
  const instrumented = new Map<string, Uint8Array>();
  const runtime = new Runtime();
  let hostDir: string;

  beforeAll(async () => {
    // File calls on Node's fs/promises wait too: instrument them as blocking imports.
    for (const name of NAMES) instrumented.set(name, (await instrument(fixture(name), { blockingImports: [...MAY_WAIT_IMPORTS] })).binary);
    hostDir = mkdtempSync(join(tmpdir(), 'wasi-runtime-'));
  }, 300_000);
  afterAll(() => rmSync(hostDir, { recursive: true, force: true }));

  const spawn = (name: string, options: Partial<WasiOptions>) =>
    runtime.spawn(instrumented.get(name)!, {
      hostModules: [wasiPreview1({ args: [ARGV0], env: {}, preopens: [], ...options })],
      blockingImports: [...MAY_WAIT_IMPORTS],
    });

  it('cat: stdin from a Node stream, stdout back-pressured through a Node stream, like node:wasi', async () => {
    const input = `${'line one\n'.repeat(3000)}last line without newline`;
    const stdinSource = new PassThrough();
    stdinSource.end(input);
    const chunks: Buffer[] = [];
    // A slow reader: each chunk is taken on a later turn of the event loop.
    const stdoutSink = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        setImmediate(done);
      },
    });
    const nodeOutput = new NodeOutput(stdoutSink);
    let waitedForDrain = 0;
    const stdout = {
      write: (bytes: Uint8Array) => {
        const result = nodeOutput.write(bytes);
        if (result) waitedForDrain++;
        return result;
      },
    };
    const stderr = new CollectedOutput();
    const status = await spawn('cat', { stdin: new NodeInput(stdinSource), stdout, stderr }).exited;
    const reference = await runWasi(fixture('cat'), { stdin: input });
    expect(status).toEqual({ code: 0 });
    expect(Buffer.concat(chunks).toString()).toBe(input);
    expect(waitedForDrain).toBeGreaterThan(0); // the process did wait on back-pressure
    expect(stderr.text()).toBe(reference.stderr.toString());
  });

  /** Runs a fixture given the host directory as GUEST_DIR (its first argument): its status and stdout. */
  const inHostDir = async (name: string) => {
    const stdout = new CollectedOutput();
    const preopens = [{ guestPath: GUEST_DIR, dir: await nodeDirectory(hostDir) }];
    const status = await spawn(name, { args: [ARGV0, GUEST_DIR], preopens, stdout }).exited;
    return { status, stdout };
  };

  it('files: the same output as node:wasi in a host directory, which ends up as it started', async () => {
    const { status, stdout } = await inHostDir('files');
    const referenceDir = mkdtempSync(join(tmpdir(), 'wasi-ref-'));
    try {
      const reference = await runWasi(fixture('files'), { args: [GUEST_DIR], preopens: { [GUEST_DIR]: referenceDir } });
      expect(status).toEqual({ code: 0 });
      expect(stdout.text()).toBe(reference.stdout.toString());
      expect(readdirSync(hostDir)).toEqual([]);
    } finally {
      rmSync(referenceDir, { recursive: true, force: true });
    }
  });

  it('file_meta: the metadata calls reach the host file, waiting on fs/promises', async () => {
    const { status, stdout } = await inHostDir('file_meta');
    expect(status).toEqual({ code: 0 });
    expect(stdout.text()).toBe(FILE_META_OUTPUT);
    expect(readdirSync(hostDir)).toEqual([]);
  });

  it('sleep: poll_oneoff naps on the runtime timers, each at least as long as asked', async () => {
    const stdout = new CollectedOutput();
    const status = await spawn('sleep', { stdout }).exited;
    const reference = await runWasi(fixture('sleep'));
    expect(status).toEqual({ code: 0 });
    expect(stdout.text()).toBe(reference.stdout.toString());
    expect(stdout.text()).toContain('slept 4 times, 0 too short');
  });

  it('a process waiting on stdin does not hold up another one', async () => {
    const stdin = new QueueInput();
    const blockedOut = new CollectedOutput();
    const blocked = spawn('cat', { stdin, stdout: blockedOut });
    const otherOut = new CollectedOutput();
    const other = spawn('cat', { stdin: new QueueInput('not blocked\n', { end: true }), stdout: otherOut });
    expect(await other.exited).toEqual({ code: 0 });
    expect(otherOut.text()).toBe('not blocked\n');
    expect(blocked.state).toBe('waiting');
    stdin.push('late input\n');
    stdin.end();
    expect(await blocked.exited).toEqual({ code: 0 });
    expect(blockedOut.text()).toBe('late input\n');
  });
});

describe('plain C programs on JSPI (Node 24)', () => {
  /** Runs fixtures in a Node 24 child: the runtime, our WASI and Node's fs/stdio, bundled with esbuild. */
  const CHILD = `
    import { readFileSync } from 'node:fs';
    import { Runtime } from '${projectRoot}src/runtime/index.ts';
    import { nodeDirectory } from '${projectRoot}src/runtime/node/fs.ts';
    import { CollectedOutput, MAY_WAIT_IMPORTS, QueueInput, wasiPreview1 } from '${projectRoot}src/runtime/wasi/index.ts';
    const [fixtures, hostDir] = process.argv.slice(2);
    const runtime = new Runtime();
    const run = async (name, options) => {
      const stdout = new CollectedOutput();
      const wasi = wasiPreview1({ args: ['program.wasm'], env: {}, preopens: [], stdout, ...options });
      const process_ = runtime.spawn(readFileSync(fixtures + '/' + name + '.wasm'), { hostModules: [wasi], blockingImports: [...MAY_WAIT_IMPORTS] });
      const status = await process_.exited;
      return { backend: process_.backend, status, stdout: stdout.text() };
    };
    const results = {
      cat: await run('cat', { stdin: new QueueInput('through jspi\\n', { end: true }) }),
      files: await run('files', { args: ['program.wasm', '/sandbox'], preopens: [{ guestPath: '/sandbox', dir: await nodeDirectory(hostDir) }] }),
    };
    console.log(JSON.stringify(results));
  `;

  it('cat and files run unmodified, suspending in fd_read and in the file calls', async () => {
    const node24 = requireNode24();
    if (!node24) return;
    const { build } = await import('esbuild');
    const work = mkdtempSync(join(tmpdir(), 'wasi-jspi-'));
    try {
      const hostDir = join(work, 'dir');
      mkdirSync(hostDir);
      writeFileSync(join(work, 'child.mjs'), CHILD);
      await build({
        entryPoints: [join(work, 'child.mjs')],
        bundle: true,
        platform: 'node',
        format: 'esm',
        outfile: join(work, 'bundle.mjs'),
        logLevel: 'silent',
      });
      const output = await new Promise<string>((resolve, reject) =>
        execFile(node24, [join(work, 'bundle.mjs'), join(fixturesDir, 'c'), hostDir], (error, stdout, stderr) =>
          error ? reject(new Error(stderr || String(error))) : resolve(stdout),
        ),
      );
      const results = JSON.parse(output) as Record<string, { backend: string; status: unknown; stdout: string }>;
      const referenceDir = join(work, 'ref');
      mkdirSync(referenceDir);
      const reference = await runWasi(fixture('files'), { args: [GUEST_DIR], preopens: { [GUEST_DIR]: referenceDir } });
      expect(results.cat).toEqual({ backend: 'jspi', status: { code: 0 }, stdout: 'through jspi\n' });
      expect(results.files!.status).toEqual({ code: 0 });
      expect(results.files!.stdout).toBe(reference.stdout.toString());
      expect(readdirSync(hostDir)).toEqual([]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
