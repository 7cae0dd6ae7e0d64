// The benchmark harness's arithmetic and rendering, on synthetic numbers: statistics, ratios
// against the right baseline, target verdicts, RESULTS.md tables and the SVG chart. No timing.
import { describe, expect, it } from 'vitest';
import { axisMax, escapeXml, renderChart, runTimeChart } from '../bench/chart.js';
import { extractCommentary, flatten, formatBytes, formatMs, formatRatio, renderMarkdown } from '../bench/markdown.js';
import { type BenchResults, type ProgramResult, type RunMeasurement, TARGETS } from '../bench/results.js';
import { defined, geomean, median, ratio, summarize } from '../bench/stats.js';
import { baselineOf, codeSizeRatio, runRatio, sizeRatio, summarizeResults, toolTimeRatio, verdicts } from '../bench/summary.js';

/** A run whose CPU time is 10 ms below its wall time, so the two tables differ. */
const run = (ms: number, checksumOk = true): RunMeasurement => ({ ms, samples: [ms], cpuMs: ms - 10, compileMs: 1, yields: 0, checksumOk });
/** A tool whose output's code section is half the file. */
const tool = (ms: number, outputBytes: number) => ({ ms, samples: [ms], outputBytes, codeBytes: outputBytes / 2, maxRssKiB: 2048 });

/** Two programs: "alpha" with every figure, "beta" whose JSPI run printed the wrong output. */
function synthetic(): BenchResults {
  const alpha: ProgramResult = {
    name: 'alpha',
    description: 'synthetic',
    inputBytes: 1000,
    inputCodeBytes: 400,
    tools: {
      instrument: { ...tool(3000, 1200), cpuMs: 2500 },
      wasmOpt: tool(6000, 1500),
      instrumentSingleCopy: tool(2500, 1150),
      instrumentSingleAbove: tool(2800, 1180),
      instrumentCounters: tool(2000, 1100),
    },
    runs: {
      baseline: run(100),
      asyncify: run(120),
      singleCopy: run(130),
      singleAbove: run(125),
      asyncifyOnly: run(105),
      wasmOpt: run(150),
      baseline24: run(200),
      jspi: run(210),
    },
    notes: [],
  };
  const beta: ProgramResult = {
    name: 'beta<&>',
    description: 'synthetic',
    inputBytes: 2000,
    inputCodeBytes: 1000,
    tools: { instrument: tool(4000, 3000), wasmOpt: tool(2000, 2500) },
    runs: { baseline: run(50), asyncify: run(100), baseline24: run(40), jspi: run(44, false) },
    notes: ['jspi: output differs from the uninstrumented run'],
  };
  return {
    date: '2026-01-01T00:00:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 4, os: 'Linux', node: 'v20.0.0', node24: 'v24.0.0', binaryen: '132.0.0' },
    config: { runs: 3, reductions: 100000, quick: false },
    targets: TARGETS,
    programs: [alpha, beta],
    skipped: ['could not fetch gamma'],
  };
}

describe('statistics', () => {
  it('takes the median of odd and even counts without reordering the input', () => {
    const samples = [5, 1, 3];
    expect(median(samples)).toBe(3);
    expect(samples).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
  });

  it('averages ratios geometrically', () => {
    expect(geomean([2, 0.5])).toBeCloseTo(1, 12);
    expect(geomean([1, 4, 16])).toBeCloseTo(4, 12);
    expect(() => geomean([1, 0])).toThrow();
  });

  it('gives no ratio when a side is missing', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(undefined, 2)).toBeUndefined();
    expect(ratio(3, undefined)).toBeUndefined();
    expect(ratio(3, 0)).toBeUndefined();
    expect(defined([1, undefined, 2])).toEqual([1, 2]);
    expect(summarize([undefined, 1.21, 1])).toEqual({ geomean: expect.closeTo(1.1, 12), worst: 1.21 });
    expect(summarize([undefined])).toBeUndefined();
  });
});

