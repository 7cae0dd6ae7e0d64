// Echo round trips over loopback TCP: the C echo server of examples/echo-server (one lunatic
// process per connection, started with `lunatic-instrument run`) against a plain Node `net`
// echo server, in the same run, with 10, 100 and 1,000 concurrent connections (lunatic on one
// thread, as Node's server; bench/threads.ts compares one thread with two). Each
// connection first completes one round trip (so every connection process has started), then
// sends a 64-byte message, waits for it to come back and repeats, for a fixed time. The figures:
// round-trip latency p50/p99, round trips per second, the fewest round trips any one connection
// made (fairness: a starved connection shows here, not in the percentiles), and the lunatic/Node
// ratios. Servers run in child processes (their own event loop), the
// clients here. Run alone: `npm run build && node dist/bench/echo.js`.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeVersion } from './machine.js';
import { benchDir, cli, findNode24, projectRoot, workDir } from './paths.js';

const CONNECTIONS = [10, 100, 1000];
const MESSAGE_BYTES = 64;
const MEASURE_MS = 3000;
const START_TIMEOUT_MS = 120_000;

/** A plain Node echo server: the baseline. */
const NODE_ECHO_SERVER = `
const server = require('node:net').createServer({ noDelay: true }, (socket) => { socket.on('data', (data) => socket.write(data)); socket.on('error', () => {}); });
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => console.log('listening on 127.0.0.1:' + server.address().port));`;

/**
 * The same server as a cluster of `processes` Node processes that each accept on the shared
 * listener (SCHED_NONE: no process in the middle), as a file to run (`node FILE`): how much a
 * second core gives a server that does no more than echo, on this machine, with the clients on
 * the same cores (bench/threads.ts).
 */
export function nodeClusterEchoServer(processes: number): string {
  return `const cluster = require('node:cluster');
cluster.schedulingPolicy = cluster.SCHED_NONE;
if (cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', (worker, address) => { if (++listening === ${processes}) console.log('listening on 127.0.0.1:' + address.port); });
  for (let i = 0; i < ${processes}; i++) cluster.fork();
  process.on('SIGTERM', () => { for (const worker of Object.values(cluster.workers)) worker.process.kill(); process.exit(0); });
} else {${NODE_ECHO_SERVER.replace("() => console.log('listening on 127.0.0.1:' + server.address().port)", '() => {}')}
}
`;
}

export interface ServerKind {
  name: string;
  command: string;
  args: string[];
}

function serverKinds(node: string): ServerKind[] {
  const echoServer = join(projectRoot, 'examples/echo-server/echo-server.wasm');
  return [
    { name: 'node', command: node, args: ['-e', NODE_ECHO_SERVER] },
    { name: 'lunatic', command: node, args: [cli, 'run', echoServer, '--allow-listen', '127.0.0.1:0', '--threads', '1'] },
  ];
}

export interface RunningServer {
  port: number;
  child: ChildProcess;
}

/** Starts the server and waits for "listening on 127.0.0.1:PORT" on its stdout. */
export function startServer(kind: ServerKind): Promise<RunningServer> {
  const child = spawn(kind.command, kind.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${kind.name} server did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
    child.stdout!.on('data', (data: Buffer) => {
      output += data.toString();
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve({ port: Number(match[1]), child });
    });
    child.on('exit', (code) => fail(new Error(`${kind.name} server exited with ${code}: ${output.trim()}`)));
  });
}

export function stopServer(server: RunningServer): Promise<void> {
  return new Promise((resolve) => {
    server.child.removeAllListeners('exit');
    server.child.once('exit', () => resolve());
    server.child.kill('SIGTERM');
  });
}

function openConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

const MESSAGE = Buffer.alloc(MESSAGE_BYTES, 0x61);

/** Ping-pong on one connection until `until` (a single round trip when 0); resolves with the round-trip times (ms). */
function pingPong(socket: Socket, until: number): Promise<number[]> {
  const samples: number[] = [];
  return new Promise((resolve, reject) => {
    let pending = 0;
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      pending = MESSAGE_BYTES;
      socket.write(MESSAGE);
    };
    const onData = (data: Buffer) => {
      pending -= data.length;
      if (pending > 0) return;
      const now = performance.now();
      samples.push(now - sentAt);
      if (now < until) return send();
      socket.off('data', onData).off('error', reject);
      resolve(samples);
    };
    socket.on('data', onData).once('error', reject);
    send();
  });
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

