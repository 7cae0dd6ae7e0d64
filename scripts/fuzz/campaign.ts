// A fuzz campaign: for each seed, generate a module, run it as is, instrument it (reductions +
// Asyncify, and reductions only), run the results (refilling the budget at every yield, and
// suspending at every yield) and compare each run with the original's. Generation runs in
// child processes ahead of the comparisons, so both cores stay busy.
import { InputError } from '../../src/errors.js';
import { instrument, type InstrumentOptions } from '../../src/instrument.js';
import { compare, type Difference } from './compare.js';
import { type Observation, observe, type RunMode } from './execute.js';
import { type ModuleExports, readExports } from './exports.js';
import { type GeneratedModule, generateModule } from './generate.js';
import { Random } from './random.js';

export interface Variant {
  name: string;
  options: InstrumentOptions;
  mode: RunMode;
}

export const VARIANTS: readonly Variant[] = [
  { name: 'asyncify+reductions/refill', options: {}, mode: 'refill' },
  // Loops unrolled (the default without Asyncify only), so suspensions land in either copy.
  { name: 'asyncify+reductions/suspend', options: { unrollLoops: true }, mode: 'suspend' },
  // Functions past 40 expressions get their rewind copy alone: suspensions cross one-copy and two-copy frames.
  { name: 'asyncify+reductions+single-copy/suspend', options: { singleCopyAbove: 40 }, mode: 'suspend' },
  // Functions of 40 expressions or more hand resumed frames back to their re-entry copies at loop tops (by default only past 10,000).
  { name: 'asyncify+reductions+hand-back/suspend', options: { handBackAbove: 40 }, mode: 'suspend' },
  { name: 'reductions/refill', options: { asyncify: false }, mode: 'refill' },
];

/** Turns a module into the one under test; `instrument` unless a test swaps it. */
export type Transform = (bytes: Uint8Array, options: InstrumentOptions) => Promise<Uint8Array>;

export const instrumentTransform: Transform = async (bytes, options) =>
  (await instrument(bytes, { ...options, fileName: 'fuzz module' })).binary;

export interface Finding {
  seed: number;
  profile: string;
  variant: string;
  /** A difference in behaviour, or the instrumenter failing with an internal error. */
  difference: Difference | { what: 'instrumenter error'; detail: string };
}

export interface Summary {
  modules: number;
  profiles: Record<string, number>;
  runs: number;
  exportsCalled: number;
  yields: number;
  suspensions: number;
  /** Modules the instrumenter refused with an InputError, by message. */
  refused: Record<string, number[]>;
  /** Modules the engine itself cannot compile (not the instrumenter's business). */
  skipped: Record<string, number[]>;
  /** Runs that overflowed the engine's stack at another depth than the original: inconclusive. */
  stackLimited: Record<string, number[]>;
  findings: Finding[];
  milliseconds: number;
}

export interface CampaignOptions {
  seeds: number[];
  generator: string[];
  /** Every module of this profile (generate.ts PROFILES), rather than the seed's. */
  profile?: string;
  /** Generator processes running ahead of the comparisons. */
  jobs?: number;
  transform?: Transform;
  variants?: readonly Variant[];
  onModule?: (seed: number, findings: Finding[]) => void;
}

/** The reduction slice of a seed: from a yield at almost every check to rare yields. */
export function sliceFor(seed: number): number {
  return new Random(seed, 3).pick([1, 2, 5, 17, 100, 1000]);
}

function note(map: Record<string, number[]>, key: string, seed: number): void {
  (map[key] ??= []).push(seed);
}

/** First line of an error; binaryen's C++ exceptions are not Errors but carry a message. */
function firstLine(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return String(message ?? error).split('\n')[0]!;
}

export function emptySummary(): Summary {
  return {
    modules: 0,
    profiles: {},
    runs: 0,
    exportsCalled: 0,
    yields: 0,
    suspensions: 0,
    refused: {},
    skipped: {},
    stackLimited: {},
    findings: [],
    milliseconds: 0,
  };
}

/** Compares one module with its transformed versions; adds to `summary`, returns what differs. */
export async function checkModule(
  generated: GeneratedModule,
  options: Pick<CampaignOptions, 'transform' | 'variants'>,
  summary: Summary,
): Promise<Finding[]> {
  const { seed, profile, bytes } = generated;
  const runOptions = { seed, slice: sliceFor(seed) };
  let list: ModuleExports;
  let expected: Observation;
  try {
    list = await readExports(bytes);
    expected = await observe(bytes, list, { ...runOptions, mode: 'plain' });
  } catch (error) {
    note(summary.skipped, `invalid module: ${firstLine(error)}`, seed);
    return [];
  }
  summary.modules++;
  summary.profiles[profile] = (summary.profiles[profile] ?? 0) + 1;
  const transform = options.transform ?? instrumentTransform;
  const transformed = new Map<string, Promise<Uint8Array>>();
  const findings: Finding[] = [];
  for (const variant of options.variants ?? VARIANTS) {
    // Variants with the same options share one instrumented binary (and one failure report).
    const key = JSON.stringify(variant.options);
    const known = transformed.has(key);
    if (!known) transformed.set(key, transform(bytes, variant.options));
    let binary: Uint8Array;
    try {
      binary = await transformed.get(key)!;
    } catch (error) {
      if (known) continue;
      if (error instanceof InputError) note(summary.refused, `${variant.name}: ${error.message}`, seed);
      else findings.push({ seed, profile, variant: variant.name, difference: { what: 'instrumenter error', detail: firstLine(error) } });
      continue;
    }
    const actual = await observe(binary, list, { ...runOptions, mode: variant.mode });
    summary.runs++;
    summary.exportsCalled += list.functions.length;
    summary.yields += actual.yields;
    summary.suspensions += actual.suspensions;
    const difference = compare(expected, actual);
    if (difference?.what === 'stack limit') note(summary.stackLimited, variant.name, seed);
    else if (difference) findings.push({ seed, profile, variant: variant.name, difference });
  }
  return findings;
}

export async function runCampaign(options: CampaignOptions): Promise<Summary> {
  const started = performance.now();
  const summary = emptySummary();
  const jobs = Math.max(1, options.jobs ?? 2);
  const pending: Array<Promise<GeneratedModule | { seed: number; error: unknown }>> = [];
  let next = 0;
  const refill = () => {
    while (pending.length < jobs && next < options.seeds.length) {
      const seed = options.seeds[next++]!;
      pending.push(generateModule(seed, options.generator, options.profile).catch((error: unknown) => ({ seed, error })));
    }
  };
  refill();
  while (pending.length > 0) {
    const generated = await pending.shift()!;
    refill();
    if ('error' in generated) {
      note(summary.skipped, `generator failed: ${firstLine(generated.error)}`, generated.seed);
      continue;
    }
    const findings = await checkModule(generated, options, summary);
    summary.findings.push(...findings);
    options.onModule?.(generated.seed, findings);
  }
  summary.milliseconds = Math.round(performance.now() - started);
  return summary;
}
