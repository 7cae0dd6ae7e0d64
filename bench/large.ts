// Instrumenting a large program nobody here wrote: YoWASP's yosys (npm `@yowasp/yosys`, a 30 MB
// module with 28 MB of C++ code in 34,000 functions), fetched at bench time, never committed.
// Each tool runs once (each takes minutes): ours (the default build, and counters only), Debian's
// native `wasm-opt -O2 --asyncify` and, unless --no-npm, npm's (binaryen.js, which can take far
// longer). Prints time and peak memory with the ratios the instrumentation targets compare
// (<= npm's wasm-opt, <= 2x Debian's, memory <= 2x Debian's), as JSON and as a Markdown table for
// bench/RESULTS.md. Apart from `npm run bench` because it takes 20 minutes to an hour.
//
// Run alone: `npm run bench:large` (`--no-npm` to leave npm's wasm-opt out).
import { statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { npmPackage } from './fetch.js';
import { formatBytes, formatRatio, table } from './format.js';
import { nodeVersion } from './machine.js';
import { runTool, type ToolRun } from './measure.js';
import { cli, nativeWasmOpt, npmWasmOpt, workDir } from './paths.js';
import { ratio } from './stats.js';

const YOSYS = { spec: '@yowasp/yosys@0.55.944', file: 'gen/yosys.core.wasm', cache: 'yosys' };
/** Longer than any of them should take: Debian's wasm-opt took 10 minutes here. */
const TIMEOUT_MS = 2 * 60 * 60_000;

interface LargeTool {
  name: string;
  command: (input: string, output: string) => { node?: string; program: string; args: string[] };
}

const ours =
  (...flags: string[]): LargeTool['command'] =>
  (input, output) => ({ node: process.execPath, program: cli, args: [input, '-o', output, '--time-limit', '0', ...flags] });
// yosys has no target_features section: wasm-opt must be told the features its code uses.
const FEATURES = ['--enable-sign-ext', '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-mutable-globals'];
const asyncify = (input: string, output: string) => [input, ...FEATURES, '-O2', '--asyncify', '-o', output];
const TOOLS: LargeTool[] = [
  { name: 'lunatic-instrument', command: ours() },
  { name: 'lunatic-instrument --no-asyncify', command: ours('--no-asyncify') },
  { name: 'Debian wasm-opt', command: (input, output) => ({ program: nativeWasmOpt, args: asyncify(input, output) }) },
  { name: 'npm wasm-opt', command: (input, output) => ({ node: process.execPath, program: npmWasmOpt, args: asyncify(input, output) }) },
];

async function measureTool(tool: LargeTool, input: string): Promise<ToolRun | string> {
  const output = join(workDir, 'out', `yosys.${tool.name.replace(/\W+/g, '-')}.wasm`);
  try {
    return await runTool(tool.command(input, output), TIMEOUT_MS);
  } catch (error) {
    return (error as Error).message.split('\n')[0]!;
  }
}

const minutes = (ms: number) => {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
};
const memory = (run: ToolRun) => formatBytes(run.maxRssKiB === undefined ? undefined : run.maxRssKiB * 1024);

function markdown(results: [string, ToolRun | string][]): string {
  const measured = (name: string) => {
    const run = results.find(([n]) => n === name)?.[1];
    return typeof run === 'object' ? run : undefined;
  };
  const debian = measured('Debian wasm-opt');
  const npm = measured('npm wasm-opt');
  const rows = results.map(([name, run]) =>
    typeof run === 'string'
      ? [name, run, '', '', '', '']
      : [
          name,
          minutes(run.ms),
          memory(run),
          formatRatio(ratio(run.ms, npm?.ms)),
          formatRatio(ratio(run.ms, debian?.ms)),
          formatRatio(ratio(run.maxRssKiB, debian?.maxRssKiB)),
        ],
  );
  return table(['tool', 'time (m:ss)', 'peak memory', 'time / npm wasm-opt', 'time / Debian wasm-opt', 'memory / Debian wasm-opt'], rows);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'no-npm': { type: 'boolean', default: false } } });
  const input = join(npmPackage(YOSYS.spec, YOSYS.cache), YOSYS.file);
  const tools = TOOLS.filter((tool) => !(values['no-npm'] && tool.name === 'npm wasm-opt'));
  console.log(`${YOSYS.spec} ${YOSYS.file}: ${(statSync(input).size / 1e6).toFixed(1)} MB; Node ${await nodeVersion(process.execPath)}`);
  const results: [string, ToolRun | string][] = [];
  for (const tool of tools) {
    const load = loadavg()[0]!.toFixed(1);
    const run = await measureTool(tool, input);
    results.push([tool.name, run]);
    console.log(`  ${tool.name}: ${typeof run === 'string' ? run : `${minutes(run.ms)}, ${memory(run)}`} (load ${load} before)`);
  }
  console.log(JSON.stringify(Object.fromEntries(results)));
  console.log(markdown(results));
}

await main();
