// One program for every role a node plays in the distribution tests and bench
// (test/distribution.test.ts, bench/cluster.ts); the role is the first argument (times are
// measured inside wasm with the monotonic clock and printed in nanoseconds):
//   hello                print this node's index (its first pid's high bits) and exit
//   whereis NAME         print the pid registered under NAME (or the error code) once
//   serve NAME           register NAME, answer pings (tag 1) with pongs (tag 2), crash on tag 4
//   ping NAME COUNT      send COUNT numbered pings to NAME and check the pongs come back in order
//   flood NAME COUNT     send COUNT messages to NAME as fast as it can, then ask how many arrived
//   pingtime NAME COUNT  COUNT ping-pongs with NAME: round-trip p50 and p99
//   spawntime NODE COUNT COUNT remote spawns on NODE: the first (module sent) and the p50 of the others
//   monitor NAME CRASH   monitor NAME and link to it (trapping links), ask it to crash when CRASH
//                        is 1, and print the DOWN and the LINK_DOWN that come
//   spawn NODE           spawn "worker" on NODE and check it reports back
//   spawn NODE N         the same N times (N > 1: one line at the end)
// Each line is flushed at once: the tests read them while the node runs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lunatic.h"

#define TAG_PING 1
#define TAG_PONG 2
#define TAG_CRASH 4
#define TAG_WORKER 5
#define TAG_FLOOD 6
#define TAG_COUNT 7

static lunatic_message_t info;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t percentile(int64_t *values, int32_t count, int32_t percent) {
  qsort(values, count, sizeof *values, by_value);
  return values[(count - 1) * percent / 100];
}

static void say(const char *format, long a, long b) {
  printf(format, a, b);
  fflush(stdout);
}

static int32_t find(const char *name) {
  for (int tries = 0; tries < 200; tries++) {
    int32_t pid = lunatic_whereis_named(name);
    if (pid > 0) return pid;
    lunatic_sleep_ms(25);
  }
  return -LUNATIC_ESRCH;
}

__attribute__((export_name("idle"))) void idle(void) {}

/* Spawned on another node by spawntime: reports its pid, nothing else (what the bench times). */
__attribute__((export_name("reporter"))) void reporter(int64_t parent) {
  int32_t report[2] = {lunatic_self(), 0};
  lunatic_send((int32_t)parent, TAG_WORKER, report, sizeof report);
}

/* Spawned on another node: reports its pid and whether it may spawn there itself (1, or the error). */
__attribute__((export_name("worker"))) void worker(int64_t parent) {
  int32_t child = lunatic_spawn_named("idle", 0, 0, 0);
  int32_t report[2] = {lunatic_self(), child > 0 ? 1 : child};
  lunatic_send((int32_t)parent, TAG_WORKER, report, sizeof report);
}

