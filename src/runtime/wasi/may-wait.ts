// The WASI imports that may return a Promise, and so must be blocking imports of a module
// (instrumenter --blocking-imports, runtime spawn option) for the process to wait in them.
// With the in-memory file system and memory streams only the defaults ever wait (stdin reads,
// back-pressured writes, sleeps, sched_yield); with an asynchronous file system (Node's) the
// file calls below wait too.

export const MAY_WAIT_IMPORTS: readonly string[] = [
  'fd_read', 'fd_write', 'fd_pread', 'fd_pwrite', 'poll_oneoff', 'sched_yield',
  'fd_seek', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_readdir', 'fd_sync', 'fd_datasync',
  'path_open', 'path_filestat_get', 'path_create_directory', 'path_remove_directory',
  'path_unlink_file', 'path_rename', 'path_readlink',
].map((name) => `wasi_snapshot_preview1.${name}`);
