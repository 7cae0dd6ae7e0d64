// The runtime on several threads, as a user meets it: `lunatic-instrument run --threads N` with a
// C probe (test/threads/probe.c, built with clang at test time) whose children go to the other
// thread: messages in order right after spawn, selective receive and timeouts, kill and monitor
// across threads, a crash that kills a process linked to it on the other thread, trap_links,
// configurations and limits, a mailbox bound, a configuration handle given across threads, global
// names, a message larger than a ring, and main's exit code while a child still runs on a worker.
// The output must be the same on one thread and on two (Node 20, Asyncify) and on Node 24 (JSPI).
// Sockets given across threads: the echo server with --threads 2 (1,000 clients, a crash); a
// listener given to a process on the worker (test/threads/acceptor.c). Processes that move between
// the threads while they compute (test/threads/movers.c) print what they print on one thread.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleThreadWorker } from '../scripts/bundle-thread-worker.js';
import { instrument } from '../src/index.js';
import { Errno } from '../src/runtime/lunatic/errno.js';
import type { Lunatic, Program } from '../src/runtime/lunatic/lunatic.js';
import { DEFAULT_MAX_PROCESSES } from '../src/runtime/runtime.js';
import { createSharedMemory, SharedState } from '../src/runtime/threads/shared.js';
import { ThreadPeers } from '../src/runtime/threads/threads.js';
import { compileLunaticC } from './helpers/clang.js';
import { run } from './helpers/command.js';
import { exchange, listeningSockets, startServerProcess } from './helpers/tcp.js';
import { findClang, projectRoot, requireNode24, requireTool } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');

const EXPECTED = [
  'round trips: 1000, in order: 1',
  'echo ended: 1 reason 0',
  'tag 4: 4 four',
  'tag 3: 5 three',
  'timeout: -5',
  'monitor: 0',
  'kill: 0',
  'killed: 1 reason 2',
  'send to the dead: -3, kill the dead: -3, link to the dead: -3',
  'link down: 1 reason 1',
  'victim linked: 0',
  'victim: 1 reason 2',
  'denied spawn: -1',
  'over its limit: 1 reason 1',
  'mailbox bound: 0 0 -4',
  'rendezvous: -4 0 -4, answer 8',
  'give: 0',
  'given config: 0, gone here: -2',
  'register: 0',
  'whereis: 1, taken: -13',
  'whereis after its end: -3',
  'big message: 3145728, sum matches: 1',
  'last words from a child',
  '',
].join('\n');

/** The crash reports on stderr, in a stable order (the threads' reports may interleave). */
const CRASHES = [
  /^lunatic-instrument: process \d+ crashed: unreachable\n\s+at crasher\n/m,
  /^lunatic-instrument: process \d+ crashed: unreachable\n\s+at crash_on_cue\n/m,
  /^lunatic-instrument: process \d+ crashed: process \d+ exceeded its limit of 50000000 reductions\n/m,
];

/**
 * test/threads/NAME.c for the tests of a describe block, built before them: as built (Node 24
 * instruments it in memory for JSPI) and instrumented once for Asyncify, in a directory of its own.
 */
function builtProgram(name: string, clang: string | undefined): { dir: string; plain: string; instrumented: string } {
  const built = { dir: '', plain: '', instrumented: '' };
  beforeAll(async () => {
    if (!clang) return;
    built.dir = mkdtempSync(join(tmpdir(), `lunatic-threads-${name}-`));
    built.plain = join(built.dir, `${name}.wasm`);
    built.instrumented = join(built.dir, `${name}-instrumented.wasm`);
    const bytes = compileLunaticC(clang, readFileSync(join(projectRoot, `test/threads/${name}.c`), 'utf8'), { command: true });
    writeFileSync(built.plain, bytes);
    writeFileSync(built.instrumented, (await instrument(bytes)).binary);
  }, 60_000);
  afterAll(() => built.dir && rmSync(built.dir, { recursive: true, force: true }));
  return built;
}

