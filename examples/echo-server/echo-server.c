/*
 * A TCP echo server with one lunatic process per connection.
 *
 * main listens on 127.0.0.1 (port argv[1], default 0 = any free port), prints the bound port
 * and spawns a process running conn_handler for every accepted connection, giving it the
 * socket. A connection that sends a line starting with "CRASH" makes its own process trap:
 * the other connections keep being served. When spawning is denied (--no-spawn), the client
 * is told so and disconnected.
 *
 * Build: ./build.sh; run: lunatic-instrument run echo-server.wasm --allow-listen 127.0.0.1:0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunatic.h"

static const char HOST[] = "127.0.0.1";
static const char CRASH[] = "CRASH";

static int starts_with_crash(const char *data, int32_t length) {
  return length >= (int32_t)(sizeof CRASH - 1) && memcmp(data, CRASH, sizeof CRASH - 1) == 0;
}

__attribute__((export_name("conn_handler")))
void conn_handler(int64_t arg) {
  int32_t socket = (int32_t)arg;
  char buffer[16384];
  for (;;) {
    int32_t length = lunatic_tcp_read(socket, buffer, sizeof buffer, LUNATIC_FOREVER);
    if (length <= 0) break;
    if (starts_with_crash(buffer, length)) __builtin_trap();
    if (lunatic_tcp_write(socket, buffer, (size_t)length, LUNATIC_FOREVER) < 0) break;
  }
  lunatic_close(socket);
}

/* Tells the client why it is not served and drops it. */
static void refuse(int32_t socket, int32_t error) {
  char line[64];
  int length = snprintf(line, sizeof line, "error: cannot spawn a handler (%d)\n", (int)error);
  lunatic_tcp_write(socket, line, (size_t)length, 1000);
  lunatic_close(socket);
}

int main(int argc, char **argv) {
  uint32_t port = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 0;
  uint32_t bound = 0;
  int32_t listener = lunatic_tcp_listen(HOST, strlen(HOST), port, &bound);
  if (listener < 0) {
    fprintf(stderr, "echo-server: cannot listen on %s:%u (error %d): allow it with --allow-listen %s:%u\n", HOST, port, (int)listener, HOST, port);
    return 1;
  }
  printf("listening on %s:%u\n", HOST, bound);
  fflush(stdout);
  for (;;) {
    int32_t socket = lunatic_tcp_accept(listener, LUNATIC_FOREVER);
    if (socket < 0) continue;
    int32_t child = lunatic_spawn_named("conn_handler", socket, 0, 0);
    if (child < 0) {
      fprintf(stderr, "echo-server: cannot spawn a handler (error %d)\n", (int)child);
      refuse(socket, child);
      continue;
    }
    lunatic_give(socket, child);
  }
}
