// The lunatic API across threads (test/threads.test.ts): main runs on thread 0 and each child it
// spawns while no other child lives goes to the least-loaded thread, so with --threads 2 every
// scenario below crosses threads (thread 1), and with --threads 1 the same program runs on one
// event loop. Each line printed is a result the header documents; both runs must print the same.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lunatic.h"

#define EXPORT(name) __attribute__((export_name(name)))
#define NAME(s) s, sizeof s - 1

static int32_t parent_pid(void) {
  int32_t parent = 0;
  lunatic_receive(&parent, sizeof parent, 1, LUNATIC_FOREVER, NULL);
  return parent;
}

/* Echoes numbered messages (tag 10) back with +1 (tag 11) until it gets 0; checks their order. */
EXPORT("echo") void echo(void) {
  int32_t parent = parent_pid(), expected = 1, value = 0, in_order = 1;
  for (;;) {
    lunatic_receive(&value, sizeof value, 10, LUNATIC_FOREVER, NULL);
    if (value == 0) break;
    if (value != expected++) in_order = 0;
    value++;
    lunatic_send(parent, 11, &value, sizeof value);
  }
  lunatic_send(parent, 12, &in_order, sizeof in_order);
}

/* Sends tags 3 then 4 (for selective receive). */
EXPORT("two_tags") void two_tags(void) {
  int32_t parent = parent_pid();
  lunatic_send(parent, 3, "three", 5);
  lunatic_send(parent, 4, "four", 4);
}

EXPORT("idle") void idle(void) { lunatic_receive(NULL, 0, 99, LUNATIC_FOREVER, NULL); }

/* With a mailbox bound of 0: says it is ready (tag 13) once it waits, takes one number (tag 14), answers it +1 (tag 15). */
EXPORT("rendezvous") void rendezvous(int64_t parent) {
  int32_t value = 0, ready = 1;
  lunatic_send((int32_t)parent, 13, &ready, sizeof ready);
  value = lunatic_receive(&value, sizeof value, 14, LUNATIC_FOREVER, NULL) == sizeof value ? value + 1 : -1;
  lunatic_send((int32_t)parent, 15, &value, sizeof value);
}
EXPORT("crasher") void crasher(void) { __builtin_trap(); }
EXPORT("crash_on_cue") void crash_on_cue(void) { lunatic_receive(NULL, 0, 5, LUNATIC_FOREVER, NULL); __builtin_trap(); }
EXPORT("spin") void spin(void) { volatile int x = 0; for (;;) x++; }

/* Links to the pid it is sent (tag 2), says so (tag 6), then waits: the link's failure kills it. */
EXPORT("victim") void victim(void) {
  int32_t parent = parent_pid(), target = 0;
  lunatic_receive(&target, sizeof target, 2, LUNATIC_FOREVER, NULL);
  int32_t linked = lunatic_link(target);
  lunatic_send(parent, 6, &linked, sizeof linked);
  lunatic_receive(NULL, 0, 99, LUNATIC_FOREVER, NULL);
}

/* Tries to spawn (its config may deny it) and reports the result (tag 7). */
EXPORT("try_spawn") void try_spawn(void) {
  int32_t parent = parent_pid();
  int32_t child = lunatic_spawn_named("crasher", 0, 0, 0);
  int32_t result = child > 0 ? 1 : child;
  lunatic_send(parent, 7, &result, sizeof result);
}

/* Registers a name, says so (tag 8), waits to be told to go. */
EXPORT("named") void named(void) {
  int32_t parent = parent_pid();
  int32_t result = lunatic_register(NAME("threads.probe"));
  lunatic_send(parent, 8, &result, sizeof result);
  lunatic_receive(NULL, 0, 9, LUNATIC_FOREVER, NULL);
}

/* Receives a large message (tag 13) and answers with its size and byte sum (tag 14). */
EXPORT("big") void big(void) {
  int32_t parent = parent_pid();
  lunatic_message_t info;
  static unsigned char buffer[3 << 20];
  int32_t size = lunatic_receive(buffer, sizeof buffer, 13, LUNATIC_FOREVER, &info);
  uint32_t sum = 0;
  for (int32_t i = 0; i < size; i++) sum += buffer[i];
  uint32_t answer[2] = {(uint32_t)size, sum};
  lunatic_send(parent, 14, answer, sizeof answer);
}