describe('the lunatic API across threads (lunatic-instrument run --threads)', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  const node24 = requireNode24();
  const built = builtProgram('probe', clang);

  async function expectProbe(node: string, threads: number): Promise<void> {
    const program = node === process.execPath ? built.instrumented : built.plain;
    const result = await run(node, [BIN, 'run', program, '--threads', String(threads)], { cwd: built.dir, timeoutMs: 60_000 });
    expect({ code: result.code, stdout: result.stdout }, result.stderr).toEqual({ code: 7, stdout: EXPECTED });
    for (const crash of CRASHES) expect(result.stderr).toMatch(crash);
    expect(result.stderr.match(/crashed/g)).toHaveLength(CRASHES.length);
  }

  it.skipIf(!clang)('--threads 1: one event loop, as before', () => expectProbe(process.execPath, 1), 60_000);
  it.skipIf(!clang)(
    '--threads 2 on Node 20 (Asyncify): the same results, children on the worker',
    () => expectProbe(process.execPath, 2),
    60_000,
  );
  it.skipIf(!clang || !node24)('--threads 2 on Node 24 (JSPI)', () => expectProbe(node24!, 2), 60_000);
  it.skipIf(!clang)('--threads 3: the same results, children on two workers', () => expectProbe(process.execPath, 3), 60_000);
});

describe("one stdout for every thread's processes", () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  const node24 = requireNode24();
  const built = builtProgram('ordered', clang);
  const expected = Array.from({ length: 200 }, (_, round) => `child ${round}\nmain ${round}: 1 0\n`).join('');

  // before, a worker's output went to the main thread by message, after the child's end had
  async function expectOrdered(node: string, program: string): Promise<void> {
    const result = await run(node, [BIN, 'run', program, '--threads', '2'], { cwd: built.dir, timeoutMs: 60_000 });
    expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ code: 0, stdout: expected, stderr: '' });
  }

  it.skipIf(!clang)(
    'keeps the lines in the order they were written (Node 20)',
    () => expectOrdered(process.execPath, built.instrumented),
    60_000,
  );
  it.skipIf(!clang || !node24)('and on Node 24 (JSPI)', () => expectOrdered(node24!, built.plain), 60_000);
});

describe('sockets given to processes on another thread (the echo server, --threads 2)', () => {
  const node24 = requireNode24();
  const running: ChildProcess[] = [];
  let dir: string;
  let echoServer: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lunatic-threads-echo-'));
    echoServer = join(dir, 'echo-server.wasm');
    writeFileSync(echoServer, (await instrument(readFileSync(join(projectRoot, 'examples/echo-server/echo-server.wasm')))).binary);
  }, 60_000);
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    for (const child of running.splice(0)) child.kill('SIGKILL');
  });

  async function echoMany(port: number, clients: number): Promise<number> {
    const answers = await Promise.all(
      Array.from({ length: clients }, (_, i) => {
        const line = `client ${i} ${'x'.repeat(i % 50)}\n`;
        return exchange(port, line, line.length).then((echoed) => echoed === line);
      }),
    );
    return answers.filter(Boolean).length;
  }

  /** Sends 1 MiB on one connection and resolves with what came back. */
  function echoLarge(port: number, payload: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const socket = connect(port, '127.0.0.1', () => socket.write(payload));
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= payload.length) socket.end();
      });
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
  }

  /** `listeners`: the sockets listening at the port, 2 where each thread accepts its own connections (Node >= 22.12). */
  async function expectEchoes(node: string, module: string, listeners: number, flags: string[] = []): Promise<void> {
    const server = startServerProcess(node, [module, '--allow-listen', '127.0.0.1:0', '--threads', '2', ...flags], running);
    const port = await server.port;
    expect(listeningSockets(port)).toBe(listeners);
    expect(await echoMany(port, 1000)).toBe(1000);
    const payload = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 31) & 0xff));
    expect((await echoLarge(port, payload)).equals(payload)).toBe(true);
    expect(await exchange(port, 'CRASH\n')).toBe('');
    expect(await exchange(port, 'still serving\n', 14)).toBe('still serving\n');
    await expect.poll(server.stderr).toMatch(/^lunatic-instrument: process \d+ crashed: unreachable\n\s+at conn_handler\n/);
  }

  it(
    'echoes 1,000 concurrent clients and 1 MiB in order, and survives a crashing connection process',
    () => expectEchoes(process.execPath, echoServer, process.versions.node.startsWith('20.') ? 1 : 2),
    60_000,
  );
  // JSPI suspends at every lunatic call: the handler must still get its socket before it runs
  it.skipIf(!node24)(
    'the same on Node 24 (JSPI), each thread accepting its own connections',
    () => expectEchoes(node24!, join(projectRoot, 'examples/echo-server/echo-server.wasm'), 2),
    60_000,
  );
  it.skipIf(!node24)(
    'the same on Node 24 with Asyncify, and with --no-move (one listener, sockets proxied)',
    async () => {
      await expectEchoes(node24!, echoServer, 2, ['--backend', 'asyncify']);
      await expectEchoes(node24!, echoServer, 1, ['--backend', 'asyncify', '--no-move']);
    },
    90_000,
  );
});

