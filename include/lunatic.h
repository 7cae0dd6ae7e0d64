/*
 * lunatic.h: the C API of the `lunatic` host module (lunatic-instrument's runtime).
 *
 * Include it and build with `clang --target=wasm32-wasi`; run the module with
 * `lunatic-instrument run prog.wasm`. Every function here is an import of module "lunatic";
 * calls that wait (receive, accept, read, sleep...) suspend only the calling process, the
 * others keep running.
 *
 * Return values: a call returns 0 or a non-negative result (a pid, a handle, a byte count) on
 * success and a NEGATED error code below on failure (e.g. -LUNATIC_EPERM). A denied or
 * malformed call never ends the process; only lunatic_exit, a trap, a kill, a failed link or a
 * configured limit do.
 *
 * Processes: lunatic_spawn starts a new process running an exported function of the SAME
 * module, in its own fresh instance (own memory, own globals). The function takes nothing,
 * an int32_t or an int64_t (the spawn argument) and returns nothing:
 *
 *     __attribute__((export_name("conn_handler")))
 *     void conn_handler(int64_t arg) { int32_t socket = (int32_t)arg; ... }
 *
 *     int32_t child = lunatic_spawn_named("conn_handler", socket, 0, 0);
 *     lunatic_give(socket, child);   // before the child runs: it now owns the socket
 *
 * or, without exporting it, a function pointer (lunatic_spawn_fn):
 *
 *     static void conn_handler(int64_t arg) { ... }
 *     int32_t child = lunatic_spawn_fn(conn_handler, socket, 0, 0);
 *
 * Handles (sockets, listeners, configurations) and pids are never reused: a stale, forged or
 * foreign one gets -LUNATIC_EBADF / -LUNATIC_ESRCH, never someone else's resource. A process's
 * handles are closed when it ends.
 */
#ifndef LUNATIC_H
#define LUNATIC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LUNATIC_IMPORT(name) __attribute__((import_module("lunatic"), import_name(name)))

/* ---- Error codes (returned negated) ---- */
#define LUNATIC_EPERM 1        /* the process's configuration does not allow it */
#define LUNATIC_EBADF 2        /* no such handle for this process (stale, forged, foreign, wrong kind) */
#define LUNATIC_ESRCH 3        /* no such process (never existed or already ended) */
#define LUNATIC_EFULL 4        /* the receiver's mailbox is full: retry later or drop */
#define LUNATIC_ETIMEDOUT 5    /* the timeout elapsed */
#define LUNATIC_EINVAL 6       /* bad argument: pointer outside memory, bad UTF-8, unknown entry, tag <= 0 */
#define LUNATIC_EMSGSIZE 7     /* the message is larger than the buffer; it stays queued, info->size says how large */
#define LUNATIC_ECONNREFUSED 8
#define LUNATIC_EADDRINUSE 9
#define LUNATIC_ECLOSED 10     /* the connection is closed or was reset */
#define LUNATIC_ENOMEM 11      /* out of handles, processes (the process limit) or memory */
#define LUNATIC_EIO 12         /* another network failure */
#define LUNATIC_EEXIST 13      /* the name is registered by another process */

/* Timeouts are in milliseconds: LUNATIC_FOREVER waits without limit, 0 only checks. */
#define LUNATIC_FOREVER (-1)

/* ---- Processes ---- */

/* lunatic_spawn flags */
#define LUNATIC_SPAWN_LINK 1    /* link the child to the caller before it runs */
#define LUNATIC_SPAWN_MONITOR 2 /* the caller monitors the child from before it runs (Erlang's spawn_monitor; local spawns only) */

/*
 * Starts a process running the exported function `entry` (UTF-8, entry_len bytes) of this
 * module with `arg`, under `config` (a handle from lunatic_config_new, or 0 for the caller's
 * own configuration). Returns the child's pid (> 0), or -EPERM (spawning denied), -EINVAL (no
 * such export taking nothing/i32/i64), -EBADF (bad config handle), -ENOMEM (the runtime's
 * process limit is reached, `--max-processes` or RuntimeOptions.maxProcesses: Erlang's
 * system_limit; nothing is printed, the caller decides).
 */
LUNATIC_IMPORT("spawn")
int32_t lunatic_spawn(const char *entry, size_t entry_len, int64_t arg, uint32_t flags, int32_t config);

static inline int32_t lunatic_spawn_named(const char *entry, int64_t arg, uint32_t flags, int32_t config) {
  return lunatic_spawn(entry, strlen(entry), arg, flags, config);
}