static int serve(const char *name) {
  int32_t registered = lunatic_register_named(name);
  say("ready %ld %ld\n", lunatic_self(), registered);
  if (registered < 0) return 1;
  char buffer[256];
  int32_t floods = 0;
  for (;;) {
    int32_t size = lunatic_receive(buffer, sizeof buffer, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
    if (size < 0) continue;
    if (info.tag == TAG_FLOOD) floods++;
    if (info.tag == TAG_COUNT) lunatic_send(info.sender, TAG_PONG, &floods, sizeof floods);
    if (info.tag == TAG_PING) lunatic_send(info.sender, TAG_PONG, buffer, size);
    if (info.tag == TAG_CRASH) __builtin_trap();
  }
}

static int ping(const char *name, int32_t count) {
  int32_t server = find(name);
  if (server < 0) return say("no server %ld %ld\n", 0, server), 1;
  for (int32_t i = 0; i < count; i++) {
    int32_t sent = lunatic_send(server, TAG_PING, &i, sizeof i);
    if (sent < 0) return say("send %ld failed %ld\n", i, sent), 1;
    int32_t answer = -1;
    if (lunatic_receive(&answer, sizeof answer, TAG_PONG, 5000, &info) < 0 || answer != i) return say("pong %ld was %ld\n", i, answer), 1;
  }
  say("pongs %ld in order from node %ld\n", count, LUNATIC_NODE_OF(server));
  return 0;
}

static int flood(const char *name, int32_t count) {
  int32_t server = find(name);
  if (server < 0) return 1;
  int64_t start = now_ns();
  for (int32_t i = 0; i < count; i++) {
    if (lunatic_send(server, TAG_FLOOD, &i, sizeof i) < 0) return say("send %ld failed %ld\n", i, 0), 1;
  }
  int32_t arrived = -1;
  lunatic_send(server, TAG_COUNT, "", 0);
  lunatic_receive(&arrived, sizeof arrived, TAG_PONG, 60000, &info);
  printf("flooded %ld arrived %ld ns %lld\n", (long)count, (long)arrived, (long long)(now_ns() - start));
  fflush(stdout);
  return 0;
}

static int pingtime(const char *name, int32_t count) {
  int32_t server = find(name);
  if (server < 0 || count < 1) return 1;
  int64_t *rtt = malloc(sizeof *rtt * count);
  for (int32_t i = 0; i < count; i++) {
    int64_t start = now_ns();
    lunatic_send(server, TAG_PING, &i, sizeof i);
    int32_t answer = -1;
    if (lunatic_receive(&answer, sizeof answer, TAG_PONG, 5000, &info) < 0 || answer != i) return say("pong %ld was %ld\n", i, answer), 1;
    rtt[i] = now_ns() - start;
  }
  int64_t p50 = percentile(rtt, count, 50), p99 = percentile(rtt, count, 99);
  printf("rtt p50 %lld p99 %lld ns\n", (long long)p50, (long long)p99);
  fflush(stdout);
  return 0;
}

static int spawntime(const char *node, int32_t count) {
  if (count < 2) return 1;
  int64_t *took = malloc(sizeof *took * count);
  for (int32_t i = 0; i < count; i++) {
    int64_t start = now_ns();
    int32_t child = lunatic_spawn_on_named(node, "reporter", lunatic_self(), 0, 0);
    took[i] = now_ns() - start;
    if (child < 0) return say("spawn refused %ld %ld\n", child, 0), 1;
    int32_t reported[2] = {0, 0};
    if (lunatic_receive(reported, sizeof reported, TAG_WORKER, 5000, &info) < 0 || reported[0] != child) return say("worker %ld said %ld\n", child, reported[0]), 1;
  }
  int64_t first = took[0];
  printf("spawn first %lld p50 %lld ns\n", (long long)first, (long long)percentile(took + 1, count - 1, 50));
  fflush(stdout);
  return 0;
}

static int monitor(const char *name, int crash) {
  int32_t target = find(name);
  if (target < 0) return 1;
  lunatic_trap_links(1);
  say("monitor %ld -> %ld", target, lunatic_monitor(target));
  say(", link %ld\n", lunatic_link(target), 0);
  if (crash) lunatic_send(target, TAG_CRASH, "", 0);
  lunatic_down_t down;
  int32_t size = lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, 20000, &info);
  if (size < 0) return say("no down %ld %ld\n", size, 0), 1;
  say("down %ld reason %ld\n", down.pid, down.reason);
  size = lunatic_receive(&down, sizeof down, LUNATIC_TAG_LINK_DOWN, 20000, &info);
  if (size < 0) return say("no link down %ld %ld\n", size, 0), 1;
  say("linkdown %ld reason %ld\n", down.pid, down.reason);
  return 0;
}

static int spawn_on(const char *node, int32_t count) {
  for (int32_t i = 0; i < count; i++) {
    int32_t child = lunatic_spawn_on_named(node, "worker", lunatic_self(), 0, 0);
    if (child < 0) return say("spawn refused %ld %ld\n", child, 0), 0;
    int32_t reported[2] = {0, 0};
    if (lunatic_receive(reported, sizeof reported, TAG_WORKER, 5000, &info) < 0 || reported[0] != child) return say("worker %ld said %ld\n", child, reported[0]), 1;
    if (count == 1) say("spawned %ld on node %ld", child, LUNATIC_NODE_OF(child)), say(", it may spawn: %ld\n", reported[1], 0);
  }
  if (count > 1) say("spawned %ld workers %ld\n", count, 0);
  return 0;
}

int main(int argc, char **argv) {
  const char *role = argc > 1 ? argv[1] : "";
  const char *target = argc > 2 ? argv[2] : "";
  int32_t number = argc > 3 ? atoi(argv[3]) : 1;
  if (!strcmp(role, "hello")) return say("node %ld %ld\n", LUNATIC_NODE_OF(lunatic_self()), 0), 0;
  if (!strcmp(role, "whereis")) return say("whereis %ld %ld\n", lunatic_whereis_named(target), 0), 0;
  if (!strcmp(role, "serve")) return serve(target);
  if (!strcmp(role, "ping")) return ping(target, number);
  if (!strcmp(role, "flood")) return flood(target, number);
  if (!strcmp(role, "pingtime")) return pingtime(target, number);
  if (!strcmp(role, "spawntime")) return spawntime(target, number);
  if (!strcmp(role, "monitor")) return monitor(target, number);
  if (!strcmp(role, "spawn")) return spawn_on(target, number);
  fprintf(stderr, "unknown role %s\n", role);
  return 2;
}