describe('a listener given to a process on another thread (test/threads/acceptor.c, --threads 2)', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  const node24 = requireNode24();
  const running: ChildProcess[] = [];
  const built = builtProgram('acceptor', clang);
  afterEach(() => {
    for (const child of running.splice(0)) child.kill('SIGKILL');
  });

  async function expectAccepts(node: string, module: string, threads = 2, mode: string[] = []): Promise<void> {
    const clients = 50;
    const args = [module, '--allow-listen', '127.0.0.1:0', '--threads', String(threads), '--', String(clients), ...mode];
    const server = startServerProcess(node, args, running);
    const port = await server.port;
    const answers = await Promise.all(Array.from({ length: clients }, (_, i) => exchange(port, `client ${i}\n`)));
    // each client got its own line back, numbered by the order the acceptor took them: 1..50 once each
    const numbers = answers.map((answer, i) => {
      const [number, ...rest] = answer.split(' ');
      expect(rest.join(' '), server.stderr()).toBe(`client ${i}\n`);
      return Number(number);
    });
    expect(numbers.sort((p, q) => p - q)).toEqual(Array.from({ length: clients }, (_, i) => i + 1));
    const code = await new Promise((resolve) => server.child.on('exit', resolve));
    expect(code, server.stderr()).toBe(3);
  }

  it.skipIf(!clang)(
    'accepts there, each connection proxied (Node 20, Asyncify)',
    () => expectAccepts(process.execPath, built.instrumented),
    60_000,
  );
  it.skipIf(!clang || !node24)('the same on Node 24 (JSPI)', () => expectAccepts(node24!, built.plain), 60_000);
  // each accepted connection (a proxy on the acceptor's thread) is given on to a handler: back to
  // the listener's thread as the socket itself, kept on the acceptor's, or on to a third thread
  it.skipIf(!clang)(
    'the accepted connections given on to handlers on every thread (2 and 3 threads)',
    async () => {
      await expectAccepts(process.execPath, built.instrumented, 2, ['handlers']);
      await expectAccepts(process.execPath, built.instrumented, 3, ['handlers']);
    },
    60_000,
  );
  it.skipIf(!clang || !node24)('the same on Node 24 (JSPI)', () => expectAccepts(node24!, built.plain, 3, ['handlers']), 60_000);
});

describe('--threads flag', () => {
  it('outside 1..64 is a usage error: exit 2, one line', async () => {
    for (const value of ['0', '65', '1.5']) {
      const result = await run(process.execPath, [BIN, 'run', 'x.wasm', '--threads', value], { cwd: projectRoot });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/^lunatic-instrument: --threads must be a whole number from 1 to 64/),
      ]);
    }
  });

  it('with --node above 1 is a usage error (a cluster node runs on one thread)', async () => {
    const result = await run(process.execPath, [BIN, 'run', 'x.wasm', '--threads', '2', '--node', 'a', '--nats', 'nats://127.0.0.1:1'], {
      cwd: projectRoot,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^lunatic-instrument: --threads above 1 with --node/);
  });
});

