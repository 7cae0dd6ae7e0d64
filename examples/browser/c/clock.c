// A process that prints the wall-clock time every 100 ms (`usleep` becomes WASI poll_oneoff,
// a blocking call that suspends the process). Its ticks keep coming while the spinner spins:
// that is preemption made visible. With a number argument it stops after that many ticks.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  long limit = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  for (long tick = 1; limit <= 0 || tick <= limit; tick++) {
    printf("tick %ld at %lld ms\n", tick, now_ms());
    fflush(stdout);
    usleep(100 * 1000);
  }
  return 0;
}
