// Third-party programs as a user runs them: the whole `lunatic-instrument run` command, from
// Node's start to its exit, against `node` running the uninstrumented program under node:wasi,
// also as a whole command. Node 20 runs the default build (Asyncify), Node 24 the counters-only
// build (`--no-asyncify`, what JSPI runs). Both sides pay Node's start; ours also the CLI's
// (yargs, the runtime) and, at the end, V8's optimizing compiles still running (bench/RESULTS.md,
// "what the first and second runs wait for"). `run` also gets the uninstrumented program, as a
// user first gives it: instrumenting it in memory (`--no-cache`, every first run), and finding it
// in the instrument cache (src/instrument-cache.ts, filled before the timed runs; every later
// run). `run --no-tier-up` (V8's baseline code only) is timed against both node:wasi as it comes
// and node:wasi under `node --liftoff-only`. Each command runs RUNS times, all interleaved; the
// medians and their ratio are printed as a Markdown table. The output of every run is compared
// with the uninstrumented one's.
//   npm run bench:commands -- [--runs N] [--only quickjs,sqlite]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatRatio, table } from './format.js';
import { nodeVersion } from './machine.js';
import { runChild } from './measure.js';
import { cli, findNode24, workDir } from './paths.js';
import { geomean, median } from './stats.js';
import { thirdPartyPrograms } from './third-party.js';

const DEFAULT_RUNS = 5;
const RUN_TIMEOUT_MS = 5 * 60_000;

/** The uninstrumented program under node:wasi, as its own command. */
const NODE_WASI_RUNNER = `import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {}, returnOnExit: true });
const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), wasi.getImportObject());
process.exitCode = wasi.start(instance);
`;

interface Command {
  label: string;
  node: string;
  args: string[];
}

interface Timed {
  ms: number[];
  outputs: Set<string>;
  failure?: string;
}

/** Runs `command` once: wall time, and a digest of its stdout; throws with its stderr when it fails. */
async function timeOnce(command: Command): Promise<{ ms: number; digest: string }> {
  const child = await runChild(command.node, command.args, RUN_TIMEOUT_MS);
  if (child.code !== 0) throw new Error(`${command.label}: exit ${child.code}: ${child.stderr.trim().split('\n')[0]}`);
  return { ms: child.ms, digest: createHash('sha256').update(child.stdout).digest('hex') };
}

/** Every command `runs` times, interleaved, so that drift affects them alike. */
async function timeInterleaved(commands: Command[], runs: number): Promise<Map<Command, Timed>> {
  const timed = new Map(commands.map((command) => [command, { ms: [], outputs: new Set<string>() } as Timed]));
  for (let run = 0; run < runs; run++) {
    for (const command of commands) {
      const entry = timed.get(command)!;
      if (entry.failure) continue;
      try {
        const { ms, digest } = await timeOnce(command);
        entry.ms.push(ms);
        entry.outputs.add(digest);
      } catch (error) {
        entry.failure = (error as Error).message;
      }
    }
  }
  return timed;
}

