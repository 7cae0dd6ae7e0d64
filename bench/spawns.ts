// Spawns and density (issue: 100,000 spawns per second and 100,000+ live processes): through
// `lunatic-instrument run`, on Node 20 (Asyncify) and Node 24 (JSPI, and Asyncify with
// --hibernate), beside a baseline checkout in the same run when one is given:
//   spawn-small   spawn + run + exit + DOWN of a small C program (no stdio), per second
//   spawn-malloc  the same for a program whose children malloc and snprintf
//   waiters       N processes wait in receive, then each answers one message: spawn time, answer
//                 p50/p99 (a hibernated one wakes to answer), peak RSS and RSS per process
// Usage: npm run bench:spawns -- [--baseline DIR] [--waiters N] [--runs N] (--waiters 1000000: the
// stretch goal, about 2.5 minutes and 4 GB per engine)
// Prints a markdown table (for bench/RESULTS.md) and the JSON figures.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_PROCESSES } from '../src/runtime/index.js';
import { figuresOf, instrumentForBothBackends } from './lunatic-programs.js';
import { nodeVersion } from './machine.js';
import { cli, findNode24 } from './paths.js';
import { median } from './stats.js';

interface Side {
  label: string;
  cli: string;
  /** Flags of this code's `run` (the current code runs on one thread: the figures are per thread). */
  flags: string[];
  /** Runs the spawn programs with lunatic_monitor after each spawn (a runtime without LUNATIC_SPAWN_MONITOR). */
  monitorByCall: boolean;
}

interface Engine {
  label: string;
  node: string;
  flags: string[];
}

/** Runs `run` under /usr/bin/time: the program's key=value figures and the peak RSS in KiB. */
function runOnce(engine: Engine, side: Side, module: string, args: string[], runFlags: string[]): Promise<Record<string, number>> {
  const command = ['-f', '%M', engine.node, side.cli, 'run', ...side.flags, ...engine.flags, ...runFlags, module, '--', ...args];
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/time', command, { timeout: 900_000, maxBuffer: 1 << 22 }, (error, stdout, stderr) => {
      if (error)
        return reject(
          new Error(`${side.label} ${engine.label} ${args.join(' ')}: ${stderr.trim().split('\n').slice(-2).join(' ') || error.message}`),
        );
      const figures = figuresOf(stdout);
      figures.rss_kib = Number(stderr.trim().split('\n').at(-1));
      resolve(figures);
    });
  });
}

export async function spawnsBench(options: { baseline?: string; waiters?: number; runs?: number } = {}) {
  const runs = options.runs ?? 3;
  const waiters = options.waiters ?? 100_000;
  const sides: Side[] = [{ label: 'current', cli, flags: ['--threads', '1'], monitorByCall: false }];
  if (options.baseline)
    sides.push({ label: 'baseline', cli: join(options.baseline, 'bin', 'lunatic-instrument.js'), flags: [], monitorByCall: true });
  const node24 = findNode24();
  const engines: Engine[] = [
    { label: `Node ${await nodeVersion(process.execPath)} Asyncify`, node: process.execPath, flags: [] },
    ...(node24
      ? [
          { label: `Node ${await nodeVersion(node24)} JSPI`, node: node24, flags: [] },
          { label: `Node ${await nodeVersion(node24)} Asyncify --hibernate`, node: node24, flags: ['--hibernate'] },
        ]
      : []),
  ];
  const modules = { small: await instrumentForBothBackends('spawn-small'), spawns: await instrumentForBothBackends('spawns') };
  const rows: { scenario: string; engine: string; side: string; figures: Record<string, number | string> }[] = [];
  const measure = async (
    scenario: string,
    engine: Engine,
    side: Side,
    module: string,
    args: string[],
    keys: string[],
    runFlags: string[] = [],
  ) => {
    const samples: Record<string, number>[] = [];
    let failure: string | undefined;
    for (let run = 0; run < runs && !failure; run++) {
      try {
        samples.push(await runOnce(engine, side, module, args, runFlags));
      } catch (error) {
        failure = (error as Error).message.slice(0, 200);
      }
    }
    const figures: Record<string, number | string> = failure ? { failed: failure } : {};
    if (!failure) for (const key of keys) figures[key] = median(samples.map((sample) => sample[key] ?? Number.NaN));
    rows.push({ scenario, engine: engine.label, side: side.label, figures });
    console.error(`spawns: ${scenario} ${engine.label} ${side.label}: ${JSON.stringify(figures)}`);
  };
  for (const engine of engines) {
    const kind = engine.label.includes('JSPI') ? 'jspi' : 'asyncify';
    for (const side of sides) {
      const call = side.monitorByCall ? ['call'] : [];
      await measure('spawn-small 100,000', engine, side, modules.small[kind], ['100000', ...call], ['per_s', 'rss_kib']);
      await measure('spawn-malloc 50,000', engine, side, modules.spawns[kind], ['spawn', '50000', ...call], ['per_s', 'rss_kib']);
      // without hibernation (the baseline, JSPI) every waiting process keeps an instance, and V8
      // gives out about 13,000 memories: those get 10,000
      const count = side.label === 'baseline' || kind === 'jspi' ? Math.min(waiters, 10_000) : waiters;
      await measure(
        `waiters ${count.toLocaleString('en')}`,
        engine,
        side,
        modules.spawns[kind],
        ['waiters', String(count), '200'],
        ['n', 'spawn_us_each', 'p50_us', 'p99_us', 'rss_kib'],
        // the waiters and their parent
        count + 1 > DEFAULT_MAX_PROCESSES ? ['--max-processes', String(count + 1)] : [],
      );
    }
  }
  return { runs, rows };
}

function markdown(rows: Awaited<ReturnType<typeof spawnsBench>>['rows']): string {
  const lines = ['| scenario | engine | code | figures |', '| --- | --- | --- | --- |'];
  for (const { scenario, engine, side, figures } of rows) {
    const text = Object.entries(figures)
      .map(([key, value]) => `${key} ${typeof value === 'number' ? Math.round(value * 10) / 10 : value}`)
      .join(', ');
    lines.push(`| ${scenario} | ${engine} | ${side} | ${text} |`);
  }
  return lines.join('\n');
}

const { values } = parseArgs({ options: { baseline: { type: 'string' }, waiters: { type: 'string' }, runs: { type: 'string' } } });
const result = await spawnsBench({
  baseline: values.baseline,
  waiters: values.waiters ? Number(values.waiters) : undefined,
  runs: values.runs ? Number(values.runs) : undefined,
});
process.stdout.write(`${markdown(result.rows)}\n\n${JSON.stringify(result, null, 2)}\n`);
