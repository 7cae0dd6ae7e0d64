// The runtime in real headless Chromium (Debian's /usr/bin/chromium, never a downloaded one):
// the bundle has no Node globals; the demo page runs its instrumented C programs on both
// suspension backends (JSPI, and Asyncify forced by ?backend=asyncify): their output shows, the
// clock keeps ticking while the spinner spins (preemption), a typed line reaches a blocking
// fgets and comes back; a program works on an in-memory preopened directory exactly as under
// node:wasi on a real one; and programs that throw and catch run on JSPI, an exit inside a
// catch_all ending them.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../examples/browser/server.js';
import { bundleBrowserRuntime } from '../scripts/bundle-browser.js';
import { pulledInput, textOutput } from '../src/browser/stdio.js';
import { instrument } from '../src/index.js';
import { EXIT_IN_CATCH, loopThrows } from './helpers/exception-programs.js';
import { findChromium, projectRoot, requireTool } from './helpers/tools.js';
import { fixturesDir, runWasi } from './helpers/wasi-run.js';
import { wat } from './helpers/wat.js';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = join(projectRoot, 'test-artifacts');
/** The README's screenshot: written when missing, or refreshed with LUNATIC_UPDATE_DOCS=1. */
const DOCS_SCREENSHOT = join(projectRoot, 'docs', 'browser.png');
const WINDOW_MS = 2000;

describe('browser stdio adapters', () => {
  it('pulls stdin from the callback only when dry, in reads of at most `max` bytes, until null', async () => {
    const chunks: Array<string | null> = ['hello ', 'wörld\n', null];
    let calls = 0;
    const input = pulledInput(async () => {
      calls++;
      return chunks.shift() ?? null;
    });
    expect(input.buffered).toBe(0);
    expect(new TextDecoder().decode((await input.read(4))!)).toBe('hell');
    expect([calls, input.buffered]).toEqual([1, 2]);
    expect(new TextDecoder().decode((await input.read(100))!)).toBe('o ');
    expect(calls).toBe(1);
    await input.readable();
    expect([calls, input.buffered]).toEqual([2, 7]); // "wörld\n" is 7 bytes
    expect(new TextDecoder().decode((await input.read(100))!)).toBe('wörld\n');
    expect(await input.read(100)).toBeNull();
    expect(await input.read(100)).toBeNull();
    expect(calls).toBe(3);
  });

  it('hands output to the callback as text, a UTF-8 sequence split across writes whole', () => {
    const texts: string[] = [];
    const output = textOutput((text) => texts.push(text));
    const bytes = new TextEncoder().encode('né\n');
    void output.write(bytes.subarray(0, 2)); // "n" and half of "é"
    void output.write(bytes.subarray(2));
    expect(texts).toEqual(['n', 'é\n']);
  });
});

const chromiumPath = requireTool('Chromium', findChromium(), 'apt-get install chromium, or set CHROMIUM_PATH');

