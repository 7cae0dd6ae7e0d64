/* A listener given to a process on another thread (test/threads.test.ts): main listens, prints
 * "listening on 127.0.0.1:PORT", and gives the listener to a child (placed on a worker); the child
 * accepts argv[1] connections and answers each with its first line, prefixed with the
 * connection's number: itself, or (argv[2] "handlers") through a handler process it spawns and
 * gives the connection to, wherever the handler is placed. Then main exits with 3 (another code
 * says what failed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lunatic.h"

#define EXPORT(name) __attribute__((export_name(name)))
static const char HOST[] = "127.0.0.1";

static void serve(int32_t socket, int32_t number) {
  char line[256];
  int32_t size = lunatic_tcp_read(socket, line, sizeof line, 5000);
  if (size <= 0) lunatic_exit(2);
  char answer[300];
  int length = snprintf(answer, sizeof answer, "%d %.*s", (int)number, (int)size, line);
  lunatic_tcp_write(socket, answer, (size_t)length, 5000);
  lunatic_close(socket);
}

/* Gets its connection's number and socket handle (tag 2) and serves it. */
EXPORT("handler") void handler(void) {
  int32_t given[2];
  lunatic_receive(given, sizeof given, 2, LUNATIC_FOREVER, NULL);
  serve(given[1], given[0]);
}

/* count: the connections to serve, times 2, plus 1 to hand each to a handler. */
EXPORT("acceptor") void acceptor(int64_t arg) {
  int64_t count = arg / 2;
  int handlers = (int)(arg % 2);
  int32_t listener = 0;
  lunatic_receive(&listener, sizeof listener, 1, LUNATIC_FOREVER, NULL);
  for (int32_t served = 1; served <= count; served++) {
    int32_t socket = lunatic_tcp_accept(listener, LUNATIC_FOREVER);
    if (socket < 0) lunatic_exit(1);
    if (!handlers) {
      serve(socket, served);
      continue;
    }
    int32_t child = lunatic_spawn_named("handler", 0, 0, 0);
    if (child < 0 || lunatic_give(socket, child) != 0) lunatic_exit(3);
    lunatic_monitor(child);
    int32_t given[2] = {served, socket};
    lunatic_send(child, 2, given, sizeof given);
  }
  /* the run ends with the acceptor: not before its handlers */
  for (int32_t i = 0; handlers && i < count; i++) {
    lunatic_down_t down;
    lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
    if (down.reason != LUNATIC_REASON_EXITED || down.code != 0) lunatic_exit(4);
  }
}

int main(int argc, char **argv) {
  uint32_t port = 0;
  int32_t listener = lunatic_tcp_listen(HOST, sizeof HOST - 1, 0, &port);
  if (listener < 0) return 10;
  int64_t count = argc > 1 ? atoi(argv[1]) : 1;
  int handlers = argc > 2 && strcmp(argv[2], "handlers") == 0;
  int32_t child = lunatic_spawn_named("acceptor", count * 2 + handlers, 0, 0);
  lunatic_monitor(child);
  if (lunatic_give(listener, child) != 0) return 11;
  lunatic_send(child, 1, &listener, sizeof listener);
  printf("listening on %s:%u\n", HOST, port);
  fflush(stdout);
  lunatic_down_t down;
  lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
  return down.reason == LUNATIC_REASON_EXITED && down.code == 0 ? 3 : 20 + down.reason * 10 + down.code;
}
