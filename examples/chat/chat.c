/*
 * A line-based chat server (like Lunatic's telnet chat), one lunatic process per role:
 *
 *   main         listens, finds or spawns the coordinator, then a `client` process per connection
 *   coordinator  keeps the list of clients (monitoring each) and broadcasts every line
 *   client       owns the connection: relays its lines to the coordinator and writes the
 *                coordinator's broadcasts to the socket
 *   reader       reads the socket (a clone of the client's handle), splits it into lines and
 *                sends them to its client; linked to it, so one never outlives the other
 *
 * Commands: "/nick NAME" renames you, "/quit" leaves. Others see "NAME: text"; joins and
 * leaves show as "* NAME joined" / "* NAME left".
 *
 * Build: ./build.sh; run: lunatic-instrument run chat.wasm --allow-listen 127.0.0.1:0
 *
 * Across machines: every node runs this program with --node NAME --nats URL. The first one's
 * coordinator registers the cluster-wide name "chat.coordinator"; the main of every later node
 * finds it with lunatic_whereis and hands its clients to it, so clients connected to different
 * nodes talk to each other (messages, monitors and DOWN travel between the nodes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunatic.h"

enum {
  TAG_JOIN = 1,   /* client -> coordinator: payload = nick */
  TAG_SAY = 2,    /* client -> coordinator: payload = text line (with "\n") */
  TAG_NICK = 3,   /* client -> coordinator: payload = new nick */
  TAG_LINE = 4,   /* coordinator -> client: payload = line to write */
  TAG_INPUT = 5,  /* reader -> client: payload = a line the user typed (without "\n") */
  TAG_EOF = 6,    /* reader -> client: the connection ended */
};

#define MAX_LINE 1024
#define MAX_NICK 32
#define MAX_CLIENTS 4096
#define COORDINATOR_NAME "chat.coordinator"

static const char HOST[] = "127.0.0.1";

/* Sends, waiting while the receiver's mailbox is full; gives up when it is gone. */
static int send_waiting(int32_t pid, int64_t tag, const void *data, size_t length) {
  for (;;) {
    int32_t result = lunatic_send(pid, tag, data, length);
    if (result != -LUNATIC_EFULL) return result;
    lunatic_sleep_ms(1);
  }
}

static int64_t pack(int32_t high, int32_t low) { return ((int64_t)high << 32) | (uint32_t)low; }

/* ---- coordinator ---- */

struct member {
  int32_t pid;
  char nick[MAX_NICK + 1];
};

static struct member members[MAX_CLIENTS];
static int member_count;

static struct member *find_member(int32_t pid) {
  for (int i = 0; i < member_count; i++)
    if (members[i].pid == pid) return &members[i];
  return NULL;
}

static void broadcast(int32_t except, const char *line, size_t length) {
  for (int i = 0; i < member_count; i++)
    if (members[i].pid != except) send_waiting(members[i].pid, TAG_LINE, line, length);
}

static void announce(const struct member *who, const char *what) {
  char line[MAX_LINE];
  int length = snprintf(line, sizeof line, "* %s %s\n", who->nick, what);
  broadcast(who->pid, line, (size_t)length);
}

static void set_nick(struct member *who, const char *nick, uint32_t length) {
  if (length > MAX_NICK) length = MAX_NICK;
  memcpy(who->nick, nick, length);
  who->nick[length] = 0;
}

static void leave(int32_t pid) {
  struct member *who = find_member(pid);
  if (!who) return;
  struct member gone = *who;
  *who = members[--member_count];
  announce(&gone, "left");
}

