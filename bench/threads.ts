// Figures of the runtime on several threads, each against `--threads 1` in the same run, on
// Node 20 (Asyncify) and Node 24 (JSPI): the scenarios of bench/lunatic/threads.c (64 CPU-bound
// processes: time until all ended, beside the same work as two OS processes at once, what two
// cores give at best; the same of uneven length, with processes moving between the
// threads and with --no-move; 40,000 processes that end at once, each spawned and monitored by
// one parent (the cost of spawning onto another thread against running there); a token ring
// whose hops alternate between the threads: the median hop; one process sending 16-byte
// messages to one on the other thread: messages per second) and the echo server of examples/echo-server at 1,000 connections (bench/echo.ts:
// round trips per second; by default each thread accepts its own connections where Node can
// share the address, and with --no-move one listener proxies them), beside a plain Node echo
// server on one and on two processes (a cluster): what a second core can give a server on this
// machine with the bench's clients on the same cores. The echo rows are measured twice: by Node
// clients in this process, and by bench/echo-client.c, a native client built at bench time that
// costs a fraction of the CPU per round trip and so leaves the server more of both cores (left
// out, with the reason printed, where clang is missing). Each scenario is the median of RUNS runs,
// one and two threads interleaved. Prints the figures as JSON and as a Markdown table (for
// bench/RESULTS.md).
//
// Run alone: `npm run bench:threads` (or `npm run bench -- --threads-only`); `--runs N`.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { instrument } from '../src/index.js';
import { buildNativeEchoClient, measure, measureNative, nodeClusterEchoServer, type ServerKind, startServer, stopServer } from './echo.js';
import { figuresOf, instrumentForBothBackends } from './lunatic-programs.js';
import { nodeVersion } from './machine.js';
import { cli, findNode24, projectRoot, workDir } from './paths.js';
import { median } from './stats.js';

export const THREADS_RUNS = 3;
const ECHO_CONNECTIONS = 1000;

/** Each scenario: its arguments (and run flags), the figure reported, and whether more is better (for the ratio). */
const CPU_BOUND = {
  name: '64 CPU-bound processes: time (ms)',
  args: ['cpu', '64', '20000000'],
  figure: 'elapsed_ms',
  higherIsBetter: false,
};
const SCENARIOS: ReadonlyArray<{ name: string; args: string[]; flags?: string[]; figure: string; higherIsBetter: boolean }> = [
  CPU_BOUND,
  {
    name: '64 CPU-bound processes, every other one 7x longer: time (ms)',
    args: ['uneven', '64', '4000000'],
    figure: 'elapsed_ms',
    higherIsBetter: false,
  },
  {
    name: 'the same, --no-move (placement alone): time (ms)',
    args: ['uneven', '64', '4000000'],
    flags: ['--no-move'],
    figure: 'elapsed_ms',
    higherIsBetter: false,
  },
  {
    name: '40,000 short processes (spawned, monitored, ended at once): time (ms)',
    args: ['cpu', '40000', '1'],
    figure: 'elapsed_ms',
    higherIsBetter: false,
  },
  {
    name: 'token ring, hops across threads: median hop (us)',
    args: ['ring', '2', '21', '20000'],
    figure: 'median_hop_us',
    higherIsBetter: false,
  },
  { name: 'bulk messages to the other thread: received/s', args: ['bulk', '1000000'], figure: 'receive_per_s', higherIsBetter: true },
];

export interface ThreadsRow {
  one: number | string;
  two: number | string;
  /** How many times better two threads do than one. */
  speedup?: number;
}

export interface ThreadsResults {
  runs: number;
  cores: number;
  cpu: string;
  loadAverage: { before: number; after?: number };
  nodes: Record<string, string>;
  figures: Record<string, Record<string, ThreadsRow>>;
}

