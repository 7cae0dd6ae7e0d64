/* Spawn and density scenarios for the lunatic runtime (with printf and malloc, as real programs), one
 * per first argument; each prints one line of figures (bench/spawns.ts measures with them,
 * test/process-pool.test.ts checks them):
 *   spawn N [call] N children, each monitored, each mallocs and formats a line, then ends: the
 *                  rate of spawn + run + exit + DOWN (`call`: as in spawn-small.c)
 *   waiters N      N processes wait in receive; then each gets one message and answers it: how
 *                  many answered, and the answer times (p50, p99, worst)
 *   sleepers N MS  N processes sleep MS ms and then answer: how many answered, how late the last
 * bench/lunatic/spawn-small.c is the same spawn scenario without libc's stdio (a small module).
 * Build: bench/build.sh (the .wasm is committed, so neither the bench nor the tests need clang). */
#include "lunatic.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define TAG_WORK 1
#define TAG_ANSWER 2

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static lunatic_message_t info;

/* ---- spawn ---- */

static volatile size_t formatted;

EXPORT("formatter") void formatter(int64_t n) {
  char *line = malloc(64);
  if (!line) return;
  formatted += (size_t)snprintf(line, 64, "child %lld", (long long)n);
  free(line);
}

static int await_downs(int n) {
  for (int i = 0; i < n; i++) {
    lunatic_down_t down;
    int32_t size = lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, &info);
    if (size != sizeof down || down.reason != LUNATIC_REASON_EXITED) return fprintf(stderr, "bad DOWN: %d reason %d\n", size, down.reason), 1;
  }
  return 0;
}

static int spawn_many(int n, int call) {
  int64_t t0 = now_ns();
  int downs = n;
  for (int i = 0; i < n; i++) {
    int32_t child = lunatic_spawn_named("formatter", i, call ? 0 : LUNATIC_SPAWN_MONITOR, 0);
    if (child < 0) return fprintf(stderr, "spawn %d failed: %d\n", i, child), 1;
    if (call && lunatic_monitor(child) == -LUNATIC_ESRCH) downs--;
  }
  if (await_downs(downs)) return 1;
  int64_t t1 = now_ns();
  printf("spawn n=%d per_s=%.0f us_each=%.2f\n", n, n / ((t1 - t0) / 1e9), (t1 - t0) / 1e3 / n);
  return 0;
}

/* ---- waiters ---- */

/* Waits for one message and answers its sender with the same bytes. */
EXPORT("answerer") void answerer(void) {
  int64_t sent;
  if (lunatic_receive(&sent, sizeof sent, TAG_WORK, LUNATIC_FOREVER, &info) != sizeof sent) return;
  lunatic_send(info.sender, TAG_ANSWER, &sent, sizeof sent);
}

static int compare_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Asks each process in turn and waits for its answer: the wake-up time of every process alone. */
static int ask_each(int32_t *pids, int n, int64_t *times) {
  for (int i = 0; i < n; i++) {
    int64_t sent = now_ns(), back;
    int32_t status = lunatic_send(pids[i], TAG_WORK, &sent, sizeof sent);
    if (status != 0) return fprintf(stderr, "send to %d failed: %d\n", pids[i], status), 1;
    if (lunatic_receive(&back, sizeof back, TAG_ANSWER, LUNATIC_FOREVER, &info) != sizeof back || back != sent)
      return fprintf(stderr, "wrong answer from %d\n", info.sender), 1;
    times[i] = now_ns() - sent;
  }
  return 0;
}

static int waiters(int n, int settle_ms) {
  int32_t *pids = malloc(sizeof *pids * (size_t)n);
  int64_t *times = malloc(sizeof *times * (size_t)n);
  if (!pids || !times) return fprintf(stderr, "out of memory\n"), 1;
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++) {
    pids[i] = lunatic_spawn_named("answerer", 0, 0, 0);
    if (pids[i] < 0) return fprintf(stderr, "spawn %d failed: %d\n", i, pids[i]), 1;
  }
  int64_t t1 = now_ns();
  lunatic_sleep_ms(settle_ms); /* every process reaches its receive (and, idle, may hibernate) */
  printf("waiting n=%d spawn_us_each=%.2f\n", n, (t1 - t0) / 1e3 / n);
  fflush(stdout);
  lunatic_sleep_ms(settle_ms); /* the bench reads the process's memory here */
  if (ask_each(pids, n, times)) return 1;
  qsort(times, (size_t)n, sizeof *times, compare_i64);
  printf("answered n=%d p50_us=%.1f p99_us=%.1f max_us=%.1f\n", n, times[n / 2] / 1e3, times[n * 99 / 100] / 1e3, times[n - 1] / 1e3);
  return 0;
}

/* ---- sleepers ---- */

EXPORT("sleeper") void sleeper(int64_t packed) {
  int32_t parent = (int32_t)(packed >> 32), ms = (int32_t)packed;
  lunatic_sleep_ms((uint32_t)ms);
  int64_t woke = now_ns();
  lunatic_send(parent, TAG_ANSWER, &woke, sizeof woke);
}

static int sleepers(int n, int ms) {
  int64_t t0 = now_ns(), last = 0;
  for (int i = 0; i < n; i++) {
    int32_t pid = lunatic_spawn_named("sleeper", ((int64_t)lunatic_self() << 32) | ms, 0, 0);
    if (pid < 0) return fprintf(stderr, "spawn %d failed: %d\n", i, pid), 1;
  }
  for (int i = 0; i < n; i++) {
    int64_t woke;
    if (lunatic_receive(&woke, sizeof woke, TAG_ANSWER, LUNATIC_FOREVER, &info) != sizeof woke) return 1;
    if (woke > last) last = woke;
    if (woke - t0 < (int64_t)ms * 1000000) return fprintf(stderr, "a sleep ended early\n"), 1;
  }
  printf("slept n=%d last_ms=%.1f\n", n, (last - t0) / 1e6);
  return 0;
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "";
  int n = argc > 2 ? atoi(argv[2]) : 1000;
  if (!strcmp(what, "spawn")) return spawn_many(n, argc > 3 && argv[3][0] == 'c');
  if (!strcmp(what, "waiters")) return waiters(n, argc > 3 ? atoi(argv[3]) : 100);
  if (!strcmp(what, "sleepers")) return sleepers(n, argc > 3 ? atoi(argv[3]) : 100);
  fprintf(stderr, "usage: spawns spawn N [call] | waiters N [SETTLE_MS] | sleepers N MS\n");
  return 2;
}
