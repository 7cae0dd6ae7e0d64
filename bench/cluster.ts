// `npm run bench:cluster`: distribution over a real nats-server on loopback, nodes as separate
// OS processes running bench/cluster-node.wasm (Asyncify, instrumented once). Measures the
// message round trip between two nodes (one way taken as half of it), sustained messages/s from
// one process to a process on another node, remote spawn of a cached module, and the time from
// kill -9 of a node to the DOWN seen by a monitor on another node. Prints the figures and writes
// them, with the targets of issue 24, between the cluster markers of bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { instrument } from '../src/index.js';
import { type Node, startNatsServer, startNode } from './cluster-nodes.js';
import { currentCommit } from './machine.js';
import { benchDir } from './paths.js';
import { median } from './stats.js';

const PINGS = 5000;
const FLOOD = 200_000;
const SPAWNS = 300;
const KILLS = 5;
const START = '<!-- cluster: written by npm run bench:cluster -->';
const END = '<!-- /cluster -->';

interface Figures {
  roundTripP50Us: number;
  roundTripP99Us: number;
  messagesPerSecond: number;
  arrived: number;
  spawnFirstMs: number;
  spawnP50Ms: number;
  downAfterKillMs: number[];
}

const numbers = (match: RegExpExecArray) => match.slice(1).map(Number);

async function measure(wasm: string, url: string): Promise<Figures> {
  const nodes: Node[] = [];
  const node = (name: string, args: string[], flags: string[] = []) => {
    const started = startNode(wasm, ['--node', name, '--nats', url, ...flags], args);
    nodes.push(started);
    return started;
  };
  try {
    const server = node('a', ['serve', 'echo'], ['--allow-remote-spawn', '--mailbox', String(FLOOD + 16)]);
    await server.line(/^ready/);
    const [p50, p99] = numbers(await node('b', ['pingtime', 'echo', String(PINGS)]).line(/^rtt p50 (\d+) p99 (\d+) ns$/));
    const [sent, arrived, floodNs] = numbers(
      await node('c', ['flood', 'echo', String(FLOOD)]).line(/^flooded (\d+) arrived (\d+) ns (\d+)$/),
    );
    const [first, spawnP50] = numbers(await node('d', ['spawntime', 'a', String(SPAWNS)]).line(/^spawn first (\d+) p50 (\d+) ns$/));
    const downAfterKillMs: number[] = [];
    for (let round = 0; round < KILLS; round++) {
      const victim = node(`victim${round}`, ['serve', `victim${round}`]);
      await victim.line(/^ready/);
      const watcher = node(`watcher${round}`, ['monitor', `victim${round}`, '0']);
      await watcher.line(/^monitor \d+ -> 0, link 0$/);
      const killedAt = performance.now();
      victim.child.kill('SIGKILL');
      await watcher.line(/^down \d+ reason 3$/);
      downAfterKillMs.push(performance.now() - killedAt);
    }
    return {
      roundTripP50Us: p50! / 1000,
      roundTripP99Us: p99! / 1000,
      messagesPerSecond: arrived! / (floodNs! / 1e9),
      arrived: arrived! / sent!,
      spawnFirstMs: first! / 1e6,
      spawnP50Ms: spawnP50! / 1e6,
      downAfterKillMs,
    };
  } finally {
    for (const started of nodes) started.child.kill('SIGKILL');
  }
}

const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

function render(figures: Figures, commit: string, load: number): string {
  const oneWay = figures.roundTripP50Us / 2;
  const down = Math.max(...figures.downAfterKillMs);
  return [
    START,
    `### Distribution over NATS (\`npm run bench:cluster\`, ${new Date().toISOString().slice(0, 10)}, commit ${commit})`,
    '',
    `Loopback, one nats-server 2.9 (Debian), nodes as separate Node 20 processes (Asyncify). Times measured inside wasm with the monotonic clock. Load average of the (shared, 2-core) machine at the start: ${load.toFixed(1)}.`,
    '',
    '| Figure | Measured | Target | Verdict |',
    '| --- | --- | --- | --- |',
    `| Message between two nodes, one way (half the round trip), p50 | ${oneWay.toFixed(0)} us (round trip p50 ${figures.roundTripP50Us.toFixed(0)} us, p99 ${figures.roundTripP99Us.toFixed(0)} us; ${PINGS} pings) | <= 300 us | ${verdict(oneWay <= 300)} |`,
    `| Sustained messages/s, one sender to a process on another node | ${Math.round(figures.messagesPerSecond).toLocaleString('en')} (${FLOOD.toLocaleString('en')} messages of 4 bytes, ${(figures.arrived * 100).toFixed(1)}% arrived) | >= 50,000 | ${verdict(figures.messagesPerSecond >= 50_000 && figures.arrived === 1)} |`,
    `| Remote spawn of a cached module, p50 (call to pid) | ${figures.spawnP50Ms.toFixed(2)} ms (first, with the module sent and compiled: ${figures.spawnFirstMs.toFixed(1)} ms; ${SPAWNS} spawns) | <= 2 ms | ${verdict(figures.spawnP50Ms <= 2)} |`,
    `| DOWN at a monitor after kill -9 of its node, worst of ${KILLS} | ${down.toFixed(0)} ms (all: ${figures.downAfterKillMs.map((ms) => ms.toFixed(0)).join(', ')}; median ${median(figures.downAfterKillMs).toFixed(0)}) | <= 2000 ms | ${verdict(down <= 2000)} |`,
    END,
  ].join('\n');
}

function record(section: string): void {
  const file = join(benchDir, 'RESULTS.md');
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(START);
  const updated =
    start >= 0
      ? text.slice(0, start) + section + text.slice(text.indexOf(END) + END.length)
      : text.replace('<!-- /commentary -->', `${section}\n\n<!-- /commentary -->`);
  writeFileSync(file, updated);
}

async function main(): Promise<void> {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
  } catch {
    console.error('bench:cluster needs nats-server (apt-get install nats-server)');
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'lunatic-bench-cluster-'));
  const wasm = join(dir, 'cluster-node.wasm');
  writeFileSync(wasm, (await instrument(readFileSync(join(benchDir, 'cluster-node.wasm')))).binary);
  const nats = await startNatsServer('nats-server');
  try {
    const load = loadavg()[0]!;
    const section = render(await measure(wasm, nats.url), currentCommit() ?? 'uncommitted', load);
    console.log(section);
    record(section);
  } finally {
    nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