/* Prints a line, says so (tag 15), then spins until the runtime ends. */
EXPORT("last_words") void last_words(void) {
  int32_t parent = parent_pid();
  printf("last words from a child\n");
  fflush(stdout);
  lunatic_send(parent, 15, "", 0);
  volatile int x = 0;
  for (;;) x++;
}

/* Uses the configuration handle it is given: narrowing it works only if the handle arrived. */
EXPORT("config_user") void config_user(void) {
  int32_t parent = parent_pid(), handle = 0;
  lunatic_receive(&handle, sizeof handle, 2, LUNATIC_FOREVER, NULL);
  int32_t result = lunatic_config_deny_spawn(handle);
  lunatic_send(parent, 7, &result, sizeof result);
}

static int32_t child_of(const char *entry, int32_t config) {
  int32_t pid = lunatic_spawn(entry, strlen(entry), 0, 0, config);
  int32_t self = lunatic_self();
  lunatic_send(pid, 1, &self, sizeof self);
  return pid;
}

static lunatic_down_t wait_down(int64_t tag) {
  lunatic_down_t down = {0};
  lunatic_receive(&down, sizeof down, tag, 5000, NULL);
  return down;
}

static int32_t receive_int(int64_t tag) {
  int32_t value = -1000;
  lunatic_receive(&value, sizeof value, tag, 5000, NULL);
  return value;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0); // lines as they come, as on a terminal: their order across threads is what is tested
  // messages: spawn, then send at once (the spawn arrives first); 1000 round trips in order
  int32_t echoer = child_of("echo", 0);
  lunatic_monitor(echoer);
  int32_t round_trips = 0;
  for (int32_t i = 1; i <= 1000; i++) {
    lunatic_send(echoer, 10, &i, sizeof i);
    if (receive_int(11) == i + 1) round_trips++;
  }
  int32_t zero = 0;
  lunatic_send(echoer, 10, &zero, sizeof zero);
  printf("round trips: %d, in order: %d\n", round_trips, receive_int(12));
  lunatic_down_t down = wait_down(LUNATIC_TAG_DOWN);
  printf("echo ended: %d reason %d\n", down.pid == echoer, down.reason);

  // selective receive: tag 4 first, then 3; a receive that times out
  int32_t sender = child_of("two_tags", 0);
  lunatic_monitor(sender);
  char text[8] = {0};
  printf("tag 4: %d %.4s\n", lunatic_receive(text, sizeof text, 4, 5000, NULL), text);
  printf("tag 3: %d %.5s\n", lunatic_receive(text, sizeof text, 3, 5000, NULL), text);
  printf("timeout: %d\n", lunatic_receive(text, sizeof text, 77, 30, NULL));
  wait_down(LUNATIC_TAG_DOWN);

  // kill a process on another thread; its monitor gets DOWN (KILLED); a dead pid is ESRCH
  int32_t idler = child_of("idle", 0);
  printf("monitor: %d\n", lunatic_monitor(idler));
  printf("kill: %d\n", lunatic_kill(idler));
  down = wait_down(LUNATIC_TAG_DOWN);
  printf("killed: %d reason %d\n", down.pid == idler, down.reason);
  printf("send to the dead: %d, kill the dead: %d, link to the dead: %d\n", lunatic_send(idler, 1, "x", 1), lunatic_kill(idler),
         lunatic_link(idler));

  // trap_links: a linked child that crashes on another thread is a LINK_DOWN message
  lunatic_trap_links(1);
  int32_t crasher = lunatic_spawn_named("crasher", 0, LUNATIC_SPAWN_LINK, 0);
  down = wait_down(LUNATIC_TAG_LINK_DOWN);
  printf("link down: %d reason %d\n", down.pid == crasher, down.reason);
  lunatic_trap_links(0);

  // a crash kills a process linked to it on another thread
  int32_t victim = child_of("victim", 0);
  lunatic_monitor(victim);
  int32_t cue = child_of("crash_on_cue", 0);
  lunatic_send(victim, 2, &cue, sizeof cue);
  printf("victim linked: %d\n", receive_int(6));
  lunatic_send(cue, 5, "", 0);
  down = wait_down(LUNATIC_TAG_DOWN);
  printf("victim: %d reason %d\n", down.pid == victim, down.reason);

  // configurations travel with the spawn: no spawning, a reduction limit
  int32_t config = lunatic_config_new();
  lunatic_config_deny_spawn(config);
  int32_t denied = child_of("try_spawn", config);
  lunatic_monitor(denied);
  printf("denied spawn: %d\n", receive_int(7));
  wait_down(LUNATIC_TAG_DOWN);
  int32_t limited_config = lunatic_config_new();
  lunatic_config_set_max_reductions(limited_config, 50000000);
  int32_t limited = lunatic_spawn_named("spin", 0, 0, limited_config);
  lunatic_monitor(limited);
  down = wait_down(LUNATIC_TAG_DOWN);
  printf("over its limit: %d reason %d\n", down.pid == limited, down.reason);

  // a mailbox bound holds across threads: the third send to a mailbox of 2 is FULL, at once
  int32_t small = lunatic_config_new();
  lunatic_config_set_mailbox(small, 2);
  int32_t boxed = lunatic_spawn_named("idle", 0, 0, small);
  lunatic_monitor(boxed);
  int32_t first = lunatic_send(boxed, 1, "x", 1), second = lunatic_send(boxed, 1, "x", 1), third = lunatic_send(boxed, 1, "x", 1);
  printf("mailbox bound: %d %d %d\n", first, second, third);
  lunatic_kill(boxed);
  wait_down(LUNATIC_TAG_DOWN);

  // a bound of 0 is a rendezvous on any thread: a send passes only while the receiver waits in receive
  int32_t none = lunatic_config_new();
  lunatic_config_set_mailbox(none, 0);
  int32_t partner = lunatic_spawn_named("rendezvous", lunatic_self(), 0, none);
  int32_t number = 7;
  int32_t early = lunatic_send(partner, 14, &number, sizeof number);
  receive_int(13);
  int32_t met = lunatic_send(partner, 14, &number, sizeof number), again = lunatic_send(partner, 14, &number, sizeof number);
  printf("rendezvous: %d %d %d, answer %d\n", early, met, again, receive_int(15));

  // a configuration handle given across threads keeps working there
  int32_t user = child_of("config_user", 0);
  lunatic_monitor(user);
  int32_t given = lunatic_config_new();
  printf("give: %d\n", lunatic_give(given, user));
  lunatic_send(user, 2, &given, sizeof given);
  printf("given config: %d, gone here: %d\n", receive_int(7), lunatic_config_deny_spawn(given));
  wait_down(LUNATIC_TAG_DOWN);

  // names are global
  int32_t holder = child_of("named", 0);
  lunatic_monitor(holder);
  printf("register: %d\n", receive_int(8));
  printf("whereis: %d, taken: %d\n", lunatic_whereis(NAME("threads.probe")) == holder, lunatic_register(NAME("threads.probe")));
  lunatic_send(holder, 9, "", 0);
  wait_down(LUNATIC_TAG_DOWN);
  printf("whereis after its end: %d\n", lunatic_whereis(NAME("threads.probe")));

  // a message larger than a ring
  int32_t bigger = child_of("big", 0);
  size_t size = 3 << 20;
  unsigned char *bytes = malloc(size);
  uint32_t sum = 0;
  for (size_t i = 0; i < size; i++) sum += (bytes[i] = (unsigned char)(i * 7));
  lunatic_send(bigger, 13, bytes, size);
  uint32_t answer[2] = {0};
  lunatic_receive(answer, sizeof answer, 14, 5000, NULL);
  printf("big message: %d, sum matches: %d\n", (int)answer[0], answer[1] == sum);

  // main's exit code is the runtime's, with a child still running on another thread
  child_of("last_words", 0);
  lunatic_receive(NULL, 0, 15, 5000, NULL);
  return 7;
}
