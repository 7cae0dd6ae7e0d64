/* A listener given to a process on another thread (test/threads.test.ts): main listens, prints
 * "listening on 127.0.0.1:PORT", and gives the listener to a child (placed on the worker with
 * --threads 2); the child accepts connections and answers each with its first line, prefixed with
 * the connection's number, until it served argv[1] of them; then main exits with 3 (another
 * code says what failed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lunatic.h"

#define EXPORT(name) __attribute__((export_name(name)))
static const char HOST[] = "127.0.0.1";

EXPORT("acceptor") void acceptor(int64_t count) {
  int32_t listener = 0;
  lunatic_receive(&listener, sizeof listener, 1, LUNATIC_FOREVER, NULL);
  for (int64_t served = 1; served <= count; served++) {
    int32_t socket = lunatic_tcp_accept(listener, LUNATIC_FOREVER);
    if (socket < 0) lunatic_exit(1);
    char line[256];
    int32_t size = lunatic_tcp_read(socket, line, sizeof line, 5000);
    if (size <= 0) lunatic_exit(2);
    char answer[300];
    int length = snprintf(answer, sizeof answer, "%d %.*s", (int)served, (int)size, line);
    lunatic_tcp_write(socket, answer, (size_t)length, 5000);
    lunatic_close(socket);
  }
}

int main(int argc, char **argv) {
  uint32_t port = 0;
  int32_t listener = lunatic_tcp_listen(HOST, sizeof HOST - 1, 0, &port);
  if (listener < 0) return 10;
  int32_t child = lunatic_spawn_named("acceptor", argc > 1 ? atoi(argv[1]) : 1, 0, 0);
  lunatic_monitor(child);
  if (lunatic_give(listener, child) != 0) return 11;
  lunatic_send(child, 1, &listener, sizeof listener);
  printf("listening on %s:%u\n", HOST, port);
  fflush(stdout);
  lunatic_down_t down;
  lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
  return down.reason == LUNATIC_REASON_EXITED && down.code == 0 ? 3 : 20 + down.reason * 10 + down.code;
}