describe('ratios against the baseline of the same run', () => {
  const [alpha, beta] = synthetic().programs as [ProgramResult, ProgramResult];

  it('compares JSPI with Node 24 and the rest with Node 20', () => {
    expect(baselineOf('jspi')).toBe('baseline24');
    expect(baselineOf('asyncify')).toBe('baseline');
    expect(runRatio(alpha, 'asyncify')).toBeCloseTo(1.2, 12);
    expect(runRatio(alpha, 'jspi')).toBeCloseTo(1.05, 12);
    expect(runRatio(beta, 'asyncify')).toBe(2);
  });

  it('drops runs whose output differed, and missing ones', () => {
    expect(runRatio(beta, 'jspi')).toBeUndefined();
    expect(runRatio(beta, 'wasmOpt')).toBeUndefined();
  });

  it('computes size and tool-time ratios', () => {
    expect(sizeRatio(alpha, 'instrument')).toBe(1.2);
    expect(sizeRatio(beta, 'instrumentCounters')).toBeUndefined();
    expect(codeSizeRatio(alpha, 'instrument')).toBe(1.5);
    expect(codeSizeRatio(beta, 'instrument')).toBe(1.5);
    expect(codeSizeRatio(beta, 'instrumentCounters')).toBeUndefined();
    expect(toolTimeRatio(alpha)).toBe(0.5);
    expect(toolTimeRatio(beta)).toBe(2);
  });

  it('summarizes over the programs and judges each target', () => {
    const summary = summarizeResults(synthetic());
    expect(summary.asyncify!.geomean).toBeCloseTo(Math.sqrt(1.2 * 2), 12);
    expect(summary.asyncify!.worst).toBe(2);
    expect(summary.jspi).toEqual({ geomean: expect.closeTo(1.05, 12), worst: expect.closeTo(1.05, 12) });
    const byName = Object.fromEntries(verdicts(summary, TARGETS).map((v) => [v.what, v]));
    expect(byName['Asyncify run time, geomean']!.pass).toBe(false);
    expect(byName['JSPI (counters only) run time, geomean']!.pass).toBe(true);
    expect(byName['Size, worst']!.value).toBe(1.5);
    expect(byName['Size, worst']!.pass).toBe(false);
    expect(byName['Code section size, geomean']!.value).toBeCloseTo(1.5, 12);
    expect(byName['Instrumentation time vs wasm-opt -O2 --asyncify, geomean']!.value).toBeCloseTo(1, 12);
  });

  it('reports nothing measured as undecided, not as passed', () => {
    const empty = { ...synthetic(), programs: [] };
    for (const v of verdicts(summarizeResults(empty), TARGETS)) {
      expect(v.value).toBeUndefined();
      expect(v.pass).toBeUndefined();
    }
  });
});

