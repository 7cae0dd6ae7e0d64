// `lunatic-instrument run` with the lunatic permission flags, as a user runs it (a child
// process of bin/lunatic-instrument.js, built by `npm test`): the echo server prints the port it
// bound, serves, survives a crashing connection process (reported on stderr) on Node 20
// (Asyncify) and Node 24 (JSPI, instrumented in memory); missing permissions and malformed
// flags give one clear line and exit codes 1 and 2.
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { exchange, startServerProcess } from './helpers/tcp.js';
import { projectRoot, requireNode24 } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const ECHO_SERVER = join(projectRoot, 'examples/echo-server/echo-server.wasm');

let dir: string;
/** The echo server instrumented once, so most runs start without instrumenting. */
let instrumented: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lunatic-cli-'));
  instrumented = join(dir, 'echo-server.wasm');
  writeFileSync(instrumented, (await instrument(readFileSync(ECHO_SERVER))).binary);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});

const startServer = (node: string, args: string[]) => startServerProcess(node, args, running);
type Server = ReturnType<typeof startServer>;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'run', ...args], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function expectServesThroughACrash(server: Server): Promise<void> {
  const port = await server.port;
  expect(await exchange(port, 'hello\n', 6)).toBe('hello\n');
  expect(await exchange(port, 'CRASH\n')).toBe('');
  expect(await exchange(port, 'still serving\n', 14)).toBe('still serving\n');
  await expect.poll(server.stderr).toMatch(/^lunatic-instrument: process \d+ crashed: unreachable\n\s+at conn_handler\n/);
  expect(server.child.exitCode).toBe(null);
}

describe('lunatic-instrument run with lunatic permissions', () => {
  it('--allow-listen 127.0.0.1:0: prints the port, echoes, and a crashing connection leaves the server up (Asyncify)', async () => {
    await expectServesThroughACrash(startServer(process.execPath, [instrumented, '--allow-listen', '127.0.0.1:0']));
  });

  const node24 = requireNode24();
  it.skipIf(!node24)(
    'the same on Node 24 (JSPI), the plain module instrumented in memory',
    async () => {
      await expectServesThroughACrash(startServer(node24!, [ECHO_SERVER, '--allow-listen', '127.0.0.1:0']));
    },
    60_000,
  );

  it('--no-spawn: the client is refused with the error code, the server keeps accepting', async () => {
    const server = startServer(process.execPath, [instrumented, '--allow-listen', '127.0.0.1:0', '--no-spawn']);
    const port = await server.port;
    expect(await exchange(port, 'hi\n')).toBe('error: cannot spawn a handler (-1)\n');
    expect(await exchange(port, 'hi\n')).toBe('error: cannot spawn a handler (-1)\n');
    expect(server.stderr()).toMatch(/^(echo-server: cannot spawn a handler \(error -1\)\n){2}$/);
  });

  it('without --allow-listen (or with another port) the program is denied and exits 1 with one line', async () => {
    for (const flags of [[], ['--allow-listen', '127.0.0.1:8080']]) {
      const result = await run([instrumented, ...flags]);
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: 'echo-server: cannot listen on 127.0.0.1:0 (error -1): allow it with --allow-listen 127.0.0.1:0\n',
      });
    }
  });

  it('a malformed pattern or limit is a usage error: exit 2, one line', async () => {
    for (const [flags, message] of [
      [['--allow-listen', '127.0.0.1'], /^lunatic-instrument: listen pattern "127.0.0.1" is not a host:port pattern/],
      [['--allow-connect', 'localhost:http'], /^lunatic-instrument: connect pattern "localhost:http" is not a host:port pattern/],
      [['--max-reductions', '-5'], /^lunatic-instrument: max reductions must be a whole number >= 0/],
    ] as const) {
      const result = await run([instrumented, ...flags]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
    }
  });
});