function instrumented(input: string, output: string, flags: string[]): string {
  execFileSync(process.execPath, [cli, input, '-o', output, '--quiet', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  return output;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: String(DEFAULT_RUNS) }, only: { type: 'string' } } });
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error('--runs must be a whole number, 1 or more');
  const only = values.only?.split(',');
  const node24 = findNode24();
  if (!node24) console.log('skipped: the Node 24 (JSPI) commands: no Node with JSPI found (bench/paths.ts findNode24)');
  const { programs, skipped } = thirdPartyPrograms();
  for (const reason of skipped) console.log(`skipped: ${reason}`);
  const dir = join(workDir, 'commands');
  mkdirSync(dir, { recursive: true });
  const runner = join(dir, 'node-wasi.mjs');
  writeFileSync(runner, NODE_WASI_RUNNER);
  // the cache of this bench alone, emptied first: filled by each program's first `run`
  process.env.LUNATIC_CACHE_DIR = join(dir, 'cache');
  rmSync(process.env.LUNATIC_CACHE_DIR, { recursive: true, force: true });

  const rows: string[][] = [];
  const ratios = new Map<string, number[]>(); // per command, for the geomean
  for (const program of programs.filter((p) => !only || only.includes(p.name))) {
    console.log(`${program.name}: instrumenting`);
    const plain = (node: string, label: string, ...nodeFlags: string[]): Command => ({
      label,
      node,
      args: ['--no-warnings', ...nodeFlags, runner, program.wasm, ...program.args],
    });
    const ours = (node: string, label: string, wasm: string, ...flags: string[]): Command => ({
      label,
      node,
      args: [cli, 'run', wasm, ...flags, '--', ...program.args],
    });
    /** The instrumented program, then the uninstrumented one from the cache and instrumented in memory, against `baseline`. */
    const backend = (node: string, nodeLabel: string, run: string, instrumentedWasm: string): [Command, Command][] => {
      const baseline = plain(node, nodeLabel);
      return [
        [baseline, ours(node, run, instrumentedWasm)],
        [baseline, ours(node, `${run}, uninstrumented input from the cache`, program.wasm)],
        [baseline, ours(node, `${run}, uninstrumented input instrumented in memory (--no-cache)`, program.wasm, '--no-cache')],
        [baseline, ours(node, `${run}, --no-tier-up`, instrumentedWasm, '--no-tier-up')],
        // the same V8 tiering on both sides: what the runtime and the instrumentation cost there
        [
          plain(node, `${nodeLabel} --liftoff-only`, '--liftoff-only'),
          ours(node, `${run}, --no-tier-up, against node:wasi under --liftoff-only`, instrumentedWasm, '--no-tier-up'),
        ],
      ];
    };
    const pairs = backend(
      process.execPath,
      'node 20',
      'run, Node 20, Asyncify',
      instrumented(program.wasm, join(dir, `${program.name}.wasm`), []),
    );
    if (node24) {
      const counters = instrumented(program.wasm, join(dir, `${program.name}.counters.wasm`), ['--no-asyncify']);
      pairs.push(...backend(node24, 'node 24', 'run, Node 24, JSPI', counters));
    }
    console.log(`${program.name}: filling the cache`);
    for (const [, command] of pairs.filter(([, command]) => command.label.endsWith('from the cache'))) await timeOnce(command);
    console.log(`${program.name}: running`);
    const timed = await timeInterleaved([...new Set(pairs.flat())], runs);
    for (const [baseline, command] of pairs) {
      const base = timed.get(baseline)!;
      const result = timed.get(command)!;
      const failure = base.failure ?? result.failure;
      const same = !failure && base.outputs.size === 1 && result.outputs.size === 1 && [...base.outputs][0] === [...result.outputs][0];
      const ratio = failure ? undefined : median(result.ms) / median(base.ms);
      if (ratio !== undefined) ratios.set(command.label, [...(ratios.get(command.label) ?? []), ratio]);
      rows.push([
        program.name,
        command.label,
        base.failure ? 'failed' : `${Math.round(median(base.ms))} ms`,
        result.failure ? 'failed' : `${Math.round(median(result.ms))} ms`,
        ratio === undefined ? '–' : formatRatio(ratio),
        failure ? failure : same ? 'same' : 'DIFFERS',
      ]);
    }
  }
  const nodes = [await nodeVersion(process.execPath), ...(node24 ? [await nodeVersion(node24)] : [])];
  console.log('');
  console.log(`median of ${runs} runs each, interleaved; Node ${nodes.join(' and ')}; load average ${loadavg()[0]!.toFixed(1)}`);
  console.log('');
  console.log(table(['Program', 'command', '`node`, node:wasi', '`lunatic-instrument run`', 'ratio', 'output'], rows));
  console.log('');
  for (const [label, values] of ratios)
    console.log(`${label}: geomean ${formatRatio(geomean(values))}, worst ${formatRatio(Math.max(...values))}`);
}

await main();