describe('RESULTS.md', () => {
  const markdown = renderMarkdown(synthetic(), 'Hand-written analysis.');
  const row = (first: string): string[] => {
    const line = markdown.split('\n').find((l) => l.startsWith(`| ${first} |`));
    if (!line) throw new Error(`no row starting with ${first}`);
    return line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
  };

  it('formats figures', () => {
    expect(formatRatio(1.234)).toBe('1.23x');
    expect(formatRatio(undefined)).toBe('–');
    expect(formatMs(1234.4)).toBe('1234 ms');
    expect(formatMs(12_345)).toBe('12.3 s');
    expect(formatBytes(2048)).toBe('2.0 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
  });

  it('puts each target beside its figure and verdict', () => {
    expect(row('Asyncify run time, worst')).toEqual(['Asyncify run time, worst', '2.00x', '<= 1.50x', 'NOT met']);
    expect(row('JSPI (counters only) run time, geomean')).toEqual(['JSPI (counters only) run time, geomean', '1.05x', '<= 1.05x', 'met']);
  });

  it('has one run-time row per program, marks wrong output, and summarizes', () => {
    expect(row('alpha')).toEqual(['alpha', '100 ms', '1.20x', '1.30x', '1.25x', '1.05x', '1.50x', '200 ms', '1.05x']);
    expect(row('beta<&>')).toEqual(['beta<&>', '50 ms', '2.00x', '–', '–', '–', '–', '40 ms', 'WRONG OUTPUT']);
    expect(row('**geomean**')[2]).toBe(formatRatio(Math.sqrt(2.4)));
    expect(row('**worst**')[2]).toBe('2.00x');
  });

  it('repeats the run-time table by CPU time', () => {
    const alphaRows = markdown.split('\n').filter((line) => line.startsWith('| alpha |') && line.includes('ms |'));
    expect(alphaRows).toHaveLength(2);
    expect(alphaRows[1]).toBe(
      `| alpha | 90 ms | ${formatRatio(110 / 90)} | ${formatRatio(120 / 90)} | ${formatRatio(115 / 90)} | ${formatRatio(95 / 90)} | ${formatRatio(140 / 90)} | 190 ms | ${formatRatio(200 / 190)} |`,
    );
    expect(runRatio(synthetic().programs[0]!, 'asyncify', 'cpuMs')).toBeCloseTo(110 / 90, 12);
  });

  it('lists sizes, tool times with memory, machine and notes', () => {
    expect(markdown).toContain(`| alpha | ${formatBytes(1000)} |`);
    expect(markdown).toContain(`${formatBytes(1200)} (1.20x) | ${formatBytes(1150)} (1.15x) |`);
    expect(markdown).toContain(`| alpha | ${formatBytes(400)} | ${formatBytes(600)} (1.50x) |`);
    expect(markdown).toContain('3000 ms (CPU 2500 ms), 2 MiB');
    expect(markdown).toContain('6000 ms, 2 MiB');
    expect(markdown).toContain('Test CPU, 2 cores, 4 GiB RAM');
    expect(markdown).toContain('- skipped: could not fetch gamma');
    expect(markdown).toContain('- beta<&>: jspi: output differs');
  });

  it('flattens the runtime figures into a table', () => {
    expect(flatten({ node: 'v20', jspi: { 'yield(10)': { us: 0.12345, n: 3 } }, list: [1, 2] })).toEqual([
      ['node', 'v20'],
      ['jspi.yield(10).us', '0.123'],
      ['jspi.yield(10).n', '3'],
      ['list', '[1,2]'],
    ]);
    expect(markdown).not.toContain('## Runtime');
    const withRuntime = renderMarkdown({ ...synthetic(), runtime: { spawnsPerSecond: 1234.5 } });
    expect(withRuntime).toContain('| `spawnsPerSecond` | 1235 |');
  });

  it('keeps the hand-written commentary when regenerated', () => {
    expect(extractCommentary(markdown)).toBe('Hand-written analysis.');
    expect(extractCommentary(renderMarkdown(synthetic(), extractCommentary(markdown)))).toBe('Hand-written analysis.');
    expect(extractCommentary('# no markers here')).toBe('');
  });
});

describe('chart.svg', () => {
  const input = runTimeChart(synthetic());
  const svg = renderChart(input);

  it('draws one bar per measured ratio, with the ratio in its tooltip', () => {
    expect(input.groups).toEqual(['alpha', 'beta<&>']);
    const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="[^"]+"><title>([^<]*)<\/title>/g)];
    // alpha: asyncify, singleCopy, singleAbove, asyncifyOnly, jspi; beta: asyncify only (no other run, JSPI output wrong)
    expect(bars.map((b) => b[3])).toEqual([
      'alpha, asyncify (default), Node 20: 1.20x',
      'alpha, single-copy Asyncify, Node 20: 1.30x',
      'alpha, one copy past 500 expressions, Node 20: 1.25x',
      'alpha, asyncify-only reference, Node 20: 1.05x',
      'alpha, JSPI counters-only, Node 24: 1.05x',
      'beta&lt;&amp;&gt;, asyncify (default), Node 20: 2.00x',
    ]);
    const heights = bars.map((b) => Number(b[2]));
    expect(heights[5]! / heights[0]!).toBeCloseTo(2 / 1.2, 2);
    // every bar stands on the 0.0x grid line (the first one drawn)
    const zeroLine = Number(/<line [^>]*y1="([\d.]+)"/.exec(svg)![1]);
    for (const bar of bars) expect(Number(bar[1]) + Number(bar[2])).toBeCloseTo(zeroLine, 0);
  });

  it('scales the axis above the largest value and escapes text', () => {
    expect(axisMax(input)).toBe(2.25); // 2.0 plus 5% headroom, on the 0.25 grid
    expect(escapeXml('a<b & "c">')).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).not.toMatch(/beta<&>/);
    expect(svg).toContain('Asyncify target (geomean) 1.15x');
  });
});

