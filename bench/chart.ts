// bench/chart.svg: a grouped bar chart of run-time ratios (one group per program, one bar per
// instrumented variant), with the 1.0x baseline and the issue's 1.15x target drawn across.
// Hand-written SVG: no dependency, readable in any browser or on GitHub.
import type { BenchResults, RunVariant } from './results.js';
import { runRatio } from './summary.js';

export interface ChartSeries {
  label: string;
  color: string;
  /** One value per group; undefined draws no bar. */
  values: (number | undefined)[];
}

export interface ChartInput {
  title: string;
  groups: string[];
  series: ChartSeries[];
  /** Dashed horizontal lines, e.g. a target, labelled at the right end. */
  lines: { value: number; label: string }[];
}

const PLOT = { left: 60, right: 20, top: 50, bottom: 90 };
const LEGEND_STEP = 230;
/** Wide enough for the four run variants' legend entries on one row. */
const WIDTH = PLOT.left + 4 * LEGEND_STEP;
const HEIGHT = 380;

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The grid step: 0.25, 0.5, 1, 2 or 5, whichever gives at most ten grid lines up to `top`. */
export function tickStep(top: number): number {
  return [0.25, 0.5, 1, 2, 5].find((step) => top / step <= 10) ?? 10;
}

/** A round axis maximum a little above every value and line, on the grid. */
export function axisMax(input: ChartInput): number {
  const values = input.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined);
  const top = Math.max(1, ...values, ...input.lines.map((l) => l.value)) * 1.05;
  const step = tickStep(top);
  return Math.ceil(top / step) * step;
}

export function renderChart(input: ChartInput): string {
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const max = axisMax(input);
  const y = (value: number): number => PLOT.top + plotHeight * (1 - value / max);
  const groupWidth = plotWidth / Math.max(1, input.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, input.series.length);
  const n = (value: number): string => value.toFixed(1);
  const parts: string[] = [];

  parts.push(`<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="16">${escapeXml(input.title)}</text>`);
  const step = tickStep(max);
  for (let tick = 0; tick <= max + 1e-9; tick += step) {
    const color = Math.abs(tick - 1) < 1e-9 ? '#888' : '#e4e4e4'; // 1.0x: as fast as the baseline
    parts.push(`<line x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${n(y(tick))}" y2="${n(y(tick))}" stroke="${color}"/>`);
    parts.push(`<text x="${PLOT.left - 6}" y="${n(y(tick) + 4)}" text-anchor="end" font-size="11">${tick}x</text>`);
  }
  input.groups.forEach((group, g) => {
    const groupX = PLOT.left + g * groupWidth + groupWidth * 0.1;
    input.series.forEach((series, s) => {
      const value = series.values[g];
      if (value === undefined) return;
      const x = groupX + s * barWidth;
      parts.push(
        `<rect x="${n(x)}" y="${n(y(value))}" width="${n(barWidth - 2)}" height="${n(y(0) - y(value))}" fill="${series.color}">` +
          `<title>${escapeXml(`${group}, ${series.label}: ${value.toFixed(2)}x`)}</title></rect>`,
        `<text x="${n(x + barWidth / 2 - 1)}" y="${n(y(value) - 3)}" text-anchor="middle" font-size="9">${value.toFixed(2)}</text>`,
      );
    });
    const labelX = PLOT.left + (g + 0.5) * groupWidth;
    parts.push(`<text x="${n(labelX)}" y="${n(y(0) + 16)}" text-anchor="middle" font-size="12">${escapeXml(group)}</text>`);
  });
  for (const line of input.lines) {
    parts.push(
      `<line x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${n(y(line.value))}" y2="${n(y(line.value))}" stroke="#333" stroke-dasharray="5,4"/>`,
    );
  }
  // Legend: the series on one row, the dashed lines on the row below.
  input.series.forEach((series, s) => {
    const x = PLOT.left + s * LEGEND_STEP;
    parts.push(`<rect x="${x}" y="${HEIGHT - 50}" width="12" height="12" fill="${series.color}"/>`);
    parts.push(`<text x="${x + 18}" y="${HEIGHT - 40}" font-size="12">${escapeXml(series.label)}</text>`);
  });
  input.lines.forEach((line, l) => {
    const x = PLOT.left + l * LEGEND_STEP;
    parts.push(`<line x1="${x}" x2="${x + 12}" y1="${HEIGHT - 20}" y2="${HEIGHT - 20}" stroke="#333" stroke-dasharray="3,2"/>`);
    parts.push(`<text x="${x + 18}" y="${HEIGHT - 16}" font-size="12">${escapeXml(line.label)}</text>`);
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** The chart of bench/chart.svg: each program's run-time ratios, per instrumented variant. */
export function runTimeChart(results: BenchResults): ChartInput {
  const series = (variant: RunVariant, label: string, color: string): ChartSeries => ({
    label,
    color,
    values: results.programs.map((program) => runRatio(program, variant)),
  });
  return {
    title: 'Wall time relative to the uninstrumented program (lower is better)',
    groups: results.programs.map((program) => program.name),
    series: [
      series('asyncify', 'asyncify (default), Node 20', '#d9534f'),
      series('singleCopy', 'single-copy Asyncify, Node 20', '#9b59b6'),
      series('singleAbove', 'one copy past 500 expressions, Node 20', '#5cb85c'),
      series('asyncifyOnly', 'asyncify-only reference, Node 20', '#f0ad4e'),
      series('jspi', 'JSPI counters-only, Node 24', '#5b9bd5'),
    ],
    lines: [{ value: results.targets.asyncifyGeomean, label: `Asyncify target (geomean) ${results.targets.asyncifyGeomean}x` }],
  };
}