__attribute__((export_name("coordinator")))
void coordinator(void) {
  static char message[MAX_LINE + MAX_NICK + 8];
  lunatic_message_t info;
  lunatic_register_named(COORDINATOR_NAME); /* so the mains of other nodes find it */
  for (;;) {
    int32_t length = lunatic_receive(message, sizeof message, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
    if (length < 0) continue;
    struct member *who = find_member(info.sender);
    if (info.tag == TAG_JOIN && !who && member_count < MAX_CLIENTS) {
      who = &members[member_count++];
      who->pid = info.sender;
      set_nick(who, message, (uint32_t)length);
      lunatic_monitor(info.sender);
      announce(who, "joined");
    } else if (info.tag == TAG_NICK && who) {
      set_nick(who, message, (uint32_t)length);
    } else if (info.tag == TAG_SAY && who) {
      char line[MAX_LINE + MAX_NICK + 8];
      int prefix = snprintf(line, sizeof line, "%s: ", who->nick);
      if (length > (int32_t)(sizeof line) - prefix) length = (int32_t)sizeof line - prefix;
      memcpy(line + prefix, message, (size_t)length);
      broadcast(who->pid, line, (size_t)(prefix + length));
    } else if (info.tag == LUNATIC_TAG_DOWN) {
      leave(((lunatic_down_t *)message)->pid);
    }
  }
}

/* ---- reader: socket -> lines -> its client ---- */

__attribute__((export_name("reader")))
void reader(int64_t arg) {
  int32_t client = (int32_t)(arg >> 32), socket = (int32_t)arg;
  static char line[MAX_LINE];
  size_t filled = 0;
  char chunk[4096];
  for (;;) {
    int32_t length = lunatic_tcp_read(socket, chunk, sizeof chunk, LUNATIC_FOREVER);
    if (length <= 0) break;
    for (int32_t i = 0; i < length; i++) {
      if (chunk[i] == '\r') continue;
      if (chunk[i] != '\n' && filled < sizeof line) {
        line[filled++] = chunk[i];
        continue;
      }
      if (chunk[i] == '\n') {
        send_waiting(client, TAG_INPUT, line, filled);
        filled = 0;
      }
    }
  }
  send_waiting(client, TAG_EOF, "", 0);
}

/* ---- client: one per connection ---- */

static void write_text(int32_t socket, const char *text) { lunatic_tcp_write(socket, text, strlen(text), 5000); }

__attribute__((export_name("client")))
void client(int64_t arg) {
  int32_t coordinator_pid = (int32_t)(arg >> 32), socket = (int32_t)arg;
  int32_t read_side = lunatic_tcp_clone(socket);
  int32_t reader_pid = lunatic_spawn_named("reader", pack(lunatic_self(), read_side), LUNATIC_SPAWN_LINK, 0);
  if (read_side < 0 || reader_pid < 0 || lunatic_give(read_side, reader_pid) < 0) {
    write_text(socket, "error: cannot start a reader\n");
    return;
  }
  char nick[MAX_NICK + 1];
  snprintf(nick, sizeof nick, "user%d", (int)lunatic_self());
  send_waiting(coordinator_pid, TAG_JOIN, nick, strlen(nick));
  char welcome[96];
  snprintf(welcome, sizeof welcome, "welcome, %s! /nick NAME to rename, /quit to leave\n", nick);
  write_text(socket, welcome);

  static char message[MAX_LINE + MAX_NICK + 8];
  lunatic_message_t info;
  for (;;) {
    int32_t length = lunatic_receive(message, sizeof message, LUNATIC_TAG_ANY, LUNATIC_FOREVER, &info);
    if (length < 0) continue;
    if (info.tag == TAG_LINE) {
      if (lunatic_tcp_write(socket, message, (size_t)length, 5000) < 0) break;
    } else if (info.tag == TAG_EOF) {
      break;
    } else if (info.tag == TAG_INPUT) {
      if (length == 5 && memcmp(message, "/quit", 5) == 0) break;
      if (length > 6 && memcmp(message, "/nick ", 6) == 0) {
        send_waiting(coordinator_pid, TAG_NICK, message + 6, (size_t)length - 6);
        continue;
      }
      message[length] = '\n';
      send_waiting(coordinator_pid, TAG_SAY, message, (size_t)length + 1);
    }
  }
  lunatic_close(socket);
  lunatic_kill(reader_pid);
}

int main(int argc, char **argv) {
  uint32_t port = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 0, bound = 0;
  int32_t listener = lunatic_tcp_listen(HOST, strlen(HOST), port, &bound);
  if (listener < 0) {
    fprintf(stderr, "chat: cannot listen on %s:%u (error %d): allow it with --allow-listen %s:%u\n", HOST, port, (int)listener, HOST, port);
    return 1;
  }
  int32_t coordinator_pid = lunatic_whereis_named(COORDINATOR_NAME); /* another node's */
  if (coordinator_pid >= 0) {
    lunatic_link(coordinator_pid); /* this node's clients are of no use once it is gone */
  } else {
    coordinator_pid = lunatic_spawn_named("coordinator", 0, LUNATIC_SPAWN_LINK, 0);
    /* Wait (a little) for its name, so a node started after "listening" finds it. */
    for (int i = 0; i < 1000 && coordinator_pid > 0 && lunatic_whereis_named(COORDINATOR_NAME) != coordinator_pid; i++) lunatic_sleep_ms(1);
  }
  if (coordinator_pid < 0) {
    fprintf(stderr, "chat: cannot spawn the coordinator (error %d)\n", (int)coordinator_pid);
    return 1;
  }
  printf("listening on %s:%u\n", HOST, bound);
  fflush(stdout);
  for (;;) {
    int32_t socket = lunatic_tcp_accept(listener, LUNATIC_FOREVER);
    if (socket < 0) continue;
    int32_t child = lunatic_spawn_named("client", pack(coordinator_pid, socket), 0, 0);
    if (child < 0 || lunatic_give(socket, child) < 0) lunatic_close(socket);
  }
}
