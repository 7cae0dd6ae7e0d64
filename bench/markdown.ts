// Renders bench/RESULTS.md from the results: the targets with a verdict, then one table each for
// run time, size, and instrumentation time/memory, then the machine and the notes. Pure.
import { DASH, formatBytes, formatMs, formatRatio, table } from './format.js';

export { formatBytes, formatMs, formatRatio };
import { thirdPartySection } from './third-party-report.js';
import { type BenchResults, type ProgramResult, RUN_VARIANTS, type RunVariant, SCHEDULING_TARGETS, TOOLS, type Tool } from './results.js';
import {
  type Metric,
  codeSizeRatio,
  runRatio,
  sizeRatio,
  type Spread,
  type Summary,
  summarizeResults,
  toolTimeRatio,
  verdicts,
} from './summary.js';

const passMark = (pass: boolean | undefined): string => (pass === undefined ? 'not measured' : pass ? 'met' : 'NOT met');

function targetsSection(results: BenchResults): string {
  const rows = verdicts(summarizeResults(results), results.targets).map((v) => [
    v.what,
    formatRatio(v.value),
    `<= ${v.target.toFixed(2)}x`,
    passMark(v.pass),
  ]);
  return table(['Target', 'Measured', 'Target', 'Verdict'], rows);
}

const TIMED = ['asyncify', 'singleCopy', 'singleAbove', 'asyncifyOnly', 'wasmOpt'] as const;

function runCell(program: ProgramResult, variant: RunVariant, metric: Metric): string {
  const run = program.runs[variant];
  if (run && !run.checksumOk) return 'WRONG OUTPUT';
  return formatRatio(runRatio(program, variant, metric));
}

/** A summary line under the run-time table: one figure of each variant's spread. */
function spreadRow(label: string, summary: Summary, figure: (spread: Spread) => number | undefined): string[] {
  return [`**${label}**`, '', ...TIMED.map((v) => formatRatio(figure(summary[v]))), '', formatRatio(figure(summary.jspi))];
}

function runTimeSection(results: BenchResults, metric: Metric): string {
  const rows = results.programs.map((p) => [
    p.name,
    formatMs(p.runs.baseline?.[metric]),
    ...TIMED.map((v) => runCell(p, v, metric)),
    formatMs(p.runs.baseline24?.[metric]),
    runCell(p, 'jspi', metric),
  ]);
  const summary = summarizeResults(results, metric);
  rows.push(spreadRow('geomean', summary, (spread) => spread?.geomean));
  rows.push(spreadRow('worst', summary, (spread) => spread?.worst));
  const header = [
    'Program',
    'Node 20 baseline',
    'asyncify (default)',
    'single-copy Asyncify',
    'one copy past 500 expressions',
    'asyncify-only reference',
    'wasm-opt --asyncify',
    'Node 24 baseline',
    'JSPI counters-only',
  ];
  return table(header, rows);
}

const SIZED: Tool[] = [
  'instrument',
  'instrumentSingleCopy',
  'instrumentSingleAbove',
  'instrumentCounters',
  'instrumentAsyncifyOnly',
  'wasmOpt',
];

/** Sizes of the input and of each tool's output, by whole file or by code section alone. */
function sizeSection(results: BenchResults, part: 'file' | 'code'): string {
  const input = (p: ProgramResult) => (part === 'file' ? p.inputBytes : p.inputCodeBytes);
  const output = (p: ProgramResult, tool: Tool) => (part === 'file' ? p.tools[tool]?.outputBytes : p.tools[tool]?.codeBytes);
  const sizeOf = part === 'file' ? sizeRatio : codeSizeRatio;
  const rows = results.programs.map((p) => [
    p.name,
    formatBytes(input(p)),
    ...SIZED.map((tool) => `${formatBytes(output(p, tool))} (${formatRatio(sizeOf(p, tool))})`),
  ]);
  return table(['Program', 'Input', ...SIZED.map((tool) => TOOLS[tool])], rows);
}

const TIMED_TOOLS: Tool[] = [...SIZED, 'wasmOptNative'];

function toolCell(program: ProgramResult, tool: Tool): string {
  const measured = program.tools[tool];
  if (!measured) return DASH;
  const cpu = measured.cpuMs === undefined ? '' : ` (CPU ${formatMs(measured.cpuMs)})`;
  const memory = measured.maxRssKiB === undefined ? '' : `, ${Math.round(measured.maxRssKiB / 1024)} MiB`;
  return `${formatMs(measured.ms)}${cpu}${memory}`;
}

function toolSection(results: BenchResults): string {
  const rows = results.programs.map((p) => [p.name, ...TIMED_TOOLS.map((tool) => toolCell(p, tool)), formatRatio(toolTimeRatio(p))]);
  return table(['Program', ...TIMED_TOOLS.map((tool) => TOOLS[tool]), 'default / wasm-opt'], rows);
}

function machineSection(results: BenchResults): string {
  const m = results.machine;
  return [
    `- CPU: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}`,
    `- Node: ${m.node}${m.node24 ? `; JSPI runs on Node ${m.node24}` : '; no Node 24: JSPI not measured'}`,
    `- binaryen (npm): ${m.binaryen}${m.wasmOptNative ? `; native: ${m.wasmOptNative}` : ''}`,
    `- ${results.config.runs} run(s) per measurement, median${results.config.quick ? ' (--quick)' : ''} (the --no-rewind-copies, --no-asyncify and --no-reductions instrumentations: 1 run); reduction slice ${results.config.reductions}`,
    `- ${results.date}${results.commit ? `, commit ${results.commit}` : ''}`,
  ].join('\n');
}

