// How the benchmark's markdown writes its figures: ratios, durations, sizes, tables. Pure.

export const DASH = '–';

export function formatRatio(value: number | undefined): string {
  return value === undefined ? DASH : `${value.toFixed(2)}x`;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return DASH;
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return DASH;
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** A markdown table. */
export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
