// A small WASI program for the Make recipe: it prints, sleeps with usleep (a blocking
// poll_oneoff that the runtime turns into a timer instead of blocking the host), then reads one
// line from stdin (a blocking fd_read) and echoes it. The elapsed-time line lets a test check
// that the sleep really waited, without timing anything itself.
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLEEP_US 20000

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(void) {
  printf("hello from C\n");
  long long start = now_us();
  usleep(SLEEP_US);
  printf("slept at least %d ms: %s\n", SLEEP_US / 1000, now_us() - start >= SLEEP_US ? "yes" : "no");

  char line[256];
  if (!fgets(line, sizeof line, stdin)) {
    fprintf(stderr, "prog: no input on stdin\n");
    return 1;
  }
  line[strcspn(line, "\n")] = '\0';
  printf("you said: %s\n", line);
  return 0;
}
