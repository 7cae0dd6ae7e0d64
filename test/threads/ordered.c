// Output in the order it was written, across threads (test/threads.test.ts). main spawns ROUNDS
// children one after another, each placed on another thread when there is one; a child prints its
// line and ends, and main prints its own once it hears of the child's end. So each child's line
// comes before main's about it, whichever thread wrote it.
#include <stdio.h>
#include "lunatic.h"

#define ROUNDS 200

static void child(int64_t round) {
  printf("child %lld\n", (long long)round);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int64_t round = 0; round < ROUNDS; round++) {
    int32_t pid = lunatic_spawn_fn(child, round, 0, 0);
    if (pid < 0 || lunatic_monitor(pid) != 0) return fprintf(stderr, "spawn %lld failed: %d\n", (long long)round, pid), 1;
    lunatic_down_t down = {0, -1, 0};
    lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, 5000, NULL);
    printf("main %lld: %d %d\n", (long long)round, down.pid == pid, down.reason);
  }
  return 0;
}
