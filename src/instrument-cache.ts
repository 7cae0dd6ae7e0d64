// The cache of modules that `run` instrumented in memory. Instrumenting takes seconds to minutes
// (a 1.8 MB C++ program: about 25 s on Node 20), and a program is run again and again, so the
// output is kept on disk and the next run of the same bytes starts at once, as wasmtime's
// compilation cache does for its code.
//
// An entry is the instrumented module itself, named by a digest of everything its bytes depend
// on: the input's bytes, the instrumenting options, and a fingerprint of the instrumenter (its
// version, the installed binaryen, and the code of src/ and passes/, so a rebuilt checkout never
// reads what an older build wrote). Writes go to a temporary file renamed into place, so a
// reader sees a whole entry or none, and two runs filling the same entry at once both succeed.
// Past `maxBytes` in all, the least recently used entries go (a hit refreshes an entry's time).
// The cache is a convenience: a directory that cannot be made, read or written leaves the run
// instrumenting in memory as without it.
import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedBinaryen } from './binaryen-split.js';
import { VERSION } from './version.js';
import { writeFileWhole } from './wasm-io.js';

/** node:crypto's hashes, loaded on first use: loading it is 3-8 ms of every start, and only a plain module's `run` needs it. */
const sha256 = () => process.getBuiltinModule('node:crypto').createHash('sha256');

/** The cache's size limit when none is given: room for a few dozen large programs. */
export const DEFAULT_CACHE_MAX_BYTES = 1024 * 1024 * 1024;
/** An entry's file name ends so; temporary files, being written, end in `.tmp` (wasm-io.ts writeFileWhole). */
const ENTRY_SUFFIX = '.wasm';
const TEMPORARY_SUFFIX = '.tmp';
/** A temporary file older than this was left by a run that died while writing it. */
const STALE_TEMPORARY_MS = 60 * 60 * 1000;

/**
 * The cache directory when the caller names none: LUNATIC_CACHE_DIR, else
 * $XDG_CACHE_HOME/lunatic-instrument, else ~/.cache/lunatic-instrument; undefined when
 * LUNATIC_CACHE_DIR is set empty (no cache) or there is no home directory.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LUNATIC_CACHE_DIR !== undefined) return env.LUNATIC_CACHE_DIR || undefined;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'lunatic-instrument');
  let home: string;
  try {
    home = homedir();
  } catch {
    return undefined;
  }
  return home ? join(home, '.cache', 'lunatic-instrument') : undefined;
}

/** The sources (or their compiled JavaScript) of one directory and the folders below it, in a stable order. */
function codeFiles(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return codeFiles(path);
      return /\.(js|ts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
    });
}

let fingerprint: string | undefined;

/**
 * What the instrumenter is: its version, the binaryen it loads, and its code. The code is the
 * top-level modules of src/ (this file's folder: the TypeScript sources under vitest, dist/src
 * with the CLI's bundle once built) and everything in passes/ beside it.
 */
export function instrumenterFingerprint(): string {
  if (fingerprint) return fingerprint;
  const hash = sha256();
  const binaryen = installedBinaryen();
  hash.update(`lunatic-instrument ${VERSION}\0binaryen ${binaryen.version} ${binaryen.bytes}\0`);
  const here = dirname(fileURLToPath(import.meta.url));
  const topLevel = codeFiles(here).filter((path) => dirname(path) === here);
  for (const file of [...topLevel, ...codeFiles(join(here, '..', 'passes'))]) {
    hash.update(`${relative(here, file)}\0`);
    hash.update(readFileSync(file));
  }
  fingerprint = hash.digest('hex');
  return fingerprint;
}

export interface InstrumentCacheOptions {
  dir: string;
  /** Most bytes of entries kept (default DEFAULT_CACHE_MAX_BYTES). */
  maxBytes?: number;
}

export class InstrumentCache {
  readonly dir: string;
  readonly maxBytes: number;

  constructor(options: InstrumentCacheOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES;
  }

  /** The name of the entry for `input` instrumented with `options` (plain data, serialised as JSON) by this instrumenter. */
  key(input: Uint8Array, options: unknown): string {
    return sha256()
      .update(instrumenterFingerprint())
      .update(`\0${JSON.stringify(options)}\0`)
      .update(input)
      .digest('hex');
  }

  private path(key: string): string {
    return join(this.dir, `${key}${ENTRY_SUFFIX}`);
  }

  /** The entry's bytes, or undefined when there is none or it cannot be read. A hit makes the entry the most recently used. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const path = this.path(key);
    try {
      const bytes = await readFile(path);
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
      return bytes;
    } catch {
      return undefined;
    }
  }

  /** Drops an entry found unusable. */
  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true }).catch(() => undefined);
  }

  /** Stores an entry, then trims the cache to its size limit. Returns whether the entry was written. */
  async put(key: string, bytes: Uint8Array): Promise<boolean> {
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFileWhole(this.path(key), bytes);
    } catch {
      return false;
    }
    await this.trim(key).catch(() => undefined);
    return true;
  }

  /** Removes the least recently used entries past maxBytes (never `keep`), and temporary files a dead run left. */
  private async trim(keep: string): Promise<void> {
    const entries: { path: string; bytes: number; used: number }[] = [];
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) continue;
      if (name.endsWith(TEMPORARY_SUFFIX)) {
        if (Date.now() - info.mtimeMs > STALE_TEMPORARY_MS) await rm(path, { force: true });
      } else if (name.endsWith(ENTRY_SUFFIX)) {
        entries.push({ path, bytes: info.size, used: info.mtimeMs });
      }
    }
    let total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
    entries.sort((a, b) => a.used - b.used);
    for (const entry of entries) {
      if (total <= this.maxBytes) break;
      if (entry.path === this.path(keep)) continue;
      await rm(entry.path, { force: true });
      total -= entry.bytes;
    }
  }
}
