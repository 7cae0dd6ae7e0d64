/* The spawn scenario of bench/lunatic/spawns.c in a small module: no stdio, no malloc.
 *   spawn-small N [call]   N children, each monitored, each ends at once: spawn + run + exit + DOWN per
 *                          second; `call` monitors with lunatic_monitor after the spawn (for runtimes
 *                          without LUNATIC_SPAWN_MONITOR: a child that already ended counts as DOWN)
 * Build: bench/build.sh. */
#include "lunatic.h"
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EXPORT(name) __attribute__((export_name(name)))

static volatile int64_t sum;

EXPORT("child") void child(int64_t n) { sum += n; }

static void put(const char *text) {
  size_t len = 0;
  while (text[len]) len++;
  write(1, text, len);
}

static void put_number(int64_t value) {
  char digits[24];
  int at = sizeof digits - 1;
  digits[at] = 0;
  do digits[--at] = (char)('0' + value % 10); while ((value /= 10) > 0);
  put(digits + at);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  int call = argc > 2 && argv[2][0] == 'c';
  int downs = n;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  lunatic_message_t info;
  for (int i = 0; i < n; i++) {
    int32_t pid = lunatic_spawn_named("child", i, call ? 0 : LUNATIC_SPAWN_MONITOR, 0);
    if (pid < 0) return put("spawn failed: "), put_number(-pid), put("\n"), 1;
    if (call && lunatic_monitor(pid) == -LUNATIC_ESRCH) downs--;
  }
  for (int i = 0; i < downs; i++) {
    lunatic_down_t down;
    if (lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, &info) != sizeof down || down.reason != LUNATIC_REASON_EXITED)
      return put("bad DOWN\n"), 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int64_t ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  put("spawn n=");
  put_number(n);
  put(" per_s=");
  put_number((int64_t)n * 1000000000LL / (ns ? ns : 1));
  put("\n");
  return 0;
}
