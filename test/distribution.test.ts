// Distribution over a real nats-server: nodes are separate OS processes
// (`lunatic-instrument run --node NAME --nats URL`, Asyncify backend) running one C program
// (bench/cluster-node.c, committed as bench/cluster-node.wasm) in different roles. Covers messages by pid across nodes in
// order, cluster-wide names, remote spawn with and without --allow-remote-spawn, monitors across
// nodes for a crash and for a node killed with kill -9 (reasons CRASHED and NODE_DOWN), taken
// node names, bad credentials / unreachable servers (one line, exit 1), a lost server, TLS
// (a CA made with openssl at test time), and examples/chat with
// clients on two nodes. One scenario runs on Node 24 (JSPI) as well.
import { connect, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { type NatsServer, type Node, startNatsServer, startNode } from '../bench/cluster-nodes.js';
import { findNatsServer, findOpenssl, projectRoot, requireNode24, requireTool } from './helpers/tools.js';

const natsServer = requireTool('nats-server', findNatsServer(), 'apt-get install nats-server');

const REASON = { CRASHED: 1, NODE_DOWN: 3 };
const ERR = { PERM: -1, SRCH: -3, EXIST: -13 };

let dir: string;
let wasm: string;
let chat: string;
let server: NatsServer;
const nodes: Node[] = [];

/** A node of the cluster under test; every node is killed after each test. */
function node(name: string, args: string[], flags: string[] = [], program = wasm): Node {
  const started = startNode(program, ['--node', name, '--nats', server.url, ...flags], args);
  nodes.push(started);
  return started;
}

/** A telnet-like chat client: `next()` resolves with the next line it receives. */
function chatClient(port: number): { socket: Socket; next: () => Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let buffered = '';
  let wake: (() => void) | undefined;
  socket.on('data', (data) => {
    buffered += data.toString();
    wake?.();
  });
  const next = async (): Promise<string> => {
    while (!buffered.includes('\n')) await new Promise<void>((resolve) => (wake = resolve));
    const line = buffered.slice(0, buffered.indexOf('\n'));
    buffered = buffered.slice(line.length + 1);
    return line;
  };
  return { socket, next };
}

const pidOf = async (started: Node) => Number((await started.line(/^ready (\d+) 0$/))[1]);

beforeAll(async () => {
  if (!natsServer) return;
  dir = mkdtempSync(join(tmpdir(), 'lunatic-cluster-'));
  wasm = join(dir, 'cluster-node.wasm');
  writeFileSync(wasm, (await instrument(readFileSync(join(projectRoot, 'bench/cluster-node.wasm')))).binary);
  chat = join(dir, 'chat.wasm');
  writeFileSync(chat, (await instrument(readFileSync(join(projectRoot, 'examples/chat/chat.wasm')))).binary);
}, 60_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!natsServer)('distribution over NATS', () => {
  beforeAll(async () => {
    server = await startNatsServer(natsServer!);
  });
  afterEach(async () => {
    for (const started of nodes.splice(0)) {
      started.child.kill('SIGKILL');
      await started.exited;
    }
  });
  afterAll(() => server?.stop());

  it('messages by pid reach a process on another node, found by name, in the order they were sent', async () => {
    const echo = node('a', ['serve', 'echo']);
    const echoPid = await pidOf(echo);
    expect(echoPid >> 23).toBeGreaterThan(0);
    const pinger = await node('b', ['ping', 'echo', '300']).exited;
    expect(pinger).toMatchObject({ code: 0, stdout: `pongs 300 in order from node ${echoPid >> 23}\n` });
  }, 30_000);

  it('a flood of 100,000 messages to another node: every one arrives, neither node is taken for dead meanwhile', async () => {
    await pidOf(node('a', ['serve', 'echo'], ['--mailbox', '200000']));
    const flood = await node('b', ['flood', 'echo', '100000']).exited;
    expect(flood).toMatchObject({ code: 0, stdout: expect.stringMatching(/^flooded 100000 arrived 100000 ns \d+\n$/) });
  }, 60_000);

  const node24 = requireNode24();
  it.skipIf(!node24)(
    'the same between two Node 24 nodes (JSPI), the plain module instrumented in memory',
    async () => {
      const plain = join(projectRoot, 'bench/cluster-node.wasm');
      const flags = (name: string) => ['--node', name, '--nats', server.url, '--backend', 'jspi'];
      const echo = startNode(plain, flags('jspi1'), ['serve', 'echo'], { node: node24 });
      nodes.push(echo);
      const echoPid = await pidOf(echo);
      const pinger = startNode(plain, flags('jspi2'), ['ping', 'echo', '300'], { node: node24 });
      nodes.push(pinger);
      expect(await pinger.exited).toMatchObject({ code: 0, stdout: `pongs 300 in order from node ${echoPid >> 23}\n` });
    },
    60_000,
  );

  it('names are cluster-wide: a taken name is EXIST on another node, an unknown one SRCH', async () => {
    const echoPid = await pidOf(node('a', ['serve', 'echo']));
    const [second, found, unknown] = await Promise.all([
      node('b', ['serve', 'echo']).exited,
      node('c', ['whereis', 'echo']).exited,
      node('d', ['whereis', 'nobody']).exited,
    ]);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(new RegExp(`^ready \\d+ ${ERR.EXIST}\\n$`));
    expect(found.stdout).toBe(`whereis ${echoPid} 0\n`);
    expect(unknown.stdout).toBe(`whereis ${ERR.SRCH} 0\n`);
  }, 30_000);

  it('a second node with a taken name is refused with one line, exit 1', async () => {
    await pidOf(node('twin', ['serve', 'first']));
    const refused = await node('twin', ['hello']).exited;
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe(
      'lunatic-instrument: --node twin: the node name "twin" is taken by a running node of the cluster: choose another --node\n',
    );
  }, 30_000);

  it('nodes started at the same instant get distinct indexes; of three with one name, one joins', async () => {
    const indexes = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await pidOf(node(`same-time${i}`, ['serve', `s${i}`]))) >> 23));
    expect(new Set(indexes).size).toBe(5);
    const twins = [0, 1, 2].map((i) => node('triplet', ['serve', `t${i}`]));
    const outcome = (twin: Node) =>
      twin.line(/^ready \d+ 0$/).then(
        () => 'joined',
        () => twin.exited.then(({ code, stderr }) => `${code} ${stderr}`),
      );
    const outcomes = await Promise.all(twins.map(outcome));
    expect(outcomes.sort()).toEqual([
      '1 lunatic-instrument: --node triplet: the node name "triplet" is taken by a running node of the cluster: choose another --node\n',
      '1 lunatic-instrument: --node triplet: the node name "triplet" is taken by a running node of the cluster: choose another --node\n',
      'joined',
    ]);
  }, 60_000);

  it('remote spawn: accepted only by a node started with --allow-remote-spawn; the worker runs there within its permissions', async () => {
    const workerNode = node('workers', ['serve', 'w'], ['--allow-remote-spawn']);
    const workersIndex = (await pidOf(workerNode)) >> 23;
    const narrowIndex = (await pidOf(node('narrow', ['serve', 'n'], ['--allow-remote-spawn', '--no-spawn']))) >> 23;
    await pidOf(node('closed', ['serve', 'c']));
    const [spawned, one, narrowed, denied, nowhere] = await Promise.all(
      [
        ['spawn', 'workers', '3'],
        ['spawn', 'workers'],
        ['spawn', 'narrow'],
        ['spawn', 'closed'],
        ['spawn', 'nosuchnode'],
      ].map((args, index) => node(`boss${index}`, args).exited),
    );
    expect(spawned).toMatchObject({ code: 0, stdout: 'spawned 3 workers 0\n' });
    expect(one.stdout).toMatch(new RegExp(`^spawned \\d+ on node ${workersIndex}, it may spawn: 1\\n$`));
    // The node's --no-spawn narrows the spawner's permissions: the worker may not spawn there.
    expect(narrowed.stdout).toMatch(new RegExp(`^spawned \\d+ on node ${narrowIndex}, it may spawn: ${ERR.PERM}\\n$`));
    expect(denied).toMatchObject({ code: 0, stdout: `spawn refused ${ERR.PERM} 0\n` });
    expect(nowhere.stdout).toBe(`spawn refused ${ERR.SRCH} 0\n`);
  }, 30_000);

  it('examples/chat across two nodes: clients connected to different nodes talk to each other', async () => {
    const portOf = async (started: Node) => Number((await started.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]);
    const first = await portOf(node('chat1', [], ['--allow-listen', '127.0.0.1:0'], chat));
    const second = await portOf(node('chat2', [], ['--allow-listen', '127.0.0.1:0'], chat));
    const alice = chatClient(first);
    expect(await alice.next()).toMatch(/^welcome, user\d+!/);
    const bob = chatClient(second);
    const bobName = /^welcome, (user\d+)!/.exec(await bob.next())![1]!;
    expect(await alice.next()).toBe(`* ${bobName} joined`);
    bob.socket.write('hello from the second node\n');
    expect(await alice.next()).toBe(`${bobName}: hello from the second node`);
    alice.socket.write('/nick alice\nhi bob\n');
    expect(await bob.next()).toBe('alice: hi bob');
    bob.socket.end('/quit\n');
    expect(await alice.next()).toBe(`* ${bobName} left`);
    alice.socket.destroy();
  }, 30_000);

  it('a monitor and a link on another node see a crash as CRASHED', async () => {
    const victimPid = await pidOf(node('victim', ['serve', 'victim']));
    const watcher = await node('watcher', ['monitor', 'victim', '1']).exited;
    expect(watcher).toMatchObject({
      code: 0,
      stdout: `monitor ${victimPid} -> 0, link 0\ndown ${victimPid} reason ${REASON.CRASHED}\nlinkdown ${victimPid} reason ${REASON.CRASHED}\n`,
    });
  }, 30_000);

  it('a node killed with kill -9: its process is DOWN for a monitor and a link on another node, reason NODE_DOWN, nothing hangs', async () => {
    const victim = node('victim', ['serve', 'victim']);
    const victimPid = await pidOf(victim);
    const watcher = node('watcher', ['monitor', 'victim', '0']);
    await watcher.line(/^monitor \d+ -> 0, link 0$/);
    victim.child.kill('SIGKILL');
    const result = await watcher.exited;
    expect(result).toMatchObject({
      code: 0,
      stdout: `monitor ${victimPid} -> 0, link 0\ndown ${victimPid} reason ${REASON.NODE_DOWN}\nlinkdown ${victimPid} reason ${REASON.NODE_DOWN}\n`,
    });
  }, 30_000);
});

