// The RESULTS.md section of the third-party programs (bench/third-party.ts): the targets of the
// robustness issue beside the measured figures, then per program run time, code size,
// instrumentation time and peak memory against binaryen's wasm-opt, and the refusals. Pure.
import { formatBytes, formatMs, formatRatio, table } from './format.js';
import {
  type Machine,
  type ProgramResult,
  type RefusalCheck,
  THIRD_PARTY_TARGETS as T,
  type ThirdPartyResults,
  type Tool,
} from './results.js';
import { ratio, summarize } from './stats.js';
import { codeSizeRatio, runRatio } from './summary.js';

type Figure = (program: ProgramResult) => number | undefined;

const codeVsSingleCopy: Figure = (p) => ratio(p.tools.instrument?.codeBytes, p.tools.instrumentSingleCopy?.codeBytes);
const timeVs =
  (tool: Tool): Figure =>
  (p) =>
    ratio(p.tools.instrument?.ms, p.tools[tool]?.ms);
const memoryVsNative: Figure = (p) => ratio(p.tools.instrument?.maxRssKiB, p.tools.wasmOptNative?.maxRssKiB);

const FIGURES: Array<{ what: string; figure: Figure; geomean?: number; worst?: number }> = [
  {
    what: 'Counters only (--no-asyncify, JSPI, Node 24): run time',
    figure: (p) => runRatio(p, 'jspi'),
    geomean: T.countersGeomean,
    worst: T.countersWorst,
  },
  {
    what: 'Counters only (--no-asyncify), Node 20, yield refilling without suspending: run time',
    figure: (p) => runRatio(p, 'countersRefill'),
    geomean: T.countersGeomean,
    worst: T.countersWorst,
  },
  {
    what: 'Default Asyncify build (Node 20): run time',
    figure: (p) => runRatio(p, 'asyncify'),
    geomean: T.asyncifyGeomean,
    worst: T.asyncifyWorst,
  },
  {
    what: 'Counters only (JSPI, Node 24): second run in the process, code compiled',
    figure: (p) => runRatio(p, 'jspi', 'warmMs'),
    geomean: T.countersGeomean,
    worst: T.countersWorst,
  },
  {
    what: 'Counters only, Node 20, refilling: second run in the process, code compiled',
    figure: (p) => runRatio(p, 'countersRefill', 'warmMs'),
    geomean: T.countersGeomean,
    worst: T.countersWorst,
  },
  {
    what: 'Default Asyncify build (Node 20): second run in the process, code compiled',
    figure: (p) => runRatio(p, 'asyncify', 'warmMs'),
    geomean: T.asyncifyGeomean,
    worst: T.asyncifyWorst,
  },
  { what: 'Default code size / --no-rewind-copies code size', figure: codeVsSingleCopy, worst: T.sizeVsSingleCopy },
  { what: 'Counters-only code size', figure: (p) => codeSizeRatio(p, 'instrumentCounters'), worst: T.countersSize },
  { what: 'Instrumentation time / npm wasm-opt -O2 --asyncify', figure: timeVs('wasmOpt'), worst: T.timeVsNpmWasmOpt },
  { what: 'Instrumentation time / Debian wasm-opt -O2 --asyncify', figure: timeVs('wasmOptNative'), worst: T.timeVsNativeWasmOpt },
  { what: 'Peak memory / Debian wasm-opt', figure: memoryVsNative, worst: T.memoryVsNativeWasmOpt },
];

const verdict = (value: number | undefined, target: number | undefined): string =>
  target === undefined ? '' : value === undefined ? 'not measured' : value <= target ? 'met' : 'NOT met';

function targetsTable(programs: ProgramResult[], refusals: RefusalCheck[]): string {
  const rows = FIGURES.map(({ what, figure, geomean, worst }) => {
    const spread = summarize(programs.map(figure));
    return [
      what,
      formatRatio(spread?.geomean),
      geomean === undefined ? '' : `<= ${geomean.toFixed(2)}x: ${verdict(spread?.geomean, geomean)}`,
      formatRatio(spread?.worst),
      worst === undefined ? '' : `<= ${worst.toFixed(2)}x: ${verdict(spread?.worst, worst)}`,
    ];
  });
  const slowest = refusals.length ? Math.max(...refusals.map((r) => r.ms)) : undefined;
  const allRefused = refusals.every((r) => r.exitCode === 1);
  rows.push([
    "Refusal of a large Asyncify'd or oversized input (s)",
    '',
    '',
    slowest === undefined ? '–' : (slowest / 1000).toFixed(2),
    `< ${T.refusalSeconds} s: ${slowest === undefined ? 'not measured' : slowest < T.refusalSeconds * 1000 && allRefused ? 'met' : 'NOT met'}`,
  ]);
  return table(['Figure', 'Geomean', 'Target', 'Worst', 'Target'], rows);
}

