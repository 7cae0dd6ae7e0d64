// Turns raw measurements into the figures the issue asks about: per-program ratios against the
// baseline measured in the same run, their geometric means and worst cases, and a pass/fail
// verdict for each target. Pure functions over BenchResults.
import type { BenchResults, ProgramResult, RunVariant, Targets, Tool } from './results.js';
import { ratio, summarize } from './stats.js';

/** The baseline a run variant is compared with: the uninstrumented module on the same Node. */
export function baselineOf(variant: RunVariant): RunVariant {
  return variant === 'jspi' || variant === 'baseline24' ? 'baseline24' : 'baseline';
}

/** Wall time (`ms`, what the targets are about) or CPU time (`cpuMs`). */
export type Metric = 'ms' | 'cpuMs' | 'warmMs';

/** Run time relative to the baseline; undefined when missing or when the output differed. */
export function runRatio(program: ProgramResult, variant: RunVariant, metric: Metric = 'ms'): number | undefined {
  const run = program.runs[variant];
  if (!run?.checksumOk) return undefined;
  return ratio(run[metric], program.runs[baselineOf(variant)]?.[metric]);
}

/** Output size relative to the input module. */
export function sizeRatio(program: ProgramResult, tool: Tool): number | undefined {
  return ratio(program.tools[tool]?.outputBytes, program.inputBytes);
}

/**
 * Code section size relative to the input's: what the instrumentation adds to the instructions,
 * whatever the module carries besides (flite's DWARF, which binaryen.js drops, shrinks the file).
 */
export function codeSizeRatio(program: ProgramResult, tool: Tool): number | undefined {
  return ratio(program.tools[tool]?.codeBytes, program.inputCodeBytes);
}

/** Our default instrumentation time relative to binaryen's plain `wasm-opt -O2 --asyncify`. */
export function toolTimeRatio(program: ProgramResult, tool: Tool = 'instrument'): number | undefined {
  return ratio(program.tools[tool]?.ms, program.tools.wasmOpt?.ms);
}

export type Spread = { geomean: number; worst: number } | undefined;

export interface Summary {
  asyncify: Spread;
  singleCopy: Spread;
  singleAbove: Spread;
  asyncifyOnly: Spread;
  wasmOpt: Spread;
  jspi: Spread;
  size: Spread;
  codeSize: Spread;
  toolTime: Spread;
}

export function summarizeResults(results: BenchResults, metric: Metric = 'ms'): Summary {
  const over = (pick: (program: ProgramResult) => number | undefined): Spread => summarize(results.programs.map(pick));
  return {
    asyncify: over((p) => runRatio(p, 'asyncify', metric)),
    singleCopy: over((p) => runRatio(p, 'singleCopy', metric)),
    singleAbove: over((p) => runRatio(p, 'singleAbove', metric)),
    asyncifyOnly: over((p) => runRatio(p, 'asyncifyOnly', metric)),
    wasmOpt: over((p) => runRatio(p, 'wasmOpt', metric)),
    jspi: over((p) => runRatio(p, 'jspi', metric)),
    size: over((p) => sizeRatio(p, 'instrument')),
    codeSize: over((p) => codeSizeRatio(p, 'instrument')),
    toolTime: over((p) => toolTimeRatio(p)),
  };
}

export interface Verdict {
  what: string;
  /** Undefined when nothing was measured. */
  value: number | undefined;
  target: number;
  pass: boolean | undefined;
}

/** One line per target of the issue: the measured figure beside the target. */
export function verdicts(summary: Summary, targets: Targets): Verdict[] {
  const verdict = (what: string, value: number | undefined, target: number): Verdict => ({
    what,
    value,
    target,
    pass: value === undefined ? undefined : value <= target,
  });
  return [
    verdict('Asyncify run time, geomean', summary.asyncify?.geomean, targets.asyncifyGeomean),
    verdict('Asyncify run time, worst', summary.asyncify?.worst, targets.asyncifyWorst),
    verdict('Size, geomean', summary.size?.geomean, targets.sizeRatio),
    verdict('Size, worst', summary.size?.worst, targets.sizeRatio),
    verdict('Code section size, geomean', summary.codeSize?.geomean, targets.sizeRatio),
    verdict('JSPI (counters only) run time, geomean', summary.jspi?.geomean, targets.jspiGeomean),
    verdict('Instrumentation time vs wasm-opt -O2 --asyncify, geomean', summary.toolTime?.geomean, 1),
  ];
}