describe('the third-party section of RESULTS.md (bench/third-party-report.ts)', () => {
  const results = synthetic();
  const alpha = results.programs[0]!;
  results.thirdParty = {
    date: '2026-01-02T00:00:00.000Z',
    commit: 'abc1234',
    runs: 3,
    programs: [
      {
        ...alpha,
        tools: { ...alpha.tools, wasmOptNative: { ...tool(1000, 1400), maxRssKiB: 1024 } },
        // Second runs in the same process: the baselines 40 and 80 ms, the instrumented 46 and 96.
        runs: {
          ...alpha.runs,
          baseline: { ...run(100), warmMs: 40 },
          asyncify: { ...run(120), warmMs: 46 },
          baseline24: { ...run(200), warmMs: 80 },
          jspi: { ...run(210), warmMs: 96 },
          countersRefill: run(118),
        },
      },
    ],
    refusals: [
      {
        name: 'ruby',
        origin: 'npm x',
        inputBytes: 30e6,
        ms: 420,
        exitCode: 1,
        message: 'lunatic-instrument: x already went through Asyncify',
      },
    ],
    skipped: ['sqlite: clang failed'],
  };
  const markdown = renderMarkdown(results);
  const row = (first: string) =>
    markdown
      .split('\n')
      .find((line) => line.startsWith(`| ${first} |`))
      ?.split('|')
      .slice(2, -1)
      .map((cell) => cell.trim());

  it('judges each target of the issue on those programs alone', () => {
    // alpha: asyncify 120/100, jspi 210/200, default code 600 vs single-copy 575, counters 550/400.
    expect(row('Default Asyncify build (Node 20): run time')).toEqual(['1.20x', '<= 1.15x: NOT met', '1.20x', '<= 1.50x: met']);
    expect(row('Counters only (--no-asyncify, JSPI, Node 24): run time')).toEqual(['1.05x', '<= 1.05x: met', '1.05x', '<= 1.15x: met']);
    // The same figure on Node 20 (against the Node 20 baseline: 118/100), with no Node 24 needed.
    expect(row('Counters only (--no-asyncify), Node 20, yield refilling without suspending: run time')).toEqual([
      '1.18x',
      '<= 1.05x: NOT met',
      '1.18x',
      '<= 1.15x: NOT met',
    ]);
    expect(row('Default Asyncify build (Node 20): second run in the process, code compiled')).toEqual([
      '1.15x',
      '<= 1.15x: met',
      '1.15x',
      '<= 1.50x: met',
    ]);
    expect(row('Counters only (JSPI, Node 24): second run in the process, code compiled')?.slice(0, 2)).toEqual([
      '1.20x',
      '<= 1.05x: NOT met',
    ]);
    const section = markdown.slice(markdown.indexOf('## Third-party programs'));
    const alphaRow = section.split('\n').find((line) => line.startsWith('| alpha |'));
    expect(
      alphaRow
        ?.split('|')
        .slice(2, -1)
        .map((cell) => cell.trim())
        .slice(5, 8),
    ).toEqual(['40 ms', '1.15x', '1.20x']);
    expect(row('Default code size / --no-rewind-copies code size')?.[2]).toBe('1.04x');
    expect(row('Counters-only code size')?.slice(2)).toEqual(['1.38x', '<= 1.25x: NOT met']);
    expect(row('Instrumentation time / npm wasm-opt -O2 --asyncify')?.slice(2)).toEqual(['0.50x', '<= 1.00x: met']);
    expect(row('Instrumentation time / Debian wasm-opt -O2 --asyncify')?.slice(2)).toEqual(['3.00x', '<= 2.00x: NOT met']);
    expect(row('Peak memory / Debian wasm-opt')?.slice(2)).toEqual(['2.00x', '<= 2.00x: met']);
    expect(row("Refusal of a large Asyncify'd or oversized input (s)")?.slice(2)).toEqual(['0.42', '< 5 s: met']);
  });

  it('lists the programs, the refusals with their message, and what was skipped', () => {
    expect(markdown).toContain('## Third-party programs (issue 26)');
    expect(markdown).toContain('at commit abc1234');
    // alpha's row of the programs table (the first "| alpha |" line is the small programs' table).
    const section = markdown.slice(markdown.indexOf('## Third-party programs (issue 26)'));
    const programRow = section
      .split('\n')
      .find((line) => line.startsWith('| alpha |'))
      ?.split('|')
      .map((cell) => cell.trim());
    expect(programRow?.slice(4, 7)).toEqual(['1.20x', '1.05x', '1.18x']);
    expect(row('ruby')).toEqual(['npm x', '28.6 MiB', '0.42 s', '1', '`lunatic-instrument: x already went through Asyncify`']);
    expect(markdown).toContain('- sqlite: clang failed');
  });
});
