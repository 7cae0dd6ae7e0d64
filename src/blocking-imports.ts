// Which imports may block, and so may suspend the module through Asyncify.
//
// The defaults are the WASI preview1 calls that can wait on the outside world: reads, writes
// (a pipe or socket can be full), polling, sockets, sched_yield, and the file-system calls (a
// host may serve files asynchronously, as our runtime does on Node). Every import of the
// `lunatic` module (yield, and the process API) may block too. Users add their own globs:
// `env.*`, `wasi_snapshot_preview1.fd_read`; a trailing `*` matches any suffix.
import { matchesAny } from '../passes/ir/globs.js';

// Glob matching is shared with the Asyncify pass; the runtime links through this module.
export { matchesAny };

const WASI_MAY_WAIT = [
  'fd_read', 'fd_write', 'fd_pread', 'fd_pwrite', 'poll_oneoff', 'sched_yield',
  'sock_accept', 'sock_recv', 'sock_send',
  'fd_seek', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_readdir', 'fd_sync', 'fd_datasync',
  'path_open', 'path_filestat_get', 'path_create_directory', 'path_remove_directory',
  'path_unlink_file', 'path_rename', 'path_readlink',
];

export const DEFAULT_BLOCKING_IMPORTS: readonly string[] = [
  ...WASI_MAY_WAIT.map((name) => `wasi_snapshot_preview1.${name}`),
  'lunatic.*',
];

/** Splits a comma-separated list of globs, dropping blanks. */
export function parseGlobList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The defaults plus the user's globs, without duplicates. */
export function blockingImportGlobs(userGlobs: readonly string[] = []): string[] {
  return [...new Set([...DEFAULT_BLOCKING_IMPORTS, ...userGlobs])];
}