function notesSection(results: BenchResults): string {
  const notes = [
    ...results.skipped.map((reason) => `- skipped: ${reason}`),
    ...results.programs.flatMap((p) => p.notes.map((note) => `- ${p.name}: ${note}`)),
  ];
  return notes.length > 0 ? notes.join('\n') : '- none';
}

/** A measured figure: whole numbers as they are, others to 3 significant digits, never in e-notation. */
export function formatFigure(value: number): string {
  if (Number.isInteger(value) || Math.abs(value) >= 100) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

/** Leaves of a nested record as [dotted path, value] pairs, for a two-column table. */
export function flatten(record: Record<string, unknown>, prefix = ''): [string, string][] {
  return Object.entries(record).flatMap(([key, value]): [string, string][] => {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return flatten(value as Record<string, unknown>, path);
    if (typeof value === 'number') return [[path, formatFigure(value)]];
    return [[path, typeof value === 'string' ? value : JSON.stringify(value)]];
  });
}

function schedulingSection(results: BenchResults): string[] {
  const scheduling = results.scheduling;
  if (!scheduling) return [];
  const when = results.schedulingDate
    ? ` Measured ${results.schedulingDate.slice(0, 10)}${results.schedulingCommit ? ` at commit ${results.schedulingCommit}` : ''} with \`npm run bench -- --scheduling-only\`.`
    : '';
  const codes = scheduling.baseline ? ['current', 'baseline'] : ['current'];
  const rows: string[][] = [];
  for (const [backend, scenarios] of Object.entries(scheduling.figures)) {
    for (const [scenario, row] of Object.entries(scenarios)) {
      rows.push([
        `${backend} (${scheduling.nodes[backend] ?? '?'})`,
        scenario,
        ...codes.map((code) => String(row[code] ?? '')),
        SCHEDULING_TARGETS[scenario]?.[backend as 'asyncify' | 'jspi'] ?? '',
      ]);
    }
  }
  const headers = ['Backend (Node)', 'Scenario', 'This code', ...(scheduling.baseline ? ['Baseline'] : []), 'Target'];
  return [
    '## Scheduling',
    '',
    `From bench/scheduling.ts: the C scenarios of bench/lunatic/scheduling.c under \`lunatic-instrument run\`, median of ${scheduling.runs} runs${scheduling.baseline ? `; "Baseline" is ${scheduling.baseline}, run interleaved with this code in the same run` : ''}.${when}`,
    '',
    table(headers, rows),
    '',
  ];
}

function runtimeSection(results: BenchResults): string[] {
  if (!results.runtime) return [];
  const rows = flatten(results.runtime).map(([path, value]) => [`\`${path}\``, value.replace(/\|/g, '\\|')]);
  return [
    '## Runtime',
    '',
    'From bench/runtime.ts (`runtimeBench()`), run by the same `npm run bench`.',
    '',
    table(['Figure', 'Value'], rows),
    '',
  ];
}

function variantLegend(): string {
  return (Object.entries(RUN_VARIANTS) as [RunVariant, string][]).map(([name, meaning]) => `- \`${name}\`: ${meaning}`).join('\n');
}

const COMMENTARY_START = '<!-- commentary: kept when RESULTS.md is regenerated -->';
const COMMENTARY_END = '<!-- /commentary -->';

/** The hand-written commentary of an existing RESULTS.md (between the markers), or ''. */
export function extractCommentary(markdown: string): string {
  const start = markdown.indexOf(COMMENTARY_START);
  const end = markdown.indexOf(COMMENTARY_END);
  if (start < 0 || end < start) return '';
  return markdown.slice(start + COMMENTARY_START.length, end).trim();
}

/** RESULTS.md: generated tables, with the hand-written `commentary` kept after the targets. */
export function renderMarkdown(results: BenchResults, commentary = ''): string {
  return [
    '# Benchmark results',
    '',
    'Generated by `npm run bench` (bench/run.ts); the raw figures are in bench/results.json, the chart in bench/chart.svg.',
    'Ratios compare with the uninstrumented program measured in the same run on the same Node (lower is better).',
    '',
    '## Targets',
    '',
    targetsSection(results),
    '',
    COMMENTARY_START,
    commentary.trim(),
    COMMENTARY_END,
    '',
    '## Run time',
    '',
    'Median wall time of instantiation + `_start` inside a fresh child process; ratios against the baseline.',
    '',
    runTimeSection(results, 'ms'),
    '',
    variantLegend(),
    '',
    "The same runs by CPU time of the child (all its threads, so V8's background compilation counts too): less disturbed when other work shares the machine.",
    '',
    runTimeSection(results, 'cpuMs'),
    '',
    '## Size',
    '',
    'Whole files:',
    '',
    sizeSection(results, 'file'),
    '',
    'Code sections alone (the instructions, without names, debug info or data):',
    '',
    sizeSection(results, 'code'),
    '',
    '## Instrumentation time and peak memory',
    '',
    'Median wall time of the whole command (Node start-up and binaryen loading included), its CPU time (user + system), peak RSS.',
    '',
    toolSection(results),
    '',
    ...thirdPartySection(results.thirdParty),
    ...runtimeSection(results),
    ...schedulingSection(results),
    '## Machine',
    '',
    machineSection(results),
    '',
    '## Notes',
    '',
    notesSection(results),
    '',
  ].join('\n');
}
