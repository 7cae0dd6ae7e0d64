// A native load generator for the echo benches (bench/echo.ts, bench/threads.ts), built at bench
// time with the machine's clang. The bench's other client is Node's `net` in the bench process;
// on a 2-core machine it costs about as much CPU per round trip as the server it measures, so a
// server given the second core has to share it with its clients. This one costs a few system
// calls per round trip (a share of an epoll_wait, one read, one write), leaving the server most
// of both cores.
//
// Usage: echo-client PORT CONNECTIONS SECONDS MESSAGE_BYTES
// Opens CONNECTIONS connections to 127.0.0.1:PORT, completes one round trip on each (so every
// connection's server process has started), then on each sends MESSAGE_BYTES bytes, waits for
// them all to come back and repeats, for SECONDS. Prints one line of JSON, the fields of
// bench/echo.ts's Figures: round trips per second, the fewest round trips one connection made,
// and p50/p99 latency (ms).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_MESSAGE = 65536, LATENCY_BUCKETS = 100000 /* 10 us each, up to 1 s */ };

struct connection {
  int fd;
  int pending;       // bytes of the current message not yet back
  double sent_at;    // seconds
  long round_trips;  // in the measured window
};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what) {
  fprintf(stderr, "echo-client: %s: %s\n", what, strerror(errno));
  exit(1);
}

/** The server answered wrongly: not a system call's failure, so no errno. */
static void wrong_answer(const char *what) {
  fprintf(stderr, "echo-client: the server sent back %s\n", what);
  exit(1);
}

static long latency[LATENCY_BUCKETS];
static char message[MAX_MESSAGE];

static int open_connection(const struct sockaddr_in *address) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)address, sizeof *address) < 0) fail("connect");
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void send_message(struct connection *c, int bytes) {
  c->pending = bytes;
  c->sent_at = now();
  // 64 bytes into an empty socket buffer: written whole or the connection is broken.
  if (write(c->fd, message, bytes) != bytes) fail("write");
}

/** How many of the first n bytes are the message's 'a'. */
static ssize_t memspn_a(const char *bytes, ssize_t n) {
  ssize_t i = 0;
  while (i < n && bytes[i] == 'a') i++;
  return i;
}

/**
 * Reads what arrived, in one read (epoll is level-triggered: bytes left over show up again);
 * returns 1 when the whole message is back.
 */
static int receive(struct connection *c) {
  char buffer[MAX_MESSAGE];
  ssize_t n;
  do n = read(c->fd, buffer, sizeof buffer);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return 0;
  if (n < 0) fail("read");
  if (n == 0) {
    errno = ECONNRESET;
    fail("read (the server closed the connection)");
  }
  if (memspn_a(buffer, n) != n) wrong_answer("bytes it was not sent");
  c->pending -= n;
  if (c->pending < 0) wrong_answer("more bytes than it was sent");
  return c->pending == 0;
}

/** Runs round trips on every connection until `until` (one each when `until` is 0). */
static void ping_pong(int epoll, struct connection *connections, int count, int bytes, double until, int record) {
  int waiting = count;
  for (int i = 0; i < count; i++) send_message(&connections[i], bytes);
  struct epoll_event events[256];
  while (waiting > 0) {
    int ready = epoll_wait(epoll, events, 256, 1000);
    if (ready < 0 && errno != EINTR) fail("epoll_wait");
    for (int e = 0; e < ready; e++) {
      struct connection *c = events[e].data.ptr;
      if (c->pending <= 0) wrong_answer("more bytes than it was sent");
      if (!receive(c)) continue;
      double t = now();
      if (record) {
        c->round_trips++;
        long bucket = (long)((t - c->sent_at) * 1e5);
        latency[bucket < LATENCY_BUCKETS ? bucket : LATENCY_BUCKETS - 1]++;
      }
      if (until > 0 && t < until) send_message(c, bytes);
      else waiting--;
    }
  }
}

static double percentile_ms(long total, double fraction) {
  long seen = 0, rank = (long)(total * fraction);
  for (int i = 0; i < LATENCY_BUCKETS; i++)
    if ((seen += latency[i]) > rank) return (i + 0.5) / 100.0;
  return LATENCY_BUCKETS / 100.0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: echo-client PORT CONNECTIONS SECONDS MESSAGE_BYTES\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[2]), bytes = atoi(argv[4]);
  double seconds = atof(argv[3]);
  if (port <= 0 || count <= 0 || seconds <= 0 || bytes <= 0 || bytes > MAX_MESSAGE) {
    fprintf(stderr, "echo-client: bad arguments\n");
    return 2;
  }
  memset(message, 'a', bytes);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  struct connection *connections = calloc(count, sizeof *connections);
  int epoll = epoll_create1(0);
  if (epoll < 0) fail("epoll_create1");
  for (int i = 0; i < count; i++) {
    connections[i].fd = open_connection(&address);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = &connections[i]};
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, connections[i].fd, &event) < 0) fail("epoll_ctl");
  }
  ping_pong(epoll, connections, count, bytes, 0, 0);
  double start = now();
  ping_pong(epoll, connections, count, bytes, start + seconds, 1);
  double elapsed = now() - start;
  long total = 0, fewest = -1;
  for (int i = 0; i < count; i++) {
    total += connections[i].round_trips;
    if (fewest < 0 || connections[i].round_trips < fewest) fewest = connections[i].round_trips;
    close(connections[i].fd);
  }
  printf("{\"roundTripsPerSecond\":%.0f,\"fewestPerConnection\":%ld,\"p50Ms\":%.3f,\"p99Ms\":%.3f}\n",
         total / elapsed, fewest, percentile_ms(total, 0.5), percentile_ms(total, 0.99));
  return 0;
}
