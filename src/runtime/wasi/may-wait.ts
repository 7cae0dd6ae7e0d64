// The WASI preview1 calls that may wait on the outside world, and so must be blocking imports
// of a module (instrumenter --blocking-imports, runtime spawn option) for a process to wait in
// them: the one list, from which the instrumenter's defaults (src/blocking-imports.ts) derive.
//
// Streams and timers: reads, writes (a pipe can be full), polling (sleeps), sched_yield. Files:
// a host may serve them asynchronously, as this runtime does on Node. Sockets: the WASI socket
// calls wait on hosts that implement them; this runtime's WASI answers them ENOSYS at once (TCP is
// the lunatic API's, src/runtime/lunatic/), so they are among the instrumenter's defaults, for
// modules run on other hosts, but not among the calls that wait here.

const STREAM_CALLS = ['fd_read', 'fd_write', 'fd_pread', 'fd_pwrite', 'poll_oneoff', 'sched_yield'];
const SOCKET_CALLS = ['sock_accept', 'sock_recv', 'sock_send'];
const FILE_CALLS = [
  'fd_seek',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_allocate',
  'fd_readdir',
  'fd_sync',
  'fd_datasync',
  'path_open',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_create_directory',
  'path_remove_directory',
  'path_unlink_file',
  'path_rename',
  'path_readlink',
];

const qualified = (names: string[]) => names.map((name) => `wasi_snapshot_preview1.${name}`);

/** The WASI calls that may wait in this runtime. */
export const MAY_WAIT_IMPORTS: readonly string[] = qualified([...STREAM_CALLS, ...FILE_CALLS]);

/** The WASI calls that may wait on any host: this runtime's, and the socket calls. */
export const MAY_WAIT_ON_ANY_HOST: readonly string[] = qualified([...STREAM_CALLS, ...SOCKET_CALLS, ...FILE_CALLS]);