describe.skipIf(!natsServer)('losing the NATS server', () => {
  it('every remote process is DOWN with reason NODE_DOWN for monitors and links; the node still ends', async () => {
    const lost = await startNatsServer(natsServer!);
    try {
      const flags = (name: string) => ['--node', name, '--nats', lost.url];
      const victim = startNode(wasm, flags('victim'), ['serve', 'victim']);
      nodes.push(victim);
      const victimPid = await pidOf(victim);
      const watcher = startNode(wasm, flags('watcher'), ['monitor', 'victim', '0']);
      nodes.push(watcher);
      await watcher.line(/^monitor \d+ -> 0, link 0$/);
      lost.stop();
      expect(await watcher.exited).toMatchObject({
        code: 0,
        stdout: `monitor ${victimPid} -> 0, link 0\ndown ${victimPid} reason ${REASON.NODE_DOWN}\nlinkdown ${victimPid} reason ${REASON.NODE_DOWN}\n`,
      });
    } finally {
      lost.stop();
      for (const started of nodes.splice(0)) started.child.kill('SIGKILL');
    }
  }, 30_000);
});

describe.skipIf(!natsServer)('joining a NATS server that wants credentials', () => {
  let guarded: NatsServer;
  beforeAll(async () => {
    guarded = await startNatsServer(natsServer!, ['--user', 'lunatic', '--pass', 's3cret']);
  });
  afterAll(() => guarded?.stop());

  const run = (flags: string[], env: NodeJS.ProcessEnv = {}) =>
    startNode(wasm, ['--node', 'n', '--nats', guarded.url, ...flags], ['hello'], { env }).exited;

  it('bad credentials: one clear line, exit 1; the right ones from the environment join', async () => {
    const wrong = await run(['--nats-user', 'lunatic', '--nats-pass', 'wrong']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /^lunatic-instrument: --node n: NATS server nats:\/\/127\.0\.0\.1:\d+ refused the credentials \(.*\): check --nats-user\/--nats-pass or --nats-token\n$/,
    );
    const none = await run([]);
    expect(none.code).toBe(1);
    expect(none.stderr.split('\n')).toHaveLength(2);
    const right = await run([], { LUNATIC_NATS_USER: 'lunatic', LUNATIC_NATS_PASS: 's3cret' });
    expect(right).toMatchObject({ code: 0, stdout: 'node 1 0\n', stderr: '' });
  }, 30_000);

  it('an unreachable server: one clear line, exit 1', async () => {
    const result = await startNode(wasm, ['--node', 'n', '--nats', 'nats://127.0.0.1:1'], ['hello']).exited;
    expect(result).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'lunatic-instrument: --node n: NATS server nats://127.0.0.1:1 cannot be reached (connection refused)\n',
    });
  }, 30_000);
});

