// The progress line (src/cli/progress-line.ts) and the out-of-memory errors (src/out-of-memory.ts):
// the line drawn in place on a terminal and nowhere else, through the CLI under script(1) for a
// real terminal; the heap guard with readings given; and binaryen's heap really filled up.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBinaryen } from '../src/binaryen.js';
import { ProgressLine, type ProgressStream } from '../src/cli/progress-line.js';
import { instrument } from '../src/index.js';
import { HEAP_FULL, heapGuard, OutOfMemoryError } from '../src/out-of-memory.js';
import { run } from './helpers/command.js';
import { projectRoot, requireTool } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const INPUT = join(projectRoot, 'bench/c/interp.wasm');
const CLEAR = '\r\x1b[K';

function fakeTerminal(isTTY = true): ProgressStream & { text: string } {
  const stream = { isTTY, columns: 200, text: '', write: (chunk: string) => (stream.text += chunk) };
  return stream;
}

describe('the progress line', () => {
  it('draws nothing in the first SHOW_AFTER ms, then the phase and the count, in place', () => {
    let time = 0;
    const terminal = fakeTerminal();
    const line = new ProgressLine('big.wasm', terminal, () => time);
    line.listener('reading', 0, 0);
    time = 1000;
    line.listener('placing checks', 0, 10);
    expect(terminal.text).toBe('');
    time = 2500;
    line.listener('placing checks', 4, 10);
    expect(terminal.text).toBe(`${CLEAR}lunatic-instrument: big.wasm: placing checks 4/10 functions, 3 s`);
    time = 2550; // within the redraw interval: skipped, unless a new phase begins
    line.listener('placing checks', 5, 10);
    line.listener('writing', 0, 0);
    expect(terminal.text.split(CLEAR).slice(1)).toEqual([
      'lunatic-instrument: big.wasm: placing checks 4/10 functions, 3 s',
      'lunatic-instrument: big.wasm: writing, 3 s',
    ]);
    line.clear();
    expect(terminal.text.endsWith(`writing, 3 s${CLEAR}`)).toBe(true);
  });

  it('draws from the start a job expected to be long (binaryen reading a large module)', () => {
    const terminal = fakeTerminal();
    const line = new ProgressLine('huge.wasm', terminal, () => 0, true);
    line.listener('reading', 0, 0);
    expect(terminal.text).toBe(`${CLEAR}lunatic-instrument: huge.wasm: reading, 0 s`);
  });

  it('draws nothing when stderr is not a terminal', () => {
    let time = 0;
    const pipe = fakeTerminal(false);
    const line = new ProgressLine('big.wasm', pipe, () => time);
    time = 60_000;
    line.listener('adding checks', 1, 2);
    line.clear();
    expect(line.enabled).toBe(false);
    expect(pipe.text).toBe('');
  });

  describe.concurrent('through the CLI (LUNATIC_PROGRESS_AFTER_MS=0: drawn at once)', () => {
    let work: string;
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'lunatic-progress-'));
    });
    afterAll(() => rm(work, { recursive: true, force: true }));
    const env = { ...process.env, LUNATIC_PROGRESS_AFTER_MS: '0' };
    const command = (output: string, ...flags: string[]) => [process.execPath, BIN, INPUT, '-o', output, ...flags].join(' ');

    it('on a terminal (script -qc): every phase, counts up to the total, cleared at the end', async () => {
      if (!requireTool('script', existsSync('/usr/bin/script') ? '/usr/bin/script' : undefined, 'apt-get install bsdutils')) return;
      const output = join(work, 'tty.wasm');
      const result = await run('script', ['-qec', command(output), '/dev/null'], { cwd: projectRoot, env });
      expect(result.code, result.stdout).toBe(0);
      const lines = result.stdout.split(CLEAR).map((line) => line.trim());
      for (const phase of ['reading', 'placing checks', 'adding checks', 'Asyncify: copying', 'validating', 'writing'])
        expect(
          lines.some((line) => line.startsWith(`lunatic-instrument: ${INPUT}: ${phase}`)),
          phase,
        ).toBe(true);
      const counts = lines.map((line) => /adding checks (\d+)\/(\d+) functions/.exec(line)).filter((m) => m !== null);
      expect(Number(counts.at(-1)![1])).toBeLessThanOrEqual(Number(counts.at(-1)![2]));
      expect(Number(counts.at(-1)![2])).toBeGreaterThan(10);
      expect(result.stdout.endsWith(CLEAR)).toBe(true); // the last thing written clears the line
      expect((await readFile(output)).length).toBeGreaterThan(0);
    });

    it('not with --quiet, even on a terminal', async () => {
      if (!requireTool('script', existsSync('/usr/bin/script') ? '/usr/bin/script' : undefined, 'apt-get install bsdutils')) return;
      const result = await run('script', ['-qec', command(join(work, 'quiet.wasm'), '--quiet'), '/dev/null'], { cwd: projectRoot, env });
      expect(result.code).toBe(0);
      expect(result.stdout).not.toContain('lunatic-instrument:');
    });

    it('not when stderr is a pipe', async () => {
      const result = await run(process.execPath, [BIN, INPUT, '-o', join(work, 'pipe.wasm')], { cwd: projectRoot, env });
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
    });
  });
});

describe('running out of memory', () => {
  it("the heap guard stops the work when V8's old generation stays full after a collection", () => {
    const limit = 100 * 1024 * 1024;
    let afterCollection = 0.95;
    const read = (collect: boolean) => ({ used: (collect ? afterCollection : 0.99) * limit, limit });
    let time = 0;
    const guard = heapGuard(read, () => time);
    expect(() => guard('placing checks', 3, 9)).toThrow(OutOfMemoryError);
    expect(() => guard('placing checks', 4, 9)).not.toThrow(); // read again only after the interval
    time = 1000;
    afterCollection = HEAP_FULL - 0.01; // it was garbage
    expect(() => guard('placing checks', 5, 9)).not.toThrow();
    time = 2000;
    afterCollection = 0.95;
    expect(() => guard('adding checks', 6, 9)).toThrow(
      /ran out of memory while adding checks: .*95 MB of its 100 MB.*--max-old-space-size=200/,
    );
  });

  it("binaryen's heap really full (4 GB of address space taken first): one clear error, not an abort", async () => {
    const binaryen = (await loadBinaryen()) as unknown as { _malloc(size: number): number; _free(pointer: number): void };
    const taken: number[] = [];
    // Untouched pages cost no memory: this takes binaryen's address space, not the machine's.
    for (let size = 1 << 30; size >= 4096; ) {
      const pointer = binaryen._malloc(size);
      if (pointer) taken.push(pointer);
      else size /= 2;
    }
    try {
      const error = await instrument(new Uint8Array(await readFile(INPUT)), { fileName: 'interp.wasm' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OutOfMemoryError);
      expect((error as Error).message).toMatch(/^interp\.wasm ran out of memory while \w[\w :]*: binaryen's heap is full .*smaller module/);
    } finally {
      for (const pointer of taken) binaryen._free(pointer);
    }
  });
});
