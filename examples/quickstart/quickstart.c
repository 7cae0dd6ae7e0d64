// The quickstart program (README): two processes that never yield and one that blocks.
// Each spinner runs a busy loop with no call in it; the reduction checks the instrumenter adds
// preempt it, so the two spinners' lines interleave. Meanwhile main waits in a plain fgets() on
// stdin: only main waits, the spinners keep running. Built by build.sh; the .wasm is committed.
#include <stdint.h>
#include <stdio.h>

#include "lunatic.h"

#define ROUNDS 3
#define STEPS_PER_ROUND 20000000u

__attribute__((export_name("spinner")))
void spinner(int64_t id) {
  volatile uint32_t sum = 0;
  for (int round = 1; round <= ROUNDS; round++) {
    for (uint32_t step = 0; step < STEPS_PER_ROUND; step++) sum += step; // no call, no yield
    printf("spinner %d: round %d of %d\n", (int)id, round, ROUNDS);
    fflush(stdout);
  }
  (void)sum;
}

int main(void) {
  for (int64_t id = 1; id <= 2; id++) lunatic_spawn_named("spinner", id, LUNATIC_SPAWN_MONITOR, 0);
  printf("main: two spinners started; waiting for a line on stdin\n");
  fflush(stdout);
  char line[256];
  if (fgets(line, sizeof line, stdin)) printf("main: read %s", line);
  else printf("main: stdin ended\n");
  fflush(stdout);
  lunatic_down_t down; /* a DOWN must fit its buffer, or it stays queued (-EMSGSIZE) */
  for (int ended = 0; ended < 2; ended++) lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
  printf("main: both spinners done\n");
  return 0;
}