export interface Figures {
  p50Ms: number;
  p99Ms: number;
  roundTripsPerSecond: number;
  /** The fewest round trips one connection made in the window. */
  fewestPerConnection: number;
}

export async function measure(port: number, connections: number): Promise<Figures> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => openConnection(port)));
  await Promise.all(sockets.map((socket) => pingPong(socket, 0)));
  const perConnection = await Promise.all(sockets.map((socket) => pingPong(socket, performance.now() + MEASURE_MS)));
  await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.end(() => resolve()))));
  const samples = perConnection.flat().sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 1000) / 1000;
  return {
    p50Ms: round(percentile(samples, 0.5)),
    p99Ms: round(percentile(samples, 0.99)),
    roundTripsPerSecond: Math.round(samples.length / (MEASURE_MS / 1000)),
    fewestPerConnection: Math.min(...perConnection.map((connection) => connection.length)),
  };
}

/**
 * bench/echo-client.c built for this machine by its clang (`clang -O2`), or why not. A client that
 * costs little CPU per round trip, for the figures where the server and its clients share two
 * cores (bench/threads.ts): Node's client here costs about as much as the server it measures.
 */
export function buildNativeEchoClient(): { client: string } | { skipped: string } {
  const client = join(workDir, 'echo-client');
  mkdirSync(workDir, { recursive: true });
  try {
    execFileSync('clang', ['-O2', '-o', client, join(benchDir, 'echo-client.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { client };
  } catch (error) {
    const reason =
      (error as { code?: string }).code === 'ENOENT' ? 'no clang on PATH (apt-get install clang)' : String((error as Error).message);
    return { skipped: `the native echo client was not built: ${reason.split('\n')[0]}` };
  }
}

/** The same as `measure`, by the native client (a child process) instead of this process's sockets. */
export function measureNative(client: string, port: number, connections: number): Promise<Figures> {
  const args = [String(port), String(connections), String(MEASURE_MS / 1000), String(MESSAGE_BYTES)];
  return new Promise((resolve, reject) =>
    execFile(client, args, { timeout: MEASURE_MS + START_TIMEOUT_MS }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr.trim() || error.message)) : resolve(JSON.parse(stdout) as Figures),
    ),
  );
}

const ratio = (value: number, baseline: number) => Math.round((value / baseline) * 100) / 100;

/** Latency and throughput of both servers at each concurrency, and lunatic/node ratios. */
export async function echoBench(): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    /** 1-minute load average before and after: the figures mean little on a busy machine. */
    loadAverage: { before: loadavg()[0] },
    messageBytes: MESSAGE_BYTES,
    measureMs: MEASURE_MS,
  };
  const node24 = findNode24();
  for (const [label, node] of [['node', process.execPath], ...(node24 ? [['node24', node24]] : [])] as const) {
    const figures: Record<string, Record<number, Figures>> = {};
    for (const kind of serverKinds(node)) {
      const server = await startServer(kind);
      try {
        figures[kind.name] = {};
        for (const connections of CONNECTIONS) figures[kind.name]![connections] = await measure(server.port, connections);
      } finally {
        await stopServer(server);
      }
    }
    const ratios = Object.fromEntries(
      CONNECTIONS.map((connections) => {
        const [lunatic, plain] = [figures.lunatic![connections]!, figures.node![connections]!];
        return [
          connections,
          {
            p50: ratio(lunatic.p50Ms, plain.p50Ms),
            p99: ratio(lunatic.p99Ms, plain.p99Ms),
            throughput: ratio(lunatic.roundTripsPerSecond, plain.roundTripsPerSecond),
          },
        ];
      }),
    );
    result[label] = { version: await nodeVersion(node), ...figures, lunaticOverNode: ratios };
  }
  (result.loadAverage as Record<string, number>).after = loadavg()[0]!;
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(`${JSON.stringify(await echoBench(), null, 2)}\n`);
