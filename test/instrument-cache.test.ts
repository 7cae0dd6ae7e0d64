// The cache of modules `run` instrumented in memory (src/instrument-cache.ts): what an entry is
// named by, the least recently used entries going past the size limit, a directory that cannot be
// written, and, through the CLI, that a second run reads the entry (an entry swapped for another
// program's runs that program), that a damaged entry is replaced, and that --no-cache and an empty
// LUNATIC_CACHE_DIR keep nothing.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { defaultCacheDir, InstrumentCache, instrumenterFingerprint } from '../src/instrument-cache.js';
import { readInstrumentSection } from '../src/section.js';
import { MAY_WAIT_IMPORTS } from '../src/runtime/wasi/index.js';
import { run } from './helpers/command.js';
import { projectRoot } from './helpers/tools.js';
import { fixturesDir } from './helpers/wasi-run.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lunatic-cache-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entries = (cacheDir: string) => (existsSync(cacheDir) ? readdirSync(cacheDir).filter((name) => name.endsWith('.wasm')) : []);

describe('InstrumentCache', () => {
  it('names an entry by the input, the options and the instrumenter', () => {
    const cache = new InstrumentCache({ dir: join(dir, 'keys') });
    const input = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    const key = cache.key(input, { asyncify: true });
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(cache.key(input.slice(), { asyncify: true })).toBe(key);
    expect(cache.key(input, { asyncify: false })).not.toBe(key);
    expect(cache.key(new Uint8Array([...input, 0]), { asyncify: true })).not.toBe(key);
    expect(instrumenterFingerprint()).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps entries and drops the least recently used past its size limit', async () => {
    const cacheDir = join(dir, 'lru');
    const cache = new InstrumentCache({ dir: cacheDir, maxBytes: 2500 });
    const bytes = (fill: number) => new Uint8Array(1000).fill(fill);
    expect(await cache.put('a', bytes(1))).toBe(true);
    expect(await cache.put('b', bytes(2))).toBe(true);
    // a was used last, b before it
    const past = (seconds: number) => new Date(Date.now() - seconds * 1000);
    utimesSync(join(cacheDir, 'b.wasm'), past(20), past(20));
    utimesSync(join(cacheDir, 'a.wasm'), past(30), past(30));
    expect((await cache.get('a'))?.[0]).toBe(1); // a hit: a is now the most recent
    expect(await cache.put('c', bytes(3))).toBe(true); // 3000 bytes: one must go
    expect(entries(cacheDir).sort()).toEqual(['a.wasm', 'c.wasm']);
    expect(await cache.get('b')).toBeUndefined();
    // a temporary file left by a run that died long ago goes too; a recent one stays
    const stale = join(cacheDir, 'd.0123.tmp');
    const fresh = join(cacheDir, 'e.0123.tmp');
    writeFileSync(stale, 'x');
    writeFileSync(fresh, 'x');
    utimesSync(stale, past(7200), past(7200));
    await cache.put('f', bytes(4));
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    // an entry bigger than the whole limit is still kept: the run that wrote it reads it next
    expect(await cache.put('g', new Uint8Array(4000))).toBe(true);
    expect(entries(cacheDir)).toEqual(['g.wasm']);
  });

  it('is a no-op where the directory cannot be written', async () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, 'x');
    const cache = new InstrumentCache({ dir: join(file, 'cache') });
    expect(await cache.put('a', new Uint8Array(10))).toBe(false);
    expect(await cache.get('a')).toBeUndefined();
  });

  it('finds its directory in the environment', () => {
    expect(defaultCacheDir({ LUNATIC_CACHE_DIR: '/somewhere', XDG_CACHE_HOME: '/xdg' })).toBe('/somewhere');
    expect(defaultCacheDir({ LUNATIC_CACHE_DIR: '', XDG_CACHE_HOME: '/xdg' })).toBeUndefined();
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe(join('/xdg', 'lunatic-instrument'));
    expect(defaultCacheDir({})).toMatch(/[/\\]\.cache[/\\]lunatic-instrument$/);
  });
});

/** The CLI with `environment` over this process's (a variable set to undefined is removed). */
function cli(args: string[], environment: NodeJS.ProcessEnv) {
  const env = Object.fromEntries(Object.entries({ ...process.env, ...environment }).filter(([, value]) => value !== undefined));
  return run(process.execPath, [BIN, ...args], { cwd: dir, env });
}

describe('run with the cache', () => {
  const hello = join(fixturesDir, 'c', 'hello.wasm');
  const HELLO = { code: 0, stdout: 'hello, lunatic 42\n', stderr: '' };
  // the backend `run` picks on this Node decides what the entry holds: compare with that run
  const runHello = (cacheDir: string, ...flags: string[]) =>
    cli(['run', hello, '--backend', 'asyncify', ...flags], { LUNATIC_CACHE_DIR: cacheDir });

  it('keeps the instrumented program and reads it on the next run', async () => {
    const cacheDir = join(dir, 'run');
    expect(await runHello(cacheDir)).toEqual(HELLO);
    const [entry] = entries(cacheDir);
    expect(entries(cacheDir)).toHaveLength(1);
    const cached = readFileSync(join(cacheDir, entry!));
    expect(readInstrumentSection(cached)).toBeDefined();
    expect(await runHello(cacheDir)).toEqual(HELLO);
    expect(entries(cacheDir)).toEqual([entry]);

    // the entry is what runs: another program put in its place runs instead
    const other = await instrument(readFileSync(join(fixturesDir, 'c', 'exit_code.wasm')), { blockingImports: [...MAY_WAIT_IMPORTS] });
    writeFileSync(join(cacheDir, entry!), other.binary);
    expect(await runHello(cacheDir)).toEqual({ code: 3, stdout: 'exiting with 3\n', stderr: '' });
    expect(await runHello(cacheDir, '--no-cache')).toEqual(HELLO);

    // a damaged entry is instrumented afresh and replaced
    writeFileSync(join(cacheDir, entry!), cached.subarray(0, cached.length >> 1));
    expect(await runHello(cacheDir)).toEqual(HELLO);
    expect(statSync(join(cacheDir, entry!)).size).toBe(cached.length);
  });

  it('keeps nothing with --no-cache or an empty LUNATIC_CACHE_DIR, and uses XDG_CACHE_HOME without it', async () => {
    const cacheDir = join(dir, 'none');
    mkdirSync(cacheDir);
    expect(await runHello(cacheDir, '--no-cache')).toEqual(HELLO);
    expect(readdirSync(cacheDir)).toEqual([]);
    const home = join(dir, 'home');
    const xdg = join(dir, 'xdg');
    const elsewhere = { HOME: home, XDG_CACHE_HOME: xdg };
    expect(await cli(['run', hello], { ...elsewhere, LUNATIC_CACHE_DIR: '' })).toEqual(HELLO);
    expect(existsSync(home) || existsSync(xdg)).toBe(false);
    expect(await cli(['run', hello], { ...elsewhere, LUNATIC_CACHE_DIR: undefined })).toEqual(HELLO);
    expect(entries(join(xdg, 'lunatic-instrument'))).toHaveLength(1);
  });
});
