// The C example servers (examples/echo-server, examples/chat: committed .wasm, instrumented
// here in memory) on the lunatic runtime with real loopback sockets: 1,000 concurrent echo
// clients, a crashing connection process that leaves the others serving, spawn and listen
// denied by permissions, and chat lines reaching the other clients in order; the echo and chat
// servers on one thread and on two (worlds joined as threads: sockets given across them).
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { type ExitStatus, type Process, Runtime } from '../src/runtime/index.js';
import { Lunatic, type LunaticProcess, NO_PERMISSIONS, type Permissions, type Program } from '../src/runtime/lunatic/index.js';
import type { SocketResource } from '../src/runtime/lunatic/api-tcp.js';
import type { Network } from '../src/runtime/lunatic/network.js';
import { NodeNetwork } from '../src/runtime/node/net.js';
import { callbackOutput, CollectedOutput, wasiPreview1 } from '../src/runtime/wasi/index.js';
import { SharingNetwork } from './helpers/shared-address.js';
import { joinAsThreads } from './helpers/threads.js';
import { projectRoot } from './helpers/tools.js';

const LISTEN = { ...NO_PERMISSIONS, canSpawn: true, listen: ['127.0.0.1:0'] } satisfies Permissions;

interface Server {
  /** The worlds: one, or two joined as threads (test/helpers/threads.ts); main runs in the first. */
  worlds: Lunatic[];
  main: LunaticProcess;
  stopThreads: (() => void) | undefined;
  /** The processes main spawned, in order. */
  processes: LunaticProcess[];
  stderr: () => string;
  /** Resolves with the port main printed ("listening on 127.0.0.1:PORT"), or with its exit status. */
  port: Promise<number | ExitStatus>;
}

const live: Server[] = [];

const sum = (worlds: Lunatic[], count: (world: Lunatic) => number) => worlds.reduce((total, world) => total + count(world), 0);
const processCount = (server: Server) => sum(server.worlds, (world) => world.processes.size);
const handleCount = (server: Server) => sum(server.worlds, (world) => world.handles.size);

function startServer(program: Program, permissions: Permissions, threads = 1, network: Network = new NodeNetwork()): Server {
  const processes: LunaticProcess[] = [];
  let stdout = '';
  const stderr = new CollectedOutput();
  let printed: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => (printed = resolve));
  const wasi = wasiPreview1({
    args: ['server'],
    env: {},
    preopens: [],
    stdout: callbackOutput((bytes) => {
      stdout += new TextDecoder().decode(bytes);
      const match = /listening on 127\.0\.0\.1:(\d+)\n/.exec(stdout);
      if (match) printed(Number(match[1]));
    }),
    stderr,
  });
  const made = Array.from({ length: threads }, () => {
    const runtime = new Runtime({ backend: 'asyncify' });
    const lunatic = new Lunatic({
      core: runtime,
      network,
      hostModules: () => [wasi],
      reductions: 1_000_000,
      onSpawn: (process) => processes.push(process),
    });
    return { runtime, lunatic };
  });
  const stopThreads = threads > 1 ? joinAsThreads(made, program) : undefined;
  const worlds = made.map(({ lunatic }) => lunatic);
  const main = worlds[0]!.start(program, { permissions });
  const server = { worlds, main, processes, stderr: () => stderr.text(), port: Promise.race([port, main.exited]), stopThreads };
  live.push(server);
  return server;
}

afterEach(async () => {
  for (const server of live.splice(0)) {
    for (const world of server.worlds) for (const process of world.processes.values()) process.core.kill();
    await server.main.exited;
    await Promise.all(server.processes.map((process) => process.exited));
    server.stopThreads?.();
  }
});

async function listeningPort(server: Server): Promise<number> {
  const port = await server.port;
  if (typeof port !== 'number') throw new Error(`the server ended: ${JSON.stringify(port)}: ${server.stderr()}`);
  return port;
}

/** A loopback client that collects what it receives. */
class Client {
  readonly socket: Socket;
  received = '';
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (data) => {
      this.received += data.toString('latin1');
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
    this.socket.on('error', () => {});
  }

  /** Resolves once `done(received)` holds. */
  async until(done: (received: string) => boolean): Promise<string> {
    while (!done(this.received)) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.received;
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }
}

const example = (path: string) => readFileSync(join(projectRoot, 'examples', path));

