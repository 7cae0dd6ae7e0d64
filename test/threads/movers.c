// Processes that move between threads (test/threads.test.ts, test/threads-moves.test.ts). main
// spawns WORKERS workers of uneven length (the odd ones do HEAVY times the work of the even ones);
// placed on two threads in turn, one thread runs out of work first, and the other's runnable
// workers move to it. While they compute, a feeder sends each worker numbered messages, which it
// takes between chunks of work, checking their order; one worker holds a configuration handle it
// was given, and spawns under it after its work; one crashes on main's cue once it has reported,
// which its monitor (main) and a process linked to it (killed by the link) see. Output: one line per worker in index order,
// then the ends: the same on any number of threads, moving or not.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lunatic.h"

#define EXPORT(name) __attribute__((export_name(name)))

#define WORKERS 6
#define HEAVY 6
#define CHUNK_STEPS 4000000
#define LIGHT_CHUNKS 8
#define FEED 100
#define CRASHING 3
#define HOLDER 5

#define TAG_MAIN 1
#define TAG_SEQ 2
#define TAG_RESULT 3
#define TAG_PIDS 4
#define TAG_TARGET 5
#define TAG_CONFIG 6
#define TAG_LINKED 7
#define TAG_CUE 8

typedef struct {
  int32_t index;
  uint32_t checksum;
  int32_t received;
  int32_t in_order;
  int32_t spawned;
} result_t;

static int32_t take_seq(int32_t timeout, int32_t *expected, int32_t *in_order) {
  int32_t value = 0;
  int32_t size = lunatic_receive(&value, sizeof value, TAG_SEQ, timeout, NULL);
  if (size < 0) return 0;
  if (value != (*expected)++) *in_order = 0;
  return 1;
}

EXPORT("worker") void worker(int64_t index) {
  int32_t main_pid = 0;
  lunatic_receive(&main_pid, sizeof main_pid, TAG_MAIN, LUNATIC_FOREVER, NULL);
  int32_t config = 0;
  if (index == HOLDER) lunatic_receive(&config, sizeof config, TAG_CONFIG, LUNATIC_FOREVER, NULL);
  uint32_t x = (uint32_t)index + 1;
  int32_t expected = 1, in_order = 1, received = 0;
  int chunks = LIGHT_CHUNKS * (index % 2 ? HEAVY : 1);
  for (int chunk = 0; chunk < chunks; chunk++) {
    for (int step = 0; step < CHUNK_STEPS; step++) x = x * 1664525u + 1013904223u;
    while (take_seq(0, &expected, &in_order)) received++;
  }
  while (received < FEED && take_seq(LUNATIC_FOREVER, &expected, &in_order)) received++;
  /* the holder spawns under the configuration it was given (which allows no spawning: -EPERM) */
  int32_t spawned = index == HOLDER ? lunatic_spawn_named("nothing", 0, 0, config) > 0 : 0;
  result_t result = {(int32_t)index, x, received, in_order, spawned};
  lunatic_send(main_pid, TAG_RESULT, &result, sizeof result);
  if (index != CRASHING) return;
  lunatic_receive(NULL, 0, TAG_CUE, LUNATIC_FOREVER, NULL);
  __builtin_trap();
}

EXPORT("nothing") void nothing(void) {}

/* Sends every worker FEED numbered messages, in rounds spread over the workers' run. */
EXPORT("feeder") void feeder(void) {
  int32_t pids[WORKERS];
  lunatic_receive(pids, sizeof pids, TAG_PIDS, LUNATIC_FOREVER, NULL);
  uint32_t x = 7;
  for (int32_t seq = 1; seq <= FEED; seq++) {
    for (int i = 0; i < WORKERS; i++) {
      while (lunatic_send(pids[i], TAG_SEQ, &seq, sizeof seq) == -LUNATIC_EFULL) lunatic_sleep_ms(1);
    }
    for (int step = 0; step < CHUNK_STEPS / 4; step++) x = x * 1664525u + 1013904223u;
  }
  if (x == 0) puts("unlikely");
}

/* Links to the pid it is sent, then waits: the crash of that process kills it. */
EXPORT("buddy") void buddy(void) {
  int32_t target = 0, main_pid = 0;
  lunatic_receive(&main_pid, sizeof main_pid, TAG_MAIN, LUNATIC_FOREVER, NULL);
  lunatic_receive(&target, sizeof target, TAG_TARGET, LUNATIC_FOREVER, NULL);
  int32_t linked = lunatic_link(target);
  lunatic_send(main_pid, TAG_LINKED, &linked, sizeof linked);
  lunatic_receive(NULL, 0, 99, LUNATIC_FOREVER, NULL);
}

int main(void) {
  int32_t self = lunatic_self();
  int32_t workers[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    workers[i] = lunatic_spawn_named("worker", i, LUNATIC_SPAWN_MONITOR, 0);
    lunatic_send(workers[i], TAG_MAIN, &self, sizeof self);
  }
  int32_t config = lunatic_config_new();
  lunatic_config_deny_spawn(config);
  lunatic_send(workers[HOLDER], TAG_CONFIG, &config, sizeof config);
  int32_t given = lunatic_give(config, workers[HOLDER]);
  int32_t buddy_pid = lunatic_spawn_named("buddy", 0, LUNATIC_SPAWN_MONITOR, 0);
  lunatic_send(buddy_pid, TAG_MAIN, &self, sizeof self);
  lunatic_send(buddy_pid, TAG_TARGET, &workers[CRASHING], sizeof(int32_t));
  int32_t feeder_pid = lunatic_spawn_named("feeder", 0, 0, 0);
  lunatic_send(feeder_pid, TAG_PIDS, workers, sizeof workers);

  result_t results[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    result_t result;
    lunatic_receive(&result, sizeof result, TAG_RESULT, LUNATIC_FOREVER, NULL);
    results[result.index] = result;
  }
  int32_t linked = -1;
  lunatic_receive(&linked, sizeof linked, TAG_LINKED, LUNATIC_FOREVER, NULL);
  lunatic_send(workers[CRASHING], TAG_CUE, NULL, 0);
  printf("config given: %d, buddy linked: %d\n", given, linked);
  for (int i = 0; i < WORKERS; i++) {
    printf("worker %d: checksum %08x, received %d, in order %d, spawned %d\n", i, results[i].checksum, results[i].received,
           results[i].in_order, results[i].spawned);
  }
  int reasons[4] = {0, 0, 0, 0};
  int crashed_worker = -1, buddy_reason = -1;
  for (int i = 0; i < WORKERS + 1; i++) {
    lunatic_down_t down;
    lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
    if (down.pid == buddy_pid) {
      buddy_reason = down.reason;
      continue;
    }
    reasons[down.reason & 3]++;
    for (int w = 0; w < WORKERS; w++)
      if (workers[w] == down.pid && down.reason == LUNATIC_REASON_CRASHED) crashed_worker = w;
  }
  printf("workers ended: %d exited, %d crashed (worker %d), %d killed\n", reasons[0], reasons[1], crashed_worker, reasons[2]);
  printf("buddy: reason %d\n", buddy_reason);
  return 0;
}