/*
 * Starts a process running the function pointer `fn` (an entry of the module's function table,
 * which must take an int64_t and return nothing) with `arg`; flags, config and results as for
 * lunatic_spawn. A pointer that is not such a function gives -EINVAL, never a trap.
 * The child starts through the export lunatic_run_table_entry below (docs/ABI.md).
 */
LUNATIC_IMPORT("spawn_fn")
int32_t lunatic_spawn_table_entry(int32_t table_index, int64_t arg, uint32_t flags, int32_t config);

typedef void (*lunatic_entry_fn)(int64_t arg);

static inline int32_t lunatic_spawn_fn(lunatic_entry_fn fn, int64_t arg, uint32_t flags, int32_t config) {
  return lunatic_spawn_table_entry((int32_t)(uintptr_t)fn, arg, flags, config);
}

/*
 * How a process spawned by lunatic_spawn_fn starts: the runtime calls this export of the child's
 * fresh instance, which calls table entry `table_index`. Defined here (weak: one copy however many
 * files include this header) so the linker wraps it as any export of a command module: C
 * constructors run before it, stdio is flushed after it.
 */
void lunatic_run_table_entry(int32_t table_index, int64_t arg);
__attribute__((weak, export_name("lunatic_run_table_entry")))
void lunatic_run_table_entry(int32_t table_index, int64_t arg) {
  ((lunatic_entry_fn)(uintptr_t)table_index)(arg);
}

/* The caller's pid. */
LUNATIC_IMPORT("self") int32_t lunatic_self(void);

/* Ends the calling process with `code` (a normal exit: links do not fire). */
LUNATIC_IMPORT("exit") __attribute__((noreturn)) void lunatic_exit(int32_t code);

/* Ends process `pid` (it is "killed": its links fire). 0, or -ESRCH. */
LUNATIC_IMPORT("kill") int32_t lunatic_kill(int32_t pid);

/*
 * Links the caller and `pid` both ways: when either crashes (trap, limit) or is killed, the
 * other is killed too, unless it traps links (then it gets a LUNATIC_TAG_LINK_DOWN message).
 * A normal exit does not fire links. 0, or -ESRCH, -EINVAL (self).
 */
LUNATIC_IMPORT("link") int32_t lunatic_link(int32_t pid);
LUNATIC_IMPORT("unlink") int32_t lunatic_unlink(int32_t pid);

/* on != 0: a failing linked process sends LUNATIC_TAG_LINK_DOWN instead of killing the caller. */
LUNATIC_IMPORT("trap_links") int32_t lunatic_trap_links(int32_t on);

/* When `pid` ends (any reason), the caller gets a LUNATIC_TAG_DOWN message. 0, or -ESRCH, -EINVAL. */
LUNATIC_IMPORT("monitor") int32_t lunatic_monitor(int32_t pid);
LUNATIC_IMPORT("demonitor") int32_t lunatic_demonitor(int32_t pid);

/* Suspends the caller for at least `ms` milliseconds (never less); other processes run. Returns 0. */
LUNATIC_IMPORT("sleep_ms") int32_t lunatic_sleep_ms(uint32_t ms);

/* Lets the other runnable processes run once. Returns 0. */
LUNATIC_IMPORT("yield_now") int32_t lunatic_yield_now(void);

/* ---- Messages ---- */

/* Notification tags (negative: no process can send them). Payload: lunatic_down_t. */
#define LUNATIC_TAG_DOWN (-1LL)      /* a monitored process ended */
#define LUNATIC_TAG_LINK_DOWN (-2LL) /* a linked process failed while the caller traps links */
#define LUNATIC_TAG_ANY 0LL          /* receive filter: any message */

#define LUNATIC_REASON_EXITED 0
#define LUNATIC_REASON_CRASHED 1
#define LUNATIC_REASON_KILLED 2
#define LUNATIC_REASON_NODE_DOWN 3 /* its node died, left or became unreachable (not a crash) */

typedef struct {
  int32_t pid;
  int32_t reason; /* LUNATIC_REASON_* */
  int32_t code;   /* the exit code when reason is EXITED */
} lunatic_down_t;

typedef struct {
  int64_t tag;
  int32_t sender;
  uint32_t size;
} lunatic_message_t;

