/* Scheduling scenarios for the lunatic runtime, one per first argument; each prints one line of
 * figures (bench/scheduling.ts measures with them, test/scheduling.test.ts checks them):
 *   ring N LAPS            a token passes LAPS times around N processes: the time per hop
 *   pingpong ROUNDS        two processes send a message back and forth: round trips per second
 *   lateness SPINNERS N MS a process sleeps N times MS ms beside SPINNERS busy loops: how late
 *   sleeps N               N sleeps of 1-3 ms (lunatic_sleep_ms and nanosleep): how many ended early
 *   exits N                N waiting processes end at once while another sleeps 1 ms at a time: its
 *                          worst delay, and the time until every DOWN arrived
 *   spawn-limit            spawns waiting processes until refused: how many, and the error code
 *   echo SPINNERS          serves one TCP connection (echo) beside SPINNERS busy loops
 * Build: bench/build.sh (the .wasm is committed, so neither the bench nor the tests need clang). */
#include "lunatic.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define TAG_TOKEN 1
#define TAG_STOP 2
#define TAG_REPORT 3

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static lunatic_message_t info;

static void wait_any(void) {
  char byte;
  lunatic_receive(&byte, 1, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
}

EXPORT("spin") void spin(void) {
  volatile uint32_t x = 0;
  for (;;) x++;
}

EXPORT("idle") void idle(void) { wait_any(); }

/* Tells `parent` it runs (again later while its mailbox is full), then waits for any message. */
EXPORT("ready_idle") void ready_idle(int64_t parent) {
  while (lunatic_send((int32_t)parent, TAG_REPORT, "r", 1) == -LUNATIC_EFULL) lunatic_sleep_ms(1);
  wait_any();
}

/* ---- ring ---- */

EXPORT("ring_node") void ring_node(int64_t next) {
  for (;;) {
    int64_t token;
    lunatic_receive(&token, sizeof token, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
    lunatic_send((int32_t)next, TAG_TOKEN, &token, sizeof token);
    if (token == 0) return;
  }
}

static void lap(int32_t next, int64_t token) {
  lunatic_send(next, TAG_TOKEN, &token, sizeof token);
  lunatic_receive(&token, sizeof token, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
}

static int ring(int n, int laps) {
  int64_t t0 = now_ns();
  int32_t next = lunatic_self();
  for (int i = 0; i < n - 1; i++) {
    next = lunatic_spawn_named("ring_node", next, 0, 0);
    if (next < 0) return fprintf(stderr, "spawn failed: %d\n", next), 1;
  }
  lap(next, 1); /* warm-up lap: every process has started */
  int64_t t1 = now_ns();
  for (int i = 0; i < laps; i++) lap(next, 1);
  int64_t t2 = now_ns();
  lap(next, 0); /* every node forwards the 0 and ends */
  printf("ring n=%d laps=%d hop_us=%.3f spawn_and_start_us=%.1f\n", n, laps, (t2 - t1) / 1e3 / ((double)n * laps), (t1 - t0) / 1e3 / n);
  return 0;
}

/* ---- ping-pong ---- */

EXPORT("ponger") void ponger(int64_t parent) {
  for (;;) {
    int32_t x;
    lunatic_receive(&x, sizeof x, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
    lunatic_send((int32_t)parent, TAG_TOKEN, &x, sizeof x);
    if (x < 0) return;
  }
}

static int pingpong(int rounds) {
  int32_t child = lunatic_spawn_named("ponger", lunatic_self(), 0, 0);
  int32_t x = 0;
  for (int i = 0; i < 1000; i++) { /* warm-up */
    lunatic_send(child, TAG_TOKEN, &i, sizeof i);
    lunatic_receive(&x, sizeof x, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
  }
  int64_t t0 = now_ns();
  for (int i = 0; i < rounds; i++) {
    lunatic_send(child, TAG_TOKEN, &i, sizeof i);
    lunatic_receive(&x, sizeof x, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
    if (x != i) return fprintf(stderr, "pingpong: got %d for %d\n", x, i), 1;
  }
  int64_t t1 = now_ns();
  x = -1;
  lunatic_send(child, TAG_TOKEN, &x, sizeof x);
  printf("pingpong rounds=%d round_trips_per_s=%.0f\n", rounds, rounds / ((t1 - t0) / 1e9));
  return 0;
}

/* ---- sleeps ---- */

static int compare(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int lateness(int spinners, int n, int ms) {
  for (int i = 0; i < spinners; i++) lunatic_spawn_named("spin", 0, 0, 0);
  lunatic_sleep_ms(20); /* the spinners are running */
  int64_t *late = malloc(sizeof *late * n);
  int early = 0;
  for (int i = 0; i < n; i++) {
    int64_t t0 = now_ns();
    lunatic_sleep_ms(ms);
    late[i] = now_ns() - t0 - (int64_t)ms * 1000000;
    early += late[i] < 0;
  }
  qsort(late, n, sizeof *late, compare);
  printf("lateness spinners=%d sleeps=%d ms=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f early=%d\n", spinners, n, ms, late[n / 2] / 1e6,
         late[(n * 99) / 100] / 1e6, late[n - 1] / 1e6, early);
  return 0;
}

static int sleeps(int n) {
  int early = 0;
  int64_t worst = 0;
  for (int i = 0; i < n; i++) {
    int64_t wanted = (int64_t)(1 + i % 3) * 1000000;
    int64_t t0 = now_ns();
    if (i % 2 == 0) {
      lunatic_sleep_ms((uint32_t)(wanted / 1000000));
    } else {
      struct timespec t = {0, (long)wanted};
      nanosleep(&t, NULL);
    }
    int64_t short_by = wanted - (now_ns() - t0);
    if (short_by > 0) early++;
    if (short_by > worst) worst = short_by;
  }
  printf("sleeps n=%d early=%d worst_early_us=%.3f\n", n, early, worst / 1e3);
  return 0;
}

/* ---- many processes ending at once ---- */

/* Sleeps 1 ms at a time until told to stop, then reports its worst lateness (ns) to arg. */
EXPORT("ticker") void ticker(int64_t parent) {
  int64_t worst = 0;
  for (;;) {
    int64_t t0 = now_ns();
    lunatic_sleep_ms(1);
    int64_t late = now_ns() - t0 - 1000000;
    if (late > worst) worst = late;
    char byte;
    if (lunatic_receive(&byte, 1, TAG_STOP, 0, &info) >= 0) break;
  }
  lunatic_send((int32_t)parent, TAG_REPORT, &worst, sizeof worst);
}

static int exits(int n) {
  int32_t *children = malloc(sizeof *children * n);
  for (int i = 0; i < n; i++) {
    children[i] = lunatic_spawn_named("ready_idle", lunatic_self(), 0, 0);
    if (children[i] < 0) return fprintf(stderr, "spawn failed: %d\n", children[i]), 1;
    lunatic_monitor(children[i]);
  }
  char ready;
  for (int i = 0; i < n; i++) lunatic_receive(&ready, 1, TAG_REPORT, LUNATIC_FOREVER, &info); /* every child waits */
  int32_t ticker_pid = lunatic_spawn_named("ticker", lunatic_self(), 0, 0);
  lunatic_sleep_ms(50); /* the ticker ticks */
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++) lunatic_send(children[i], TAG_TOKEN, "x", 1);
  lunatic_down_t down;
  for (int i = 0; i < n; i++) lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, &info);
  int64_t t1 = now_ns();
  lunatic_sleep_ms(50); /* the ticker ticks on while the runtime cleans up */
  lunatic_send(ticker_pid, TAG_STOP, "x", 1);
  int64_t worst = 0;
  lunatic_receive(&worst, sizeof worst, TAG_REPORT, LUNATIC_FOREVER, &info);
  printf("exits n=%d all_down_ms=%.3f ticker_worst_late_ms=%.3f\n", n, (t1 - t0) / 1e6, worst / 1e6);
  return 0;
}

/* ---- the process limit ---- */

static int spawn_limit(void) {
  int32_t spawned = 0, code;
  while ((code = lunatic_spawn_named("idle", 0, 0, 0)) > 0) spawned++;
  printf("spawn-limit spawned=%d refused=%d\n", spawned, code);
  return 0;
}

/* ---- TCP beside spinners ---- */

static int echo(int spinners) {
  uint32_t port = 0;
  int32_t listener = lunatic_tcp_listen("127.0.0.1", 9, 0, &port);
  if (listener < 0) return fprintf(stderr, "listen failed: %d\n", listener), 1;
  for (int i = 0; i < spinners; i++) lunatic_spawn_named("spin", 0, 0, 0);
  printf("listening on 127.0.0.1:%u\n", port);
  fflush(stdout);
  int32_t socket = lunatic_tcp_accept(listener, LUNATIC_FOREVER);
  if (socket < 0) return fprintf(stderr, "accept failed: %d\n", socket), 1;
  char buffer[4096];
  int32_t total = 0, got;
  while ((got = lunatic_tcp_read(socket, buffer, sizeof buffer, LUNATIC_FOREVER)) > 0) {
    lunatic_tcp_write(socket, buffer, (size_t)got, LUNATIC_FOREVER);
    total += got;
  }
  printf("echoed %d bytes\n", total);
  return 0;
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "";
  int a = argc > 2 ? atoi(argv[2]) : 0, b = argc > 3 ? atoi(argv[3]) : 0, c = argc > 4 ? atoi(argv[4]) : 0;
  if (!strcmp(what, "ring")) return ring(a ? a : 1000, b ? b : 100);
  if (!strcmp(what, "pingpong")) return pingpong(a ? a : 100000);
  if (!strcmp(what, "lateness")) return lateness(a, b ? b : 200, c ? c : 5);
  if (!strcmp(what, "sleeps")) return sleeps(a ? a : 1000);
  if (!strcmp(what, "exits")) return exits(a ? a : 10000);
  if (!strcmp(what, "spawn-limit")) return spawn_limit();
  if (!strcmp(what, "echo")) return echo(a);
  fprintf(stderr, "usage: scheduling ring|pingpong|lateness|sleeps|exits|spawn-limit|echo [numbers]\n");
  return 2;
}