const openssl = requireTool('openssl', findOpenssl(), 'apt-get install openssl');
describe.skipIf(!natsServer || !openssl)('a NATS server that wants TLS', () => {
  let tlsServer: NatsServer;
  let ca: string;
  beforeAll(async () => {
    const file = (name: string) => join(dir, name);
    const run = (...args: string[]) => execFileSync(openssl!, args, { stdio: 'ignore' });
    run(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=lunatic test CA',
    );
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
    writeFileSync(file('san'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    run(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file('server.pem'),
      '-days',
      '1',
      '-extfile',
      file('san'),
    );
    ca = file('ca.pem');
    tlsServer = await startNatsServer(natsServer!, ['--tls', '--tlscert', file('server.pem'), '--tlskey', file('server.key')]);
  }, 30_000);
  afterAll(() => tlsServer?.stop());

  it('--nats-tls-ca is passed through: the node joins; without it the handshake fails with one line, exit 1', async () => {
    const joined = await startNode(wasm, ['--node', 'n', '--nats', tlsServer.url, '--nats-tls-ca', ca], ['hello']).exited;
    expect(joined).toMatchObject({ code: 0, stdout: 'node 1 0\n', stderr: '' });
    const untrusted = await startNode(wasm, ['--node', 'n', '--nats', tlsServer.url], ['hello']).exited;
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      /^lunatic-instrument: --node n: NATS server nats:\/\/127\.0\.0\.1:\d+ failed the TLS handshake \(.*\): check --nats-tls-ca\/--nats-tls-cert\/--nats-tls-key\n$/,
    );
  }, 30_000);
});
