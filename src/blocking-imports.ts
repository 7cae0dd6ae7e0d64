// Which imports may block, and so may suspend the module through Asyncify.
//
// The defaults are the WASI preview1 calls that can wait on the outside world: reads, writes
// (a pipe or socket can be full), polling, sockets and sched_yield. Every import of the
// `lunatic` module (yield, and the process API) may block too. Users add their own globs:
// `env.*`, `wasi_snapshot_preview1.fd_read`; a trailing `*` matches any suffix.

export const DEFAULT_BLOCKING_IMPORTS: readonly string[] = [
  'wasi_snapshot_preview1.fd_read',
  'wasi_snapshot_preview1.fd_write',
  'wasi_snapshot_preview1.fd_pread',
  'wasi_snapshot_preview1.fd_pwrite',
  'wasi_snapshot_preview1.poll_oneoff',
  'wasi_snapshot_preview1.sched_yield',
  'wasi_snapshot_preview1.sock_accept',
  'wasi_snapshot_preview1.sock_recv',
  'wasi_snapshot_preview1.sock_send',
  'lunatic.*',
];

/** Splits a comma-separated list of globs, dropping blanks. */
export function parseGlobList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

export function matchesGlob(name: string, glob: string): boolean {
  return glob.endsWith('*') ? name.startsWith(glob.slice(0, -1)) : name === glob;
}

export function matchesAny(name: string, globs: readonly string[]): boolean {
  return globs.some((glob) => matchesGlob(name, glob));
}

/** The defaults plus the user's globs, without duplicates. */
export function blockingImportGlobs(userGlobs: readonly string[] = []): string[] {
  return [...new Set([...DEFAULT_BLOCKING_IMPORTS, ...userGlobs])];
}