function programTable(programs: ProgramResult[]): string {
  const rows = programs.map((p) => [
    p.name,
    formatBytes(p.inputCodeBytes),
    formatMs(p.runs.baseline?.ms),
    formatRatio(runRatio(p, 'asyncify')),
    formatRatio(runRatio(p, 'jspi')),
    formatRatio(runRatio(p, 'countersRefill')),
    formatMs(p.runs.baseline?.warmMs),
    formatRatio(runRatio(p, 'asyncify', 'warmMs')),
    formatRatio(runRatio(p, 'jspi', 'warmMs')),
    formatRatio(runRatio(p, 'countersRefill', 'warmMs')),
    formatRatio(codeSizeRatio(p, 'instrument')),
    formatRatio(codeSizeRatio(p, 'instrumentSingleCopy')),
    formatRatio(codeSizeRatio(p, 'instrumentCounters')),
    formatRatio(codeSizeRatio(p, 'wasmOpt')),
  ]);
  const header = [
    'Program',
    'Code',
    'Run (baseline)',
    'Asyncify run',
    'Counters run (JSPI)',
    'Counters run (Node 20, refill)',
    'Second run (baseline)',
    'Asyncify, second run',
    'Counters (JSPI), second run',
    'Counters (Node 20, refill), second run',
    'Default code',
    'Single-copy code',
    'Counters code',
    'wasm-opt code',
  ];
  return table(header, rows);
}

function toolCell(p: ProgramResult, tool: Tool): string {
  const m = p.tools[tool];
  if (!m) return '–';
  return `${formatMs(m.ms)}, ${m.maxRssKiB === undefined ? '?' : Math.round(m.maxRssKiB / 1024)} MiB`;
}

function toolTable(programs: ProgramResult[]): string {
  const tools: Tool[] = ['instrument', 'instrumentCounters', 'wasmOpt', 'wasmOptNative'];
  const header = ['Program', 'ours (default)', 'ours (--no-asyncify)', 'npm wasm-opt -O2 --asyncify', 'Debian wasm-opt -O2 --asyncify'];
  return table(
    header,
    programs.map((p) => [p.name, ...tools.map((tool) => toolCell(p, tool))]),
  );
}

function refusalTable(refusals: RefusalCheck[]): string {
  const rows = refusals.map((r) => [
    r.name,
    r.origin,
    formatBytes(r.inputBytes),
    `${(r.ms / 1000).toFixed(2)} s`,
    String(r.exitCode),
    `\`${r.message.replaceAll('|', '\\|')}\``,
  ]);
  return table(['Input', 'From', 'Size', 'Time', 'Exit', 'Message'], rows);
}

function machineLine(m: Machine): string {
  const node24 = m.node24 ? `, JSPI on Node ${m.node24}` : ', no Node 24 (JSPI not measured)';
  return `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}${node24}; binaryen ${m.binaryen} (npm)${m.wasmOptNative ? `, ${m.wasmOptNative} (Debian)` : ''}.`;
}

export function thirdPartySection(third: ThirdPartyResults | undefined): string[] {
  if (!third) return [];
  const { programs, refusals } = third;
  return [
    '## Third-party programs (issue 26)',
    '',
    `Programs nobody here wrote or tuned, built or fetched at bench time (bench/third-party.ts), median of ${third.runs} runs, interleaved (each run is a process that runs the program twice: the second run, from the same compiled module, shows the code's speed apart from V8 compiling it); measured ${third.date.slice(0, 10)}${third.commit ? ` at commit ${third.commit}` : ''} (\`npm run bench -- --third-party-only\` remeasures them alone). Run-time ratios against the uninstrumented program on the same Node in the same run; sizes are code sections (the instructions alone, custom sections and data left out on both sides).`,
    '',
    ...(third.machine ? [machineLine(third.machine), ''] : []),
    targetsTable(programs, refusals),
    '',
    programTable(programs),
    '',
    'Instrumentation: median wall time of the whole command, peak RSS.',
    '',
    toolTable(programs),
    '',
    'Large inputs that must be refused at once:',
    '',
    refusalTable(refusals),
    '',
    ...(third.skipped.length ? ['Skipped:', '', ...third.skipped.map((reason) => `- ${reason}`), ''] : []),
  ];
}
