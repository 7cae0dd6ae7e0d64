/* Scenarios for the runtime on several threads (bench/threads.ts runs each with --threads 1 and
 * --threads 2 and compares); each prints one line of figures:
 *   cpu N STEPS        N processes each run STEPS steps of a busy loop: the time until all ended
 *   uneven N STEPS     the same, every other process running 7 times as long: placed on two
 *                      threads in turn, the long ones land on one thread, and only processes
 *                      moving from it to the other even the threads out
 *   ring N ROUNDS HOPS a token goes round N processes (placed on the threads in turn, so every
 *                      hop crosses threads when there are two): the median hop over ROUNDS rounds
 *                      of HOPS hops
 *   bulk COUNT         one process sends COUNT 16-byte messages to another (on the other thread):
 *                      messages per second, counted by the receiver (with a large --mailbox)
 * Before measuring, each first spawns a process and waits for its end, so the worker thread has
 * started (workers start on first use). Build: bench/build.sh. */
#include "lunatic.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define TAG_GO 1
#define TAG_TOKEN 2
#define TAG_DONE 3

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

EXPORT("nothing") void nothing(void) {}

/* Starts the workers: a process placed on another thread, waited for. */
static void warm_up(void) {
  int32_t pid = lunatic_spawn_named("nothing", 0, 0, 0);
  lunatic_monitor(pid);
  lunatic_down_t down;
  lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
}

static void wait_downs(int count) {
  lunatic_down_t down;
  for (int i = 0; i < count; i++) lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
}

/* ---- cpu ---- */

EXPORT("busy") void busy(int64_t steps) {
  volatile uint32_t sum = 0;
  for (int64_t i = 0; i < steps; i++) sum += (uint32_t)i;
  (void)sum;
}

static void cpu(int count, int64_t steps) {
  int64_t start = now_ns();
  for (int i = 0; i < count; i++) lunatic_monitor(lunatic_spawn_named("busy", steps, 0, 0));
  wait_downs(count);
  printf("cpu processes=%d elapsed_ms=%.1f\n", count, (now_ns() - start) / 1e6);
}

static void uneven(int count, int64_t steps) {
  int64_t start = now_ns();
  for (int i = 0; i < count; i++) lunatic_monitor(lunatic_spawn_named("busy", i % 2 ? 7 * steps : steps, 0, 0));
  wait_downs(count);
  printf("uneven processes=%d elapsed_ms=%.1f\n", count, (now_ns() - start) / 1e6);
}

/* ---- ring ---- */

static int32_t ring_next; /* set by the first message */

EXPORT("ring_node") void ring_node(void) {
  lunatic_receive(&ring_next, sizeof ring_next, TAG_GO, LUNATIC_FOREVER, NULL);
  for (;;) {
    int64_t token;
    lunatic_receive(&token, sizeof token, TAG_TOKEN, LUNATIC_FOREVER, NULL);
    if (token == 0) {
      lunatic_send(ring_next, TAG_TOKEN, &token, sizeof token);
      return;
    }
    token--;
    lunatic_send(token == 0 ? lunatic_whereis_named("bench.ring.main") : ring_next, TAG_TOKEN, &token, sizeof token);
  }
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void ring(int count, int rounds, int64_t hops) {
  lunatic_register_named("bench.ring.main");
  int32_t *pids = calloc((size_t)count, sizeof *pids);
  for (int i = 0; i < count; i++) pids[i] = lunatic_spawn_named("ring_node", 0, 0, 0);
  for (int i = 0; i < count; i++) lunatic_send(pids[i], TAG_GO, &pids[(i + 1) % count], sizeof pids[0]);
  double *hop_us = calloc((size_t)rounds, sizeof *hop_us);
  for (int round = 0; round < rounds; round++) {
    int64_t token = hops, start = now_ns();
    lunatic_send(pids[0], TAG_TOKEN, &token, sizeof token);
    lunatic_receive(&token, sizeof token, TAG_TOKEN, LUNATIC_FOREVER, NULL);
    hop_us[round] = (now_ns() - start) / 1e3 / (double)(hops + 1);
  }
  int64_t stop = 0;
  for (int i = 0; i < count; i++) lunatic_monitor(pids[i]);
  lunatic_send(pids[0], TAG_TOKEN, &stop, sizeof stop);
  wait_downs(count);
  qsort(hop_us, (size_t)rounds, sizeof *hop_us, compare_doubles);
  printf("ring processes=%d rounds=%d hops=%lld median_hop_us=%.2f\n", count, rounds, (long long)hops, hop_us[rounds / 2]);
}

/* ---- bulk ---- */

EXPORT("bulk_receiver") void bulk_receiver(int64_t expected) {
  int32_t parent = 0;
  lunatic_receive(&parent, sizeof parent, TAG_GO, LUNATIC_FOREVER, NULL);
  char message[16];
  int64_t start = 0;
  for (int64_t i = 0; i < expected; i++) {
    lunatic_receive(message, sizeof message, TAG_TOKEN, LUNATIC_FOREVER, NULL);
    if (i == 0) start = now_ns();
  }
  int64_t elapsed = now_ns() - start;
  lunatic_send(parent, TAG_DONE, &elapsed, sizeof elapsed);
}

static void bulk(int64_t count) {
  int32_t receiver = lunatic_spawn_named("bulk_receiver", count, 0, 0);
  int32_t self = lunatic_self();
  lunatic_send(receiver, TAG_GO, &self, sizeof self);
  char message[16] = "0123456789abcdef";
  int64_t start = now_ns();
  for (int64_t i = 0; i < count; i++) {
    while (lunatic_send(receiver, TAG_TOKEN, message, sizeof message) == -LUNATIC_EFULL) lunatic_yield_now();
  }
  int64_t sent = now_ns() - start, received = 0;
  if (lunatic_receive(&received, sizeof received, TAG_DONE, 60000, NULL) < 0) {
    fprintf(stderr, "bulk: the receiver did not get every message\n");
    exit(1);
  }
  printf("bulk messages=%lld send_per_s=%.0f receive_per_s=%.0f\n", (long long)count, count / (sent / 1e9), count / (received / 1e9));
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: threads cpu N STEPS | uneven N STEPS | ring N ROUNDS HOPS | bulk COUNT\n");
    return 2;
  }
  warm_up();
  if (!strcmp(argv[1], "cpu") && argc == 4) cpu(atoi(argv[2]), atoll(argv[3]));
  else if (!strcmp(argv[1], "uneven") && argc == 4) uneven(atoi(argv[2]), atoll(argv[3]));
  else if (!strcmp(argv[1], "ring") && argc == 5) ring(atoi(argv[2]), atoi(argv[3]), atoll(argv[4]));
  else if (!strcmp(argv[1], "bulk") && argc == 3) bulk(atoll(argv[2]));
  else {
    fprintf(stderr, "threads: unknown scenario\n");
    return 2;
  }
  return 0;
}