/*
 * Sends `len` bytes (copied) with `tag` (> 0) to `pid`. 0, or -ESRCH, -EFULL (its mailbox
 * is at its bound: its configured count, or 64 MiB of waiting messages; nothing was sent),
 * -EINVAL (tag <= 0, buffer outside memory). On several threads (lunatic-instrument run
 * --threads) messages on their way to `pid` count as waiting, and -EFULL also means the
 * receiver's thread is behind: retry later either way.
 */
LUNATIC_IMPORT("send") int32_t lunatic_send(int32_t pid, int64_t tag, const void *data, size_t len);

/*
 * Receives the oldest message whose tag equals `tag_filter` (LUNATIC_TAG_ANY: any message;
 * others stay queued in order: selective receive), waiting up to `timeout_ms` (a timeout never
 * fires early). Copies its bytes
 * to `buffer` and fills `*info` (may be NULL). Returns the size, or -ETIMEDOUT, or -EMSGSIZE
 * (larger than `capacity`: the message stays queued, info->size tells its size).
 */
LUNATIC_IMPORT("receive")
int32_t lunatic_receive(void *buffer, size_t capacity, int64_t tag_filter, int32_t timeout_ms, lunatic_message_t *info);

/* ---- TCP ---- */

/*
 * Listens on host:port (port 0: any free port; the bound one is stored in *bound_port, which
 * may be NULL). Allowed only for host:port patterns of the configuration. Returns a listener
 * handle, or -EPERM, -EADDRINUSE, -EINVAL.
 */
LUNATIC_IMPORT("tcp_listen")
int32_t lunatic_tcp_listen(const char *host, size_t host_len, uint32_t port, uint32_t *bound_port);

/* Waits for a connection: a socket handle, or -ETIMEDOUT, -EBADF. */
LUNATIC_IMPORT("tcp_accept") int32_t lunatic_tcp_accept(int32_t listener, int32_t timeout_ms);

/* Connects to host:port: a socket handle, or -EPERM, -ECONNREFUSED, -ETIMEDOUT, -EINVAL. */
LUNATIC_IMPORT("tcp_connect")
int32_t lunatic_tcp_connect(const char *host, size_t host_len, uint32_t port, int32_t timeout_ms);

/* Reads up to `capacity` bytes: the count (> 0), 0 at the end of the stream, or -ETIMEDOUT, -EBADF. */
LUNATIC_IMPORT("tcp_read")
int32_t lunatic_tcp_read(int32_t socket, void *buffer, size_t capacity, int32_t timeout_ms);

/*
 * Writes all `len` bytes (copied, so the buffer is free on return). Waits while the peer is
 * slow, up to `timeout_ms` (-ETIMEDOUT: the bytes are still queued). Returns len, or -ECLOSED, -EBADF.
 */
LUNATIC_IMPORT("tcp_write")
int32_t lunatic_tcp_write(int32_t socket, const void *data, size_t len, int32_t timeout_ms);

/*
 * A second socket handle for the same connection, e.g. to give one to a reader process and
 * keep one for writing. The connection closes when its last handle is closed. A handle, or -EBADF.
 */
LUNATIC_IMPORT("tcp_clone") int32_t lunatic_tcp_clone(int32_t socket);

/* ---- Handles ---- */

/* Closes a socket, listener or configuration handle. 0, or -EBADF. */
LUNATIC_IMPORT("close") int32_t lunatic_close(int32_t handle);

/*
 * Gives a handle to process `pid` (same number; the caller loses it). 0, or -EBADF, -ESRCH. A
 * socket or listener given to a process on another thread (lunatic-instrument run --threads)
 * stays open on its own thread and works through it. Given on from there to another thread: a
 * socket not yet read from or written to moves on, anything else is -EINVAL.
 */
LUNATIC_IMPORT("give") int32_t lunatic_give(int32_t handle, int32_t pid);

/* ---- Configurations for children (narrow only: a child never gets more than its parent) ---- */

/* A new configuration handle, a copy of the caller's own permissions. */
LUNATIC_IMPORT("config_new") int32_t lunatic_config_new(void);

/* The child may not spawn. */
LUNATIC_IMPORT("config_deny_spawn") int32_t lunatic_config_deny_spawn(int32_t config);

/* Most 64 KiB pages of memory / reductions in its life / queued messages. -EPERM if above the caller's. */
LUNATIC_IMPORT("config_set_max_memory") int32_t lunatic_config_set_max_memory(int32_t config, uint32_t pages);
LUNATIC_IMPORT("config_set_max_reductions") int32_t lunatic_config_set_max_reductions(int32_t config, uint64_t reductions);
LUNATIC_IMPORT("config_set_mailbox") int32_t lunatic_config_set_mailbox(int32_t config, uint32_t capacity);

