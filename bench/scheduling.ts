// Scheduler figures: the C scenarios of bench/lunatic/scheduling.c run with
// `lunatic-instrument run` as a user runs them, on Node 20 (Asyncify) and Node 24 (JSPI): the
// token-ring hop (1,000 x 100 and 10,000 x 10), ping-pong round trips per second, how late a
// 5 ms sleep ends beside 1 and 10 spinning processes, and how late a process sleeping 1 ms at a
// time gets while 10,000 others end at once. Each is the median of RUNS runs.
//
// With `--baseline DIR` (a built checkout of another commit, e.g. made with `git worktree add DIR
// COMMIT && cd DIR && npm install`) the same scenarios also run with that checkout's
// `bin/lunatic-instrument.js`, interleaved with this one's, so the figures of both codes come
// from the same run on the same machine.
//
// Run alone: `npm run build && node dist/bench/scheduling.js [--baseline DIR] [--runs N]`
// (prints JSON); `npm run bench` includes it.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { figuresOf, instrumentForBothBackends } from './lunatic-programs.js';
import { nodeVersion } from './machine.js';
import { cli, findNode24 } from './paths.js';
import type { SchedulingResults } from './results.js';
import { median } from './stats.js';

export const SCHEDULING_RUNS = 3;

/** What each scenario is run with, and the figure of its output line that is reported. */
const SCENARIOS = [
  { name: 'ring 1,000 x 100: hop (us)', args: ['ring', '1000', '100'], figure: 'hop_us' },
  { name: 'ring 10,000 x 10: hop (us)', args: ['ring', '10000', '10'], figure: 'hop_us' },
  { name: 'ping-pong: round trips/s', args: ['pingpong', '200000'], figure: 'round_trips_per_s' },
  { name: 'sleep 5 ms beside 1 spinner: p99 late (ms)', args: ['lateness', '1', '200', '5'], figure: 'p99_ms' },
  { name: 'sleep 5 ms beside 10 spinners: p99 late (ms)', args: ['lateness', '10', '100', '5'], figure: 'p99_ms' },
  { name: '10,000 processes ending at once: worst delay of another (ms)', args: ['exits', '10000'], figure: 'ticker_worst_late_ms' },
] as const;

interface Side {
  label: string;
  cli: string;
  /** `--threads 1` where the checkout has the flag: these figures are of one scheduler (bench/threads.ts compares threads). */
  flags: string[];
}

function sideOf(label: string, sideCli: string): Side {
  const help = execFileSync(process.execPath, [sideCli, 'run', '--help'], { encoding: 'utf8' });
  return { label, cli: sideCli, flags: help.includes('--threads') ? ['--threads', '1'] : [] };
}

function runScenario(node: string, side: Side, module: string, args: readonly string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    execFile(
      node,
      [side.cli, 'run', module, ...side.flags, '--', ...args],
      { timeout: 600_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${side.label}: ${args.join(' ')}: ${stderr.trim() || error.message}`));
        resolve(figuresOf(stdout));
      },
    );
  });
}

/** The commit checked out in `dir` (recorded instead of the path, which is this machine's). */
function commitOf(dir: string): string {
  try {
    return `commit ${execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()}`;
  } catch {
    return 'another checkout';
  }
}

export async function schedulingBench(options: { baseline?: string; runs?: number } = {}): Promise<SchedulingResults> {
  const runs = options.runs ?? SCHEDULING_RUNS;
  const modules = await instrumentForBothBackends('scheduling');
  const sides: Side[] = [sideOf('current', cli)];
  if (options.baseline) sides.push(sideOf('baseline', join(options.baseline, 'bin', 'lunatic-instrument.js')));
  const node24 = findNode24();
  const backends = [
    { backend: 'asyncify', node: process.execPath, module: modules.asyncify },
    ...(node24 ? [{ backend: 'jspi', node: node24, module: modules.jspi }] : []),
  ];
  const results: SchedulingResults = {
    runs,
    figures: {},
    nodes: {},
    ...(options.baseline ? { baseline: commitOf(options.baseline) } : {}),
  };
  for (const { backend, node, module } of backends) {
    results.nodes[backend] = await nodeVersion(node);
    const perScenario: Record<string, Record<string, number | string>> = {};
    for (const scenario of SCENARIOS) {
      const samples: Record<string, number[]> = {};
      const row: Record<string, number | string> = {};
      for (let run = 0; run < runs; run++) {
        for (const side of sides) {
          try {
            const figures = await runScenario(node, side, module, scenario.args);
            (samples[side.label] ??= []).push(figures[scenario.figure]!);
          } catch (error) {
            row[side.label] = `failed: ${(error as Error).message.split('\n')[0]}`;
          }
        }
      }
      for (const [label, values] of Object.entries(samples))
        if (row[label] === undefined) row[label] = Math.round(median(values) * 1000) / 1000;
      perScenario[scenario.name] = row;
      console.log(`scheduling ${backend}: ${scenario.name}: ${JSON.stringify(row)}`);
    }
    results.figures[backend] = perScenario;
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { baseline: { type: 'string' }, runs: { type: 'string' } } });
  const result = await schedulingBench({ baseline: values.baseline, runs: values.runs ? Number(values.runs) : undefined });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