describe.each([1, 2])('the echo server (one process per connection), %i thread(s)', (threads) => {
  let program: Program;
  beforeAll(async () => {
    const probe = new Lunatic({ core: new Runtime(), reductions: 1 });
    program = await probe.load((await instrument(example('echo-server/echo-server.wasm'))).binary);
  }, 60_000);

  it('echoes each of 1,000 concurrent clients its own bytes, then closes everything', async () => {
    const server = startServer(program, LISTEN, threads);
    const port = await listeningPort(server);
    const CLIENTS = 1000;
    const clients = Array.from({ length: CLIENTS }, () => new Client(port));
    const payloads = clients.map((_, i) => `client ${i}: ${'x'.repeat(i % 97)}${String.fromCharCode(33 + (i % 90))}\n`);
    for (const [i, client] of clients.entries()) client.socket.write(payloads[i]!);
    const echoed = await Promise.all(clients.map((client, i) => client.until((text) => text.length >= payloads[i]!.length)));
    expect(echoed).toEqual(payloads);
    expect(processCount(server)).toBe(CLIENTS + 1);
    if (threads > 1) expect(server.worlds.map((world) => world.processes.size > CLIENTS / 4)).toEqual([true, true]); // spread
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(server.processes.map((process) => process.exited));
    expect(processCount(server)).toBe(1);
    expect(handleCount(server)).toBe(1); // only the listener is left
    server.main.core.kill();
    await server.main.exited;
    expect(handleCount(server)).toBe(0);
  }, 60_000);

  it.runIf(threads > 1)(
    'each thread accepting at a shared address: every connection is served by its own thread',
    async () => {
      const network = new SharingNetwork(); // SO_REUSEPORT, dealt in turn (test/helpers/shared-address.ts)
      const server = startServer(program, LISTEN, threads, network);
      const port = await listeningPort(server);
      const CLIENTS = 200;
      const clients = Array.from({ length: CLIENTS }, () => new Client(port));
      const payloads = clients.map((_, i) => `client ${i}: ${'y'.repeat(i % 31)}\n`);
      for (const [i, client] of clients.entries()) client.socket.write(payloads[i]!);
      expect(await Promise.all(clients.map((client, i) => client.until((text) => text.length >= payloads[i]!.length)))).toEqual(payloads);
      // each connection process holds the very connection its own thread's listener accepted (no proxy)
      const acceptedBy = server.worlds.map((world) =>
        [...world.processes.values()]
          .filter((process) => process !== server.main)
          .flatMap((process) => world.handles.heldBy(process.pid))
          .map(([, resource]) => network.dealt.get((resource as SocketResource).connection)),
      );
      expect(acceptedBy.map((dealt) => new Set(dealt))).toEqual([new Set([0]), new Set([1])]);
      expect(acceptedBy.map((dealt) => dealt.length)).toEqual([CLIENTS / 2, CLIENTS / 2]);
      await Promise.all(clients.map((client) => client.close()));
      // a process that moved to its connection's thread left its first copy behind: that one hears how it ended
      const moved = server.processes.filter((process) => (process.core as Process).state === 'moved');
      expect(moved.length).toBeGreaterThan(0);
      expect(await Promise.all(moved.map((process) => process.exited))).toEqual(moved.map(() => ({ code: 0 })));
      await Promise.all(server.processes.map((process) => process.exited));
      expect(handleCount(server)).toBe(1); // only the listener is left
    },
    60_000,
  );

  it('a connection process that crashes leaves the other connections serving', async () => {
    const server = startServer(program, LISTEN, threads);
    const port = await listeningPort(server);
    const [before, crasher] = [new Client(port), new Client(port)];
    before.socket.write('first\n');
    await before.until((text) => text === 'first\n');
    crasher.socket.write('CRASH now\n');
    await crasher.closed;
    expect(crasher.received).toBe('');
    before.socket.write('still there?\n');
    await before.until((text) => text === 'first\nstill there?\n');
    const after = new Client(port);
    after.socket.write('new one\n');
    await after.until((text) => text === 'new one\n');
    const ended = await Promise.all(server.processes.map((process) => Promise.race([process.exited, null])));
    expect(ended.filter((status) => status?.trap)).toEqual([
      { trap: { message: 'unreachable', functions: expect.arrayContaining(['conn_handler']) } },
    ]);
    await Promise.all([before.close(), after.close()]);
  });

  it('without the spawn permission, each client is told so and disconnected', async () => {
    const server = startServer(program, { ...LISTEN, canSpawn: false });
    const client = new Client(await listeningPort(server));
    await client.closed;
    expect(client.received).toBe('error: cannot spawn a handler (-1)\n');
    expect(server.stderr()).toBe('echo-server: cannot spawn a handler (error -1)\n');
  });

  it('without the listen permission, it exits 1 saying what to allow', async () => {
    const server = startServer(program, { ...LISTEN, listen: ['127.0.0.1:8080'] });
    expect(await server.main.exited).toEqual({ code: 1 });
    expect(server.stderr()).toBe('echo-server: cannot listen on 127.0.0.1:0 (error -1): allow it with --allow-listen 127.0.0.1:0\n');
  });
});

describe.each([1, 2])('the chat server (coordinator, client and reader processes), %i thread(s)', (threads) => {
  let program: Program;
  beforeAll(async () => {
    const probe = new Lunatic({ core: new Runtime(), reductions: 1 });
    program = await probe.load((await instrument(example('chat/chat.wasm'))).binary);
  }, 60_000);

  it("delivers one client's lines to every other client, in order", async () => {
    const server = startServer(program, LISTEN, threads);
    const port = await listeningPort(server);
    const [alice, bob, carol] = [new Client(port), new Client(port), new Client(port)];
    for (const client of [alice, bob, carol]) await client.until((text) => text.includes('welcome'));
    alice.socket.write('/nick alice\n');
    const LINES = Array.from({ length: 50 }, (_, i) => `line ${i} ${'.'.repeat(i)}`);
    alice.socket.write(LINES.map((line) => `${line}\r\n`).join(''));
    const said = (text: string) =>
      text
        .split('\n')
        .filter((line) => line.startsWith('alice: '))
        .map((line) => line.slice('alice: '.length));
    for (const listener of [bob, carol]) await listener.until((text) => said(text).length === LINES.length);
    expect(said(bob.received)).toEqual(LINES);
    expect(said(carol.received)).toEqual(LINES);
    expect(said(alice.received)).toEqual([]);
    bob.socket.write('/quit\n');
    await bob.closed;
    await carol.until((text) => /\* user\d+ left\n/.test(text));
    await Promise.all([alice.close(), carol.close()]);
  });
});
