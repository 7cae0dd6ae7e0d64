// A process that blocks in `fgets` until the user types a line on the page, then echoes it.
// The read is an ordinary blocking WASI fd_read; the runtime suspends the process meanwhile.
#include <stdio.h>

int main(void) {
  char line[512];
  printf("type a line and press Enter\n");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    printf("echo: %s", line);
    fflush(stdout);
  }
  printf("echo: end of input\n");
  return 0;
}