describe('the code of a worker thread', () => {
  it('is one bundled file once built (npm run build), which the current sources still make', async () => {
    const { threadWorkerEntry } = (await import(pathToFileURL(join(projectRoot, 'dist/src/run-program.js')).href)) as {
      threadWorkerEntry(): URL;
    };
    expect(threadWorkerEntry().pathname).toMatch(/\/dist\/src\/runtime\/node\/thread-worker\.bundle\.js$/);
    const dir = mkdtempSync(join(tmpdir(), 'lunatic-worker-bundle-'));
    try {
      // refuses a graph that reaches import.meta (a bundle moves the code away from its files)
      expect(await bundleThreadWorker(join(dir, 'worker.js'))).toBeGreaterThan(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('processes moving between threads (test/threads/movers.c)', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  const node24 = requireNode24();
  const built = builtProgram('movers', clang);

  async function movers(node: string, module: string, flags: string[], nodeFlags: string[] = []): Promise<string> {
    const result = await run(node, [...nodeFlags, BIN, 'run', module, ...flags], { cwd: built.dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^lunatic-instrument: process \d+ crashed: unreachable\n\s+at worker\n/m);
    expect(result.stderr.match(/crashed/g)).toHaveLength(1);
    return result.stdout;
  }

  it.skipIf(!clang)(
    'prints on two threads, moving or not, what it prints on one (Node 20, Asyncify)',
    async () => {
      const one = await movers(process.execPath, built.instrumented, ['--threads', '1']);
      expect(one).toMatch(
        /^config given: 0, buddy linked: 0\n(worker \d: checksum [0-9a-f]{8}, received 100, in order 1, spawned [01]\n){6}/,
      );
      expect(one).toContain('workers ended: 5 exited, 1 crashed (worker 3), 0 killed\nbuddy: reason 2\n');
      expect(await movers(process.execPath, built.instrumented, ['--threads', '2'])).toBe(one);
      expect(await movers(process.execPath, built.instrumented, ['--threads', '2', '--no-move'])).toBe(one);
      expect(await movers(process.execPath, built.instrumented, ['--threads', '3'])).toBe(one);
      // a V8 option of the main thread (which a worker may not be given explicitly)
      expect(await movers(process.execPath, built.instrumented, ['--threads', '2'], ['--stack-size=2000'])).toBe(one);
    },
    60_000,
  );
  it.skipIf(!clang)(
    "the same through the library's runProgram({ threads: 2 }), which resolves with main's status",
    async () => {
      const one = await movers(process.execPath, built.instrumented, ['--threads', '1']);
      const library = pathToFileURL(join(projectRoot, 'dist/src/index.js')).href;
      const script = `import { runProgram } from '${library}';
        const status = await runProgram(process.argv[1], { threads: 2 });
        process.stdout.write('status ' + JSON.stringify(status) + '\\n');
        process.exit(0);`;
      // the plain module: runProgram instruments it in memory, as `run` does
      const result = await run(process.execPath, ['--input-type=module', '-e', script, built.plain], { cwd: built.dir });
      expect(result.stderr.match(/crashed/g), result.stderr).toHaveLength(1);
      expect(result.stdout).toBe(`${one}status {"code":0}\n`);
    },
    60_000,
  );
  // JSPI: only processes that have not started move
  it.skipIf(!clang || !node24)(
    'the same on Node 24 (JSPI)',
    async () => {
      const one = await movers(process.execPath, built.instrumented, ['--threads', '1']);
      expect(await movers(node24!, built.plain, ['--threads', '2'])).toBe(one);
    },
    60_000,
  );
});

describe('the process limit across threads', () => {
  it('holds at its default on every thread, counting all threads’ live processes', () => {
    const memory = createSharedMemory(2);
    const shared = new SharedState(memory);
    for (let spawned = 0; spawned < DEFAULT_MAX_PROCESSES; spawned++) shared.allocatePid(0, 1);
    // a worker's peers, built as thread-worker.ts builds them when no limit was given
    const world = { attachThreads() {}, network: undefined } as unknown as Lunatic;
    const peers = new ThreadPeers({ index: 1, memory, world, program: {} as Program });
    expect(() => peers.placeChild()).toThrow(expect.objectContaining({ errno: Errno.NOMEM }));
  });
});
