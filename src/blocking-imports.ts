// Which imports may block, and so may suspend the module through Asyncify: the instrumenter's
// defaults are the WASI calls that may wait on any host (listed once, in
// src/runtime/wasi/may-wait.ts) and every import of the `lunatic` module (yield, and the process
// API). Users add their own globs: `env.*`, `wasi_snapshot_preview1.fd_read`; a trailing `*`
// matches any suffix (passes/ir/globs.ts).
import { matchesAny } from '../passes/ir/globs.js';
import { MAY_WAIT_ON_ANY_HOST } from './runtime/wasi/may-wait.js';

// Glob matching is shared with the Asyncify pass; the runtime links through this module.
export { matchesAny };

export const DEFAULT_BLOCKING_IMPORTS: readonly string[] = [...MAY_WAIT_ON_ANY_HOST, 'lunatic.*'];

/** Splits a comma-separated list of globs, dropping blanks. */
export function parseGlobList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The defaults plus the user's globs, without duplicates. */
export function blockingImportGlobs(userGlobs: readonly string[] = []): string[] {
  return [...new Set([...DEFAULT_BLOCKING_IMPORTS, ...userGlobs])];
}