function runScenario(
  node: string,
  module: string,
  threads: number,
  args: readonly string[],
  extraFlags: readonly string[] = [],
): Promise<Record<string, number>> {
  const flags = ['--threads', String(threads), '--mailbox', '2000000', ...extraFlags];
  return new Promise((resolve, reject) => {
    execFile(node, [cli, 'run', module, ...flags, '--', ...args], { timeout: 600_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`--threads ${threads} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      resolve(figuresOf(stdout));
    });
  });
}

const rounded = (value: number) => Math.round(value * 100) / 100;

function row(samples: Record<number, number[]>, failures: Record<number, string>, higherIsBetter: boolean): ThreadsRow {
  const figure = (threads: number) => failures[threads] ?? rounded(median(samples[threads] ?? []));
  const one = figure(1);
  const two = figure(2);
  if (typeof one !== 'number' || typeof two !== 'number') return { one, two };
  return { one, two, speedup: rounded(higherIsBetter ? two / one : one / two) };
}

/**
 * CPU_BOUND's work split over `processes` OS processes running at once, each on one thread: the
 * time until the last one ended (each process's own figure). What the machine gives two threads
 * at best, with no runtime between them.
 */
async function cpuBoundAsProcesses(node: string, module: string, processes: number): Promise<number> {
  const [scenario, count, steps] = CPU_BOUND.args as [string, string, string];
  const share = String(Number(count) / processes);
  const runs = Array.from({ length: processes }, () => runScenario(node, module, 1, [scenario, share, steps]));
  return Math.max(...(await Promise.all(runs)).map((figures) => figures[CPU_BOUND.figure]!));
}

/** Who makes the echo round trips: this process's Node sockets, or the native client at this path. */
type EchoClient = { node: true } | { native: string };

/** Echo round trips per second at 1,000 connections with the server on `threads` threads. */
function echoRoundTrips(client: EchoClient, node: string, module: string, threads: number, flags: readonly string[] = []): Promise<number> {
  const args = [cli, 'run', module, '--allow-listen', '127.0.0.1:0', '--threads', String(threads), ...flags];
  return echoServerRoundTrips(client, { name: `lunatic --threads ${threads}`, command: node, args });
}

/** Echo round trips per second at 1,000 connections with a plain Node server on `processes` processes. */
function nodeEchoRoundTrips(client: EchoClient, node: string, processes: number): Promise<number> {
  const file = join(workDir, 'threads', `node-echo-${processes}.cjs`);
  writeFileSync(file, nodeClusterEchoServer(processes));
  return echoServerRoundTrips(client, { name: `node, ${processes} process(es)`, command: node, args: [file] });
}

async function echoServerRoundTrips(client: EchoClient, kind: ServerKind): Promise<number> {
  const server = await startServer(kind);
  try {
    const figures =
      'native' in client ? measureNative(client.native, server.port, ECHO_CONNECTIONS) : measure(server.port, ECHO_CONNECTIONS);
    return (await figures).roundTripsPerSecond;
  } finally {
    await stopServer(server);
  }
}

export async function threadsBench(options: { runs?: number } = {}): Promise<ThreadsResults> {
  const runs = options.runs ?? THREADS_RUNS;
  const modules = await instrumentForBothBackends('threads');
  const echoServer = join(workDir, 'threads', 'echo-server.wasm');
  writeFileSync(echoServer, (await instrument(readFileSync(join(projectRoot, 'examples/echo-server/echo-server.wasm')))).binary);
  const native = buildNativeEchoClient();
  if ('skipped' in native) console.log(`threads: ${native.skipped}; the echo rows by the native client are left out`);
  const echoClients: Array<[EchoClient, string]> = [
    [{ node: true }, ''],
    ...('client' in native ? [[{ native: native.client }, ', native client'] as [EchoClient, string]] : []),
  ];
  const node24 = findNode24();
  const backends = [
    { backend: 'asyncify', node: process.execPath, module: modules.asyncify, echo: echoServer },
    ...(node24
      ? [{ backend: 'jspi', node: node24, module: modules.jspi, echo: join(projectRoot, 'examples/echo-server/echo-server.wasm') }]
      : []),
  ];
  const results: ThreadsResults = {
    runs,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    loadAverage: { before: loadavg()[0]! },
    nodes: {},
    figures: {},
  };
  for (const { backend, node, module, echo } of backends) {
    results.nodes[backend] = await nodeVersion(node);
    const rows: Record<string, ThreadsRow> = {};
    const measureEach = async (name: string, higherIsBetter: boolean, once: (threads: number) => Promise<number>) => {
      const samples: Record<number, number[]> = {};
      const failures: Record<number, string> = {};
      for (let run = 0; run < runs; run++) {
        for (const threads of [1, 2]) {
          try {
            (samples[threads] ??= []).push(await once(threads));
          } catch (error) {
            failures[threads] = `failed: ${(error as Error).message.split('\n')[0]}`;
          }
        }
      }
      rows[name] = row(samples, failures, higherIsBetter);
      console.log(`threads ${backend}: ${name}: ${JSON.stringify(rows[name])}`);
    };
    for (const scenario of SCENARIOS)
      await measureEach(
        scenario.name,
        scenario.higherIsBetter,
        async (threads) => (await runScenario(node, module, threads, scenario.args, scenario.flags))[scenario.figure]!,
      );
    await measureEach(
      'the same as two OS processes of 32 each at once, one thread each (what two cores give here): time (ms)',
      false,
      (processes) => cpuBoundAsProcesses(node, module, processes),
    );
    for (const [client, by] of echoClients) {
      await measureEach(`echo, ${ECHO_CONNECTIONS} connections${by}: round trips/s`, true, (threads) =>
        echoRoundTrips(client, node, echo, threads),
      );
      await measureEach(`the same, --no-move (one listener, sockets proxied)${by}: round trips/s`, true, (threads) =>
        echoRoundTrips(client, node, echo, threads, ['--no-move']),
      );
      await measureEach(`plain Node echo server, 1 and 2 processes (cluster)${by}: round trips/s`, true, (processes) =>
        nodeEchoRoundTrips(client, node, processes),
      );
    }
    results.figures[backend] = rows;
  }
  results.loadAverage.after = loadavg()[0]!;
  return results;
}

/** The figures as a Markdown table: one row per scenario and backend. */
export function threadsMarkdown(results: ThreadsResults): string {
  const lines = ['| scenario | backend | --threads 1 | --threads 2 | two over one |', '| --- | --- | ---: | ---: | ---: |'];
  for (const [backend, rows] of Object.entries(results.figures))
    for (const [name, { one, two, speedup }] of Object.entries(rows))
      lines.push(`| ${name} | ${backend} (${results.nodes[backend]}) | ${one} | ${two} | ${speedup === undefined ? '-' : `${speedup}x`} |`);
  const load = `load average ${results.loadAverage.before.toFixed(2)} before, ${results.loadAverage.after?.toFixed(2)} after`;
  return `${lines.join('\n')}\n\n${results.cores} cores (${results.cpu}), median of ${results.runs} runs, ${load}.\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const results = await threadsBench({ runs: values.runs ? Number(values.runs) : undefined });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n\n${threadsMarkdown(results)}`);
}
