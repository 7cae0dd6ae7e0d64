// Small statistics for the benchmark: medians of repeated runs, ratios against a baseline
// measured in the same run, geometric means of ratios. Pure functions, tested on synthetic data.

/** The median of the samples (the mean of the two middle ones for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new Error('median of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The geometric mean: the right average for ratios (2x and 0.5x average to 1x). */
export function geomean(values: readonly number[]): number {
  if (values.length === 0) throw new Error('geometric mean of no values');
  if (values.some((value) => !(value > 0))) throw new Error('geometric mean needs positive values');
  return Math.exp(values.reduce((sum, value) => sum + Math.log(value), 0) / values.length);
}

/** `value / baseline`, or undefined when either side is missing (a failed or skipped measurement). */
export function ratio(value: number | undefined, baseline: number | undefined): number | undefined {
  if (value === undefined || baseline === undefined || !(baseline > 0)) return undefined;
  return value / baseline;
}

/** The defined values of a list, for summaries over the programs that were measured. */
export function defined<T>(values: readonly (T | undefined)[]): T[] {
  return values.filter((value): value is T => value !== undefined);
}

/** Geometric mean and worst (largest) ratio of the defined values, or undefined when none are. */
export function summarize(ratios: readonly (number | undefined)[]): { geomean: number; worst: number } | undefined {
  const present = defined(ratios);
  if (present.length === 0) return undefined;
  return { geomean: geomean(present), worst: Math.max(...present) };
}
