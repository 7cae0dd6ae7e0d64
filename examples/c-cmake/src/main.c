// The CMake example's program: reads lines from stdin until end of input (blocking fd_read),
// prints each one upper-cased after a short nanosleep (blocking poll_oneoff), then a count.
// Under lunatic-instrument both waits suspend only this process, not the host.
#include <stdio.h>
#include <time.h>

#include "shout.h"

int main(void) {
  const struct timespec pause = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
  char line[256];
  int count = 0;
  while (fgets(line, sizeof line, stdin)) {
    nanosleep(&pause, NULL);
    shout(line);
    fputs(line, stdout);
    count++;
  }
  printf("%d lines\n", count);
  return 0;
}
