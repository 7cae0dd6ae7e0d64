// A process that never blocks: a busy `for (;;)` loop that prints its counter rarely.
// Without preemption it would freeze the page; with reduction counters it gets time slices
// like any other process, and the clock beside it keeps ticking.
#include <stdio.h>

// One line per 2^27 rounds: a few a second when the spinner has the CPU to itself.
#define ROUNDS_PER_LINE (1ull << 27)

int main(void) {
  unsigned long long rounds = 0;
  for (;;) {
    rounds++;
    if (rounds % ROUNDS_PER_LINE == 0) {
      printf("spinner: %llu rounds\n", rounds);
      fflush(stdout);
    }
  }
}