/*
 * Comma-separated host:port patterns ("127.0.0.1:8080,127.0.0.1:*"; "*" is any host or port,
 * port 0 a free port) the child may listen on / connect to; each must lie within one of the
 * configuration's current patterns (-EPERM), "" allows none.
 */
LUNATIC_IMPORT("config_set_listen") int32_t lunatic_config_set_listen(int32_t config, const char *patterns, size_t len);
LUNATIC_IMPORT("config_set_connect") int32_t lunatic_config_set_connect(int32_t config, const char *patterns, size_t len);

/* Comma-separated guest paths of preopened directories the child keeps (each one the caller has). */
LUNATIC_IMPORT("config_set_dirs") int32_t lunatic_config_set_dirs(int32_t config, const char *guest_paths, size_t len);

/* ---- Names ---- */

/*
 * Registers the caller under `name` (1-64 of A-Z a-z 0-9 _ . -). On a node in a cluster the
 * name is cluster-wide. A name is freed when its process ends. 0, or -EEXIST (another process
 * holds it), -EINVAL (bad name).
 */
LUNATIC_IMPORT("register") int32_t lunatic_register(const char *name, size_t len);
/* Frees a name the caller holds. 0, or -ESRCH (the caller holds no such name). */
LUNATIC_IMPORT("unregister") int32_t lunatic_unregister(const char *name, size_t len);
/* The pid registered under `name` (this node first, then the cluster), or -ESRCH. */
LUNATIC_IMPORT("whereis") int32_t lunatic_whereis(const char *name, size_t len);

static inline int32_t lunatic_register_named(const char *name) { return lunatic_register(name, strlen(name)); }
static inline int32_t lunatic_whereis_named(const char *name) { return lunatic_whereis(name, strlen(name)); }

/* ---- Distribution (`lunatic-instrument run --node NAME --nats URL`, docs/DISTRIBUTION.md) ----
 *
 * Pids are global: bits 23..30 hold the index of the node the process lives on (1..255,
 * assigned when the node joins; 0 without a cluster), bits 0..22 its pid on that node. Every
 * call taking a pid works with a pid of another node (kill, link, monitor, send), except
 * lunatic_give (handles stay on their node: -ESRCH). lunatic_kill, lunatic_unlink and
 * lunatic_demonitor of a remote pid return 0 once sent (-ESRCH when its node is not in the
 * cluster); lunatic_link and lunatic_monitor wait for its node's answer (-ESRCH, -ETIMEDOUT).
 *
 * lunatic_send to another node returns 0 once the message left (-ESRCH when its node is not in
 * the cluster, -EMSGSIZE above the server's largest message, 1 MiB by default minus 16 bytes);
 * the receiving node drops it when the receiver is gone or its mailbox is full (no -EFULL across
 * nodes). Messages from one process to another arrive in the order they were sent.
 *
 * When a node dies (kill -9), leaves or becomes unreachable, its processes are reported to
 * monitors and links on the other nodes with LUNATIC_REASON_NODE_DOWN, within about 1.2 s
 * (heartbeats every 200 ms; a node silent for 1 s is down).
 */
#define LUNATIC_NODE_SHIFT 23
#define LUNATIC_NODE_OF(pid) ((int32_t)(pid) >> LUNATIC_NODE_SHIFT)

/*
 * Spawns the export `entry` of the caller's module on the node named `node`, as lunatic_spawn
 * does locally (flags, config: the child's configuration, narrowed again to what that node grants
 * remote spawns). The module travels once per node by its SHA-256 and is compiled there once.
 * Returns the child's pid, or -EPERM (the caller may not spawn, or the node was not started
 * with --allow-remote-spawn), -ESRCH (no such node), -EINVAL (no such export), -EMSGSIZE
 * (the module is larger than the server's largest message), -ETIMEDOUT.
 */
LUNATIC_IMPORT("spawn_on")
int32_t lunatic_spawn_on(const char *node, size_t node_len, const char *entry, size_t entry_len, int64_t arg, uint32_t flags, int32_t config);

static inline int32_t lunatic_spawn_on_named(const char *node, const char *entry, int64_t arg, uint32_t flags, int32_t config) {
  return lunatic_spawn_on(node, strlen(node), entry, strlen(entry), arg, flags, config);
}

#endif /* LUNATIC_H */