describe.skipIf(!chromiumPath)('the runtime in headless Chromium', () => {
  let workDir: string;
  let bundle: string;
  let server: DemoServer;
  let browser: Browser;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'lunatic-browser-'));
    bundle = join(workDir, 'lunatic-runtime.js');
    await bundleBrowserRuntime(bundle); // from the current sources, not a stale dist/
    server = await startDemoServer({ bundle });
    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('bundles the runtime without Node globals or imports', async () => {
    const code = await readFile(bundle, 'utf8');
    // Minified: locals named `process` are renamed, so what is left would be the global.
    expect(code).not.toMatch(/(?<![\w$.])process\./);
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).not.toMatch(/\bBuffer\b/);
    expect(code).not.toMatch(/["'`]node:/);
    expect(code).toMatch(/export\s*\{/); // an ES module with exports
  });

  it('serves the page, programs and bundle, and nothing outside them', async () => {
    const status = async (path: string) => (await fetch(`${server.url}${path}`)).status;
    const wasm = await fetch(`${server.url}wasm/echo.inst.wasm`);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(WebAssembly.Module.customSections(await WebAssembly.compile(await wasm.arrayBuffer()), 'lunatic.instrument')).toHaveLength(1);
    expect(await (await fetch(`${server.url}lunatic-runtime.js`)).text()).toBe(await readFile(bundle, 'utf8'));
    expect(await status('..%2f..%2fpackage.json')).toBe(404);
    expect(await status('%2e%2e/%2e%2e/package.json')).toBe(404);
    expect(await status('%E0%A4%A')).toBe(400);
  });

  /** Opens a page, failing the test on any uncaught page error. */
  async function openPage(query = ''): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 660 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}${query}`);
    return { page, errors };
  }

  const outputOf = (page: Page, id: string) => page.locator(`#${id} .output`).innerText();
  const slicesOf = async (page: Page) => Number(await page.locator('#spinner .slices').innerText());

  /** The clock's ticks as the C program printed them: its own wall-clock times in ms. */
  async function ticks(page: Page): Promise<number[]> {
    return [...(await outputOf(page, 'clock')).matchAll(/^tick \d+ at (\d+) ms$/gm)].map((match) => Number(match[1]));
  }

  describe.each([
    { backend: 'jspi', query: '' },
    { backend: 'asyncify', query: '?backend=asyncify' },
  ])('the demo page on $backend', ({ backend, query }) => {
    let page: Page;
    let errors: string[];

    beforeAll(async () => {
      ({ page, errors } = await openPage(query));
      await page.waitForFunction(() => document.body.dataset.backend !== undefined || document.body.dataset.error !== undefined);
    });

    afterAll(() => page?.close());

    /** The page shows the process state every 250 ms. */
    const echoWaiting = () => page.locator('#echo .status', { hasText: /^waiting$/ }).waitFor({ timeout: 5000 });

    it(`shows that it runs on ${backend}`, async () => {
      expect(await page.evaluate(() => document.body.dataset.error)).toBeUndefined();
      expect(await page.evaluate(() => document.body.dataset.backend)).toBe(backend);
      expect(await page.locator('#backend').innerText()).toBe(backend === 'jspi' ? 'JSPI' : 'Asyncify');
    });

    it('keeps the clock ticking every ~100 ms while the spinner spins', async () => {
      await page.waitForFunction(() => Number(document.querySelector('#spinner .slices')?.textContent) > 0);
      const slicesBefore = await slicesOf(page);
      const start = await page.evaluate(() => Date.now());
      await page.waitForTimeout(WINDOW_MS + 300);
      const inWindow = (await ticks(page)).filter((at) => at >= start && at <= start + WINDOW_MS);
      const gaps = inWindow.slice(1).map((at, i) => at - inWindow[i]!);
      expect(inWindow.length).toBeGreaterThanOrEqual(10);
      expect(Math.max(...gaps)).toBeLessThan(300);
      // The spinner really ran meanwhile: it used up many time slices (about 1 ms each).
      expect((await slicesOf(page)) - slicesBefore).toBeGreaterThan(100);
      expect(await page.locator('#spinner .status').innerText()).toMatch(/^(running|runnable)$/);
      // Its own output: the first line comes after 2^27 rounds (a second or two).
      await page.locator('#spinner .output', { hasText: /^spinner: 134217728 rounds$/m }).waitFor({ timeout: 30_000 });
    });

    it('echoes a line typed into the blocking fgets', async () => {
      await page.locator('#echo .output', { hasText: 'type a line and press Enter' }).waitFor();
      await echoWaiting(); // blocked in fgets, the page alive around it
      await page.locator('#echo-input').fill(`hello from ${backend}, ünïcode`);
      await page.locator('#echo-input').press('Enter');
      await page.locator('#echo .output', { hasText: `echo: hello from ${backend}, ünïcode` }).waitFor();
      await echoWaiting(); // in fgets again
    });

    it('saves a screenshot', async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      const png = await page.screenshot();
      await writeFile(join(ARTIFACTS, `browser-${backend}.png`), png);
      if (backend === 'jspi' && (!existsSync(DOCS_SCREENSHOT) || process.env.LUNATIC_UPDATE_DOCS === '1'))
        await writeFile(DOCS_SCREENSHOT, png);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    });

    it('ends the echo program on EOF, without a page error', async () => {
      await page.locator('#echo-eof').click();
      await page.locator('#echo .status', { hasText: 'exited (0)' }).waitFor();
      const lines = (await outputOf(page, 'echo')).split('\n');
      expect(lines.filter((line) => line.startsWith('echo: '))).toEqual([`echo: hello from ${backend}, ünïcode`, 'echo: end of input']);
      expect(errors).toEqual([]);
    });
  });

  // Counters only, as JSPI runs them; the runtime ends such a process without unwinding it through its catches.
  describe('programs that throw and catch (JSPI)', () => {
    const inPage = async (text: string): Promise<ProgramRun> => {
      const base64 = Buffer.from((await instrument(await wat(text), { asyncify: false })).binary).toString('base64');
      const { page, errors } = await openPage();
      try {
        const result = (await page.evaluate(`(${runProgramInPage})(${JSON.stringify({ base64 })})`)) as ProgramRun;
        expect(errors).toEqual([]);
        return result;
      } finally {
        await page.close();
      }
    };

    it('prints what node:wasi prints for the module itself', async () => {
      const reference = await runWasi(await wat(loopThrows(true)));
      expect(reference.exitCode).toBe(0);
      expect(await inPage(loopThrows(true))).toEqual({ stdout: reference.stdout.toString(), status: { code: 0 }, backend: 'jspi' });
    });

    it('ends with the code of an exit inside catch_all, which the catch does not take', async () => {
      expect(await inPage(EXIT_IN_CATCH)).toEqual({ stdout: '', status: { code: 3 }, backend: 'jspi' });
    });
  });

  describe('a program on an in-memory preopened directory', () => {
    let instrumented: string;
    let expected: string;

    beforeAll(async () => {
      const fixture = await readFile(join(fixturesDir, 'c', 'files.wasm'));
      const hostDir = join(workDir, 'preopen');
      await mkdir(hostDir, { recursive: true });
      await writeFile(join(hostDir, 'seed.txt'), 'seed\n');
      const reference = await runWasi(fixture, { args: ['/data'], preopens: { '/data': hostDir } });
      expect(reference.exitCode).toBe(0);
      expected = reference.stdout.toString();
      instrumented = Buffer.from((await instrument(fixture)).binary).toString('base64');
    });

    it.each(['jspi', 'asyncify'])('prints what node:wasi prints on a real directory (%s)', async (backend) => {
      const { page, errors } = await openPage();
      try {
        const result = (await page.evaluate(`(${runFilesInPage})(${JSON.stringify({ base64: instrumented, backend })})`)) as FilesRun;
        expect(result.backend).toBe(backend);
        expect(result.status).toEqual({ code: 0 });
        expect(result.stdout).toBe(expected);
        expect(result.left).toEqual(['seed.txt']);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    });
  });
});

interface ProgramRun {
  stdout: string;
  status: unknown;
  backend: string;
}

/** Runs a program (base64) in the page through the bundle's spawnProgram on JSPI: what it printed and how it ended. */
const runProgramInPage = `async ({ base64 }) => {
  const lunatic = await import('/lunatic-runtime.js');
  let stdout = '';
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const program = lunatic.spawnProgram(new lunatic.Runtime({ backend: 'jspi' }), bytes, { args: ['p.wasm'], stdout: (text) => (stdout += text) });
  const status = await program.exited;
  return { stdout, status, backend: program.backend };
}`;

interface FilesRun {
  stdout: string;
  status: unknown;
  backend: string;
  left: string[];
}

/**
 * Runs in the page (as source text: vitest would rewrite a dynamic import in a function):
 * files.wasm over a MemoryDirectory preopened as /data, through the bundle's spawnProgram.
 */
const runFilesInPage = `async ({ base64, backend }) => {
  const lunatic = await import('/lunatic-runtime.js');
  const data = new lunatic.MemoryDirectory({ 'seed.txt': 'seed\\n' });
  let stdout = '';
  const program = lunatic.spawnProgram(new lunatic.Runtime({ backend }), Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)), {
    args: ['files.wasm', '/data'],
    preopens: { '/data': data },
    stdout: (text) => (stdout += text),
  });
  const status = await program.exited;
  return { stdout, status, backend: program.backend, left: data.list().map((entry) => entry.name) };
}`;
