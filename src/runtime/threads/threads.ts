// One thread of a runtime that runs its processes on several threads (worker_threads on Node):
// each thread has its own lunatic world and scheduler, and this is how the worlds reach each
// other. Pids and handle numbers are global (shared.ts hands them out), so a pid says nothing
// about its thread: the shared directory does. Messages, spawns, links, monitors, kills, exit
// notices, given handles and socket traffic travel as records over the ring from this thread to
// the other (ring.ts, outbox.ts): one ring per ordered pair of threads, so what one thread sends
// another arrives in order, and a spawn arrives before the messages sent to the child after it.
// No postMessage per record: the reader is woken through a doorbell (Atomics.notify) only when
// it sleeps. Process names live on thread 0 (requests over the rings); sockets stay on the
// thread that opened them and are proxied (socket-proxy.ts). No Node imports.
//
// Record payloads (little-endian; byte 0 is the Kind, outbox.ts):
//   MESSAGE  i32 to @4, i32 from @8, i64 tag @12, the bytes @20
//   CONTROL  u8 op @1, i32 a @4, b @8, c @12, d @16 (Op below)
//   SPAWN    spawn-record.ts
//   GIVE, NAME, REPLY: JSON text @4
//   SOCKET   u8 op @1, i32 id @4, i32 pid @8, the bytes @12 (socket-proxy.ts)
//   MOVE     a process moving here (migration.ts)
//   FORWARD  3 bytes unused, then a whole record for a process that moved on from the sender
//
// A runnable process may move from a busy thread to one with less to run (`balance`): the old
// thread sends it in a MOVE record and points the directory at the new one, forwards what still
// comes for it (FORWARD), and asks every other thread to FLUSH (answer FLUSHED once all it sent
// before is read); once all have, it sends SETTLED. Until then the new thread holds the process
// and what is sent to it directly, from any thread, the old one included: a sender may have sent
// earlier records through the old thread, still to be forwarded, or (a sender that moved since)
// directly, held here; the process's own records from the old thread may still be in its rings.
// So what one process sends another still arrives in order (docs/THREADS.md).
import { ConfigResource } from '../lunatic/api-config.js';
import type { MailboxBound } from '../lunatic/mailbox.js';
import { ListenerResource, SocketResource } from '../lunatic/api-tcp.js';
import { Errno, LunaticError } from '../lunatic/errno.js';
import type { Emigrant, Lunatic, LunaticProcess, Program } from '../lunatic/lunatic.js';
import type { Listener, Network } from '../lunatic/network.js';
import { Reason, type ReasonCode, reasonOf } from '../lunatic/notifications.js';
import type { Permissions } from '../lunatic/permissions.js';
import type { ThreadSpawn, Threads } from '../lunatic/remote.js';
import type { ExitStatus } from '../process.js';
import { macrotask } from '../macrotask.js';
import { DEFAULT_MAX_PROCESSES } from '../runtime.js';
import { after } from '../timers.js';
import { decodeMove, encodeMove, moveTarget } from './migration.js';
import { Inbox, Kind, Outbox, type Slot } from './outbox.js';
import { type SharedMemory, SharedState } from './shared.js';
import { SocketExports } from './socket-proxy.js';
import { type SpawnRequest, SpawnRecords } from './spawn-record.js';

const Op = {
  LINK: 1,
  UNLINK: 2,
  MONITOR: 3,
  DEMONITOR: 4,
  KILL: 5,
  DOWN: 6,
  LINK_EXIT: 7,
  START: 8,
  FLUSH: 9,
  FLUSHED: 10,
  SETTLED: 11,
} as const;
type OpCode = (typeof Op)[keyof typeof Op];
/** Control records that are for the thread, not for the process their first field names. */
const THREAD_OPS: ReadonlySet<number> = new Set([Op.START, Op.FLUSH, Op.FLUSHED, Op.SETTLED]);

/** The thread that keeps the process names. */
const NAMES_THREAD = 0;
/** The thread that starts the others (run.ts gives it `ensureStarted`). */
const MAIN_THREAD = 0;

interface GivenConfig {
  handle: number;
  to: number;
  permissions: Permissions;
}

interface NameRequest {
  op: 'register' | 'unregister' | 'whereis' | 'forget';
  id: number;
  pid: number;
  name: string;
}

type WaitAsync = (cells: Int32Array, index: number, value: number) => { async: boolean; value: Promise<unknown> | string };

export interface ThreadPeersOptions {
  /** This thread's index (0: the main thread). */
  index: number;
  memory: SharedMemory;
  world: Lunatic;
  /** What processes spawned here from other threads run. */
  program: Program;
  /** Starts thread `thread` if it does not run yet (the main thread starts workers on first use). */
  ensureStarted?: (thread: number) => void;
  /** Live processes allowed on all threads together (default DEFAULT_MAX_PROCESSES, as for one Runtime). */
  maxProcesses?: number;
  /**
   * This thread's runnable processes (the run queue): an idle thread polls the rings briefly
   * before it sleeps, and other threads place new processes by it.
   */
  runnable?: () => number;
  /** Move runnable processes to threads with less to run (default true; false: they stay where they were placed). */
  moves?: boolean;
}

/** Where a record is written: a ring's outbox, or this thread itself (for a process that just arrived, `loopback`). */
interface RecordSink {
  begin(length: number): Slot;
  tryBegin(length: number): Slot | undefined;
  end(): void;
}

/**
 * How long an idle thread polls the rings to it before it sleeps (ms): a record that comes
 * meanwhile is picked up in well under a microsecond instead of after an OS wake-up (tens of us).
 */
const SPIN_MS = 0.1;

/** Records delivered from one ring per turn of this thread's event loop. */
const DRAIN_LIMIT = 4096;

/** How often a thread with runnable processes tells the others how many (placement), when no record makes it say so sooner. */
const PUBLISH_RUNNABLE_MS = 1;
/**
 * How often a thread with live processes, none of them runnable, says so again: one of them may
 * wake (a timer, a socket of this thread) and keep computing with no record to make it say so.
 */
const PUBLISH_IDLE_MS = 10;
/**
 * A process that moved here stays at least this long (ms) before it may move again: the threads'
 * counts of runnable processes are a millisecond old, and a process handed back and forth on
 * them would spend its time moving.
 */
const STAY_MS = 20;

/** The bytes before the record a FORWARD carries. */
const FORWARD_HEADER = 4;

export class ThreadPeers implements Threads {
  readonly index: number;
  readonly shared: SharedState;
  readonly world: Lunatic;
  private readonly outboxes: Array<Outbox | undefined>;
  private readonly readers: Array<((offset: number, length: number) => void) | undefined>;
  private readonly inboxes: Inbox[];
  private readonly text = new TextEncoder();
  private readonly spawns = new SpawnRecords();
  private retryQueued = false;
  private publishQueued = false;
  private republishQueued = false;
  /** Threads this one asked the main thread to start. */
  private readonly startAsked = new Set<number>();
  private closed = false;
  private listening = false;
  private nextRequest = 1;
  private readonly requests = new Map<number, (result: number) => void>();
  /** Records for processes of this thread whose spawn or move is still on its way, or that are not settled, by pid (hold). */
  private readonly early = new Map<number, Array<{ record: Uint8Array; from: number }>>();
  /** Processes of this thread holding names on the names thread (told when they end). */
  private readonly named = new Set<number>();
  readonly sockets: SocketExports;
  /** Processes that moved away from here, by pid: the thread they went to, to forward what still comes for them. */
  private readonly forwarding = new Map<number, number>();
  /** Of those, the threads that have not answered FLUSH yet. */
  private readonly flushing = new Map<number, Set<number>>();
  /** Processes that moved here and are not settled yet (what is not forwarded to them waits, in `early`). */
  private readonly unsettled = new Set<number>();
  /**
   * Processes that moved here, by pid: the threads they came from (more than one when one came
   * back), told how they end (ENDED_AWAY) so their old copies there settle.
   */
  private readonly cameFrom = new Map<number, Set<number>>();
  /** When processes that moved here arrived (performance.now()), until STAY_MS later. */
  private readonly arrivedAt = new Map<number, number>();
  /** Processes moved away from this thread so far (for figures and tests). */
  moved = 0;
  private readonly loopback: RecordSink;
  /**
   * Listeners open on every thread (SO_REUSEPORT: each thread accepts its own connections) and a
   * process given a socket before it started moves to the socket's thread: where the network can
   * share an address, with processes moving, on more than one thread.
   */
  readonly drawsSockets: boolean;

  constructor(private readonly options: ThreadPeersOptions) {
    this.index = options.index;
    this.world = options.world;
    this.shared = new SharedState(options.memory);
    const { threads } = this.shared;
    const retry = () => this.retryLater();
    const schedule = () => this.schedulePublish();
    this.outboxes = Array.from({ length: threads }, (_, to) =>
      to === this.index ? undefined : new Outbox(this.shared.ring(this.index, to), () => this.shared.wake(to), schedule, retry),
    );
    this.readers = Array.from({ length: threads }, (_, from) => {
      if (from === this.index) return undefined;
      const ring = this.shared.ring(from, this.index);
      return (offset: number, length: number) => this.record(ring.bytes, ring.view, offset, length, from);
    });
    this.inboxes = Array.from({ length: threads }, () => new Inbox());
    this.sockets = new SocketExports(this);
    this.drawsSockets = options.moves !== false && threads > 1 && this.world.network?.sharesListeners === true;
    this.loopback = loopbackSink((record) => this.record(record, new DataView(record.buffer), 0, record.length, this.index));
    this.world.attachThreads(this, () => this.shared.allocateHandle());
  }

  /**
   * Starts reading the rings to this thread, once. The main thread (the one given
   * `ensureStarted`) starts at its first worker's start, not before: until then nothing can
   * arrive, and reading keeps a macrotask queued, so the event loop would never look idle to a
   * process alone (RuntimeOptions.eventLoopIdle).
   */
  listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.shared.markStarted(this.index);
    this.pump();
  }

  /** Stops reading: the runtime shuts down (every thread hears it at once, through the shared memory). */
  close(): void {
    this.closed = true;
    this.shared.shutDown();
  }

  /**
   * Whether nothing from the other threads waits to be read here and the runtime runs on: then
   * this thread's only runnable process may keep the CPU past its batch (RuntimeOptions.eventLoopIdle),
   * since what the others send it lands in a ring, which this reads, not on the event loop.
   */
  quiet(): boolean {
    return !this.shared.shuttingDown && !this.waiting(); // close() says so too
  }

  // ---- the Threads hooks of the world ----

  isHere(pid: number): boolean {
    // A process on its way here (spawned or moving), or that arrived and has not settled, is
    // reached through the records, which wait for it in order.
    if (this.unsettled.size > 0 && this.unsettled.has(pid)) return false;
    const thread = this.shared.threadOf(pid);
    return thread < 0 || (thread === this.index && this.world.processes.has(pid));
  }

  allocatePid(mailboxCapacity: number): number {
    return this.shared.allocatePid(this.index, mailboxCapacity);
  }

  mailboxBound(pid: number): MailboxBound {
    return this.shared.mailboxBound(pid);
  }

  /**
   * The thread a new child goes to (undefined: this one), once the process limit across threads
   * allows it: the one with the least work waiting, or with `stayHere` (a child that would end at
   * once, short-entries.ts) this one.
   */
  placeChild(stayHere = false): number | undefined {
    const limit = this.options.maxProcesses ?? DEFAULT_MAX_PROCESSES;
    const { shared } = this;
    if (shared.live >= limit)
      throw new LunaticError(Errno.NOMEM, `too many processes: ${limit} are alive (raise --max-processes if the system allows more)`);
    const best = stayHere ? this.index : this.leastBusyThread();
    if (best !== this.index) return best;
    this.publishRunnableSoon(); // the child joins this thread's run queue
    return undefined;
  }

  /**
   * The thread with the least work waiting: runnable processes and spawns on their way (this
   * thread's own run queue as it is now, the others' as they last published it); on a tie the
   * one with the fewest live processes, then this one. So a child goes where it will run soonest,
   * not beside a busy thread's spinners because that thread has fewer (waiting) processes.
   */
  private leastBusyThread(): number {
    const { shared } = this;
    let best = this.index;
    let bestBusy = this.runnable() + shared.arrivingAt(this.index);
    let bestLive = shared.load(best);
    for (let thread = 0; thread < shared.threads; thread++) {
      if (thread === this.index) continue;
      const busy = shared.busy(thread);
      const live = shared.load(thread);
      if (busy < bestBusy || (busy === bestBusy && live < bestLive)) {
        best = thread;
        bestBusy = busy;
        bestLive = live;
      }
    }
    return best;
  }

  /**
   * Starts thread `thread` if it does not run yet: the main thread starts its worker; another
   * thread asks the main thread to (once), and what it sends there meanwhile waits in the ring.
   */
  private ensureStarted(thread: number): void {
    const { ensureStarted } = this.options;
    if (ensureStarted) {
      this.listen();
      ensureStarted(thread);
    } else if (this.index !== MAIN_THREAD && thread !== MAIN_THREAD && !this.startAsked.has(thread)) {
      this.startAsked.add(thread);
      this.control(MAIN_THREAD, Op.START, thread);
    }
  }

  private runnable(): number {
    return this.options.runnable?.() ?? 0;
  }

  /**
   * Tells the other threads how many processes wait to run here (for placement): between batches
   * while records come, every PUBLISH_RUNNABLE_MS while processes run and none come, and every
   * PUBLISH_IDLE_MS while processes live here and none runs.
   */
  private publishRunnable(): void {
    this.balance();
    const runnable = this.runnable();
    this.shared.publishRunnable(this.index, runnable);
    if (runnable > 0) this.publishRunnableSoon();
    else if (this.shared.load(this.index) > 0) this.publishRunnableSoon(PUBLISH_IDLE_MS);
  }

  /** Publishes again in `ms` (once at a time; the timer does not keep the thread alive). */
  private publishRunnableSoon(ms = PUBLISH_RUNNABLE_MS): void {
    if (this.republishQueued || this.closed) return;
    this.republishQueued = true;
    const timer = setTimeout(() => {
      this.republishQueued = false;
      this.publishRunnable();
    }, ms) as { unref?: () => void };
    timer.unref?.();
  }

  spawnOn(thread: number, parent: LunaticProcess, options: ThreadSpawn): number {
    this.ensureStarted(thread);
    const pid = this.shared.allocatePid(thread, options.permissions.mailboxCapacity);
    if (pid < 0) throw new LunaticError(Errno.NOMEM, 'this node started all the processes its pids allow: no pid is left');
    this.shared.arriving(thread, 1);
    const { link, entry, tableIndex, arg = 0n, permissions } = options;
    const outbox = this.sink(thread);
    this.spawns.write({ pid, parent: parent.pid, link, entry, tableIndex, arg, permissions }, (length) => outbox.begin(length));
    outbox.end();
    return pid;
  }

  /**
   * -FULL when the receiver's mailbox is at its bound, counting the messages on their way to it
   * (their room is reserved here, in shared memory), or when the ring to its thread is full (that
   * thread is behind): retry later, as for a full mailbox on this thread.
   */
  send(from: number, to: number, tag: bigint, data: Uint8Array): number {
    const outbox = this.sink(this.aliveThread(to));
    // no LunaticError for FULL: a sender retrying in a loop would spend its time on stack traces
    if (!this.shared.reserveRoom(to, data.length)) return -Errno.FULL;
    const slot = outbox.tryBegin(20 + data.length);
    if (!slot) {
      this.shared.releaseRoom(to, data.length);
      return -Errno.FULL;
    }
    const { bytes, view, offset } = slot;
    bytes[offset] = Kind.MESSAGE;
    view.setInt32(offset + 4, to, true);
    view.setInt32(offset + 8, from, true);
    view.setBigInt64(offset + 12, tag, true);
    bytes.set(data, offset + 20);
    outbox.end();
    return 0;
  }

  link(local: LunaticProcess, other: number): void {
    const thread = this.aliveThread(other);
    local.links.add(other);
    this.control(thread, Op.LINK, other, local.pid);
  }

  unlink(local: LunaticProcess, other: number): void {
    local.links.delete(other);
    const thread = this.shared.threadOf(other);
    if (thread >= 0) this.control(thread, Op.UNLINK, other, local.pid);
  }

  monitor(watcher: LunaticProcess, watched: number): void {
    const thread = this.aliveThread(watched);
    watcher.monitoring.add(watched);
    this.control(thread, Op.MONITOR, watched, watcher.pid);
  }

  demonitor(watcher: LunaticProcess, watched: number): void {
    watcher.monitoring.delete(watched);
    const thread = this.shared.threadOf(watched);
    if (thread >= 0) this.control(thread, Op.DEMONITOR, watched, watcher.pid);
  }

  kill(pid: number): void {
    this.control(this.aliveThread(pid), Op.KILL, pid);
  }

  ended(process: LunaticProcess, status: ExitStatus): void {
    const reason = reasonOf(status);
    const code = status.code ?? 0;
    this.shared.ended(process.pid, this.index, reason);
    this.arrivedAt.delete(process.pid);
    this.endedAway(process.pid, status);
    for (const to of process.monitoredBy) this.controlElsewhere(to, Op.DOWN, to, process.pid, reason, code);
    for (const to of process.links) this.controlElsewhere(to, Op.LINK_EXIT, to, process.pid, reason, code);
    for (const watched of process.monitoring) this.controlElsewhere(watched, Op.DEMONITOR, watched, process.pid, 0, 0);
    if (this.named.delete(process.pid)) this.json(NAMES_THREAD, Kind.NAME, { op: 'forget', id: 0, pid: process.pid, name: '' });
  }

  /** The control record `op` to the thread of `pid`, when it lives on another thread. */
  private controlElsewhere(pid: number, op: OpCode, a: number, b: number, c: number, d: number): void {
    const thread = this.shared.threadOf(pid);
    if (thread >= 0 && !this.isHere(pid)) this.control(thread, op, a, b, c, d);
  }

  give(from: LunaticProcess, handle: number, to: number): void {
    const thread = this.aliveThread(to);
    // to a process that just arrived here: it holds the handle before it reads the message that names it
    if (thread === this.index) {
      this.world.handles.transfer(from.pid, handle, to);
      return;
    }
    const resource = this.world.handles.detach(from.pid, handle);
    if (resource instanceof ConfigResource) {
      this.json(thread, Kind.GIVE, { handle, to, permissions: resource.permissions });
    } else if (resource instanceof SocketResource) {
      this.sockets.give(resource, handle, from.pid, to, thread);
    } else if (resource instanceof ListenerResource) {
      this.sockets.giveListener(resource, handle, from.pid, to, thread);
    } else {
      this.world.handles.adopt(from.pid, handle, resource);
      throw new LunaticError(Errno.INVAL, `a ${resource.kind} cannot be given to a process on another thread (process ${to})`);
    }
  }

  register(process: LunaticProcess, name: string): number | Promise<number> {
    if (this.index === NAMES_THREAD) return this.answerName({ op: 'register', id: 0, pid: process.pid, name });
    return this.ask({ op: 'register', id: 0, pid: process.pid, name }).then((result) => {
      if (result === 0) this.named.add(process.pid);
      return result;
    });
  }

  unregister(process: LunaticProcess, name: string): number | Promise<number> {
    return this.nameCall({ op: 'unregister', id: 0, pid: process.pid, name });
  }

  whereis(name: string): number | Promise<number> {
    return this.nameCall({ op: 'whereis', id: 0, pid: 0, name });
  }

  // ---- writing records ----

  /** The outbox to `thread` (for socket-proxy.ts). */
  outbox(thread: number): Outbox {
    return this.outboxes[thread]!;
  }

  /** Where records for `thread` go: its ring, or back to this thread for a process not settled here yet. */
  private sink(thread: number): RecordSink {
    return thread === this.index ? this.loopback : this.outboxes[thread]!;
  }

  /** Sends a whole record (a MOVE, or one forwarded) to `thread`. */
  private sendRecord(thread: number, record: Uint8Array): void {
    const outbox = this.outbox(thread);
    const { bytes, offset } = outbox.begin(record.length);
    bytes.set(record, offset);
    outbox.end();
  }

  private control(thread: number, op: OpCode, a: number, b = 0, c = 0, d = 0): void {
    const outbox = this.sink(thread);
    const { bytes, view, offset } = outbox.begin(20);
    bytes[offset] = Kind.CONTROL;
    bytes[offset + 1] = op;
    view.setInt32(offset + 4, a, true);
    view.setInt32(offset + 8, b, true);
    view.setInt32(offset + 12, c, true);
    view.setInt32(offset + 16, d, true);
    outbox.end();
  }

  private json(thread: number, kind: number, value: unknown): void {
    const text = this.text.encode(JSON.stringify(value));
    const outbox = this.sink(thread);
    const { bytes, offset } = outbox.begin(4 + text.length);
    bytes[offset] = kind;
    bytes.set(text, offset + 4);
    outbox.end();
  }

  /** The thread of a live pid; SRCH when it is not alive. */
  private aliveThread(pid: number): number {
    const thread = this.shared.threadOf(pid);
    if (thread < 0) throw new LunaticError(Errno.SRCH, `no process ${pid}`);
    return thread;
  }

  /**
   * Publishes every ring's new records once the code running now gives up the thread (outbox.ts):
   * in a macrotask, not a microtask, because under JSPI every lunatic call suspends the process
   * for a microtask turn, so a microtask could publish a spawn before the parent gave the child
   * its socket.
   */
  private schedulePublish(): void {
    if (this.publishQueued) return;
    this.publishQueued = true;
    macrotask(this.publish);
  }

  private readonly publish = (): void => {
    if (!this.publishQueued) return;
    this.publishQueued = false;
    for (const outbox of this.outboxes) outbox?.publish();
  };

  private retryLater(): void {
    if (this.retryQueued) return;
    this.retryQueued = true;
    after(1, () => {
      this.retryQueued = false;
      for (const outbox of this.outboxes) if (outbox?.backlog) outbox.flush();
      this.publishQueued = true;
      this.publish();
    });
  }

  // ---- reading records ----

  /** Delivers what waits, then once the processes it woke have run (a macrotask later), goes idle. */
  private readonly pump = (): void => {
    if (this.closed) return;
    this.drain();
    this.publishRunnable();
    macrotask(this.idle);
  };

  /** Polls briefly when no process is runnable, then sleeps until a producer rings the doorbell. */
  private readonly idle = (): void => {
    if (this.closed) return;
    this.publish(); // what the processes just woken sent, before polling for the answers
    this.publishRunnable();
    if (this.runnable() === 0) {
      const deadline = performance.now() + SPIN_MS;
      while (!this.waiting() && performance.now() < deadline);
    }
    const sleeper = this.waiting() ? undefined : this.shared.sleep(this.index);
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    const result = sleeper && waitAsync(sleeper.cells, sleeper.index, 1);
    if (result?.async) void (result.value as Promise<unknown>).then(this.pump);
    else this.pump();
  };

  /** Whether a ring to this thread holds records. */
  private waiting(): boolean {
    for (let from = 0; from < this.readers.length; from++)
      if (from !== this.index && !this.shared.ring(from, this.index).empty) return true;
    return false;
  }

  /**
   * Delivers up to DRAIN_LIMIT records of each ring; the rest wait there (not in mailboxes) while
   * the processes run, so a receiver that falls behind leaves its backlog in the ring, where it
   * costs no objects, and the sender meets FULL.
   */
  private drain(): void {
    for (let from = 0; from < this.readers.length; from++) {
      const reader = this.readers[from];
      if (reader) this.shared.ring(from, this.index).drain(reader, DRAIN_LIMIT);
    }
  }

  /**
   * Keeps a record for `pid` when it is a process of this thread whose spawn has not arrived yet
   * (true), to handle once it starts. A spawn comes in the ring from its parent's thread; a
   * process of a third thread that learned the pid from the parent can send to it, link to it or
   * kill it through its own ring, which this thread may read first.
   */
  holdIfArriving(pid: number, bytes: Uint8Array, offset: number, length: number, from: number): boolean {
    if (this.world.processes.has(pid) || this.shared.threadOf(pid) !== this.index) return false;
    this.hold(pid, bytes, offset, length, from);
    return true;
  }

  /** Handles the records kept for `pid` while its spawn or move was on its way, or it was not settled (it started, settled, or failed to). */
  private replayHeld(pid: number): void {
    const held = this.early.get(pid);
    if (!held) return;
    this.early.delete(pid);
    for (const { record, from } of held) this.record(record, new DataView(record.buffer), 0, record.length, from);
  }

  /** Handles one record from thread `from`; `forwarded`: the thread a process moved here from forwards it (FORWARD). */
  private record(bytes: Uint8Array, view: DataView, offset: number, length: number, from: number, forwarded = false): void {
    if ((this.forwarding.size > 0 || this.unsettled.size > 0) && this.redirected(bytes, view, offset, length, from, forwarded)) return;
    switch (bytes[offset]) {
      case Kind.MESSAGE: {
        const to = view.getInt32(offset + 4, true);
        const receiver = this.world.processes.get(to);
        if (!receiver) return void this.holdIfArriving(to, bytes, offset, length, from);
        // a view of the ring, which the mailbox copies if it queues the message (the ring frees the
        // record after this call); its room was reserved by the sender, so it is never refused here
        const data = bytes.subarray(offset + 20, offset + length);
        receiver.mailbox.arrived(view.getBigInt64(offset + 12, true), view.getInt32(offset + 8, true), data);
        return;
      }
      case Kind.CONTROL: {
        const at = (field: number) => view.getInt32(offset + field, true);
        const op = bytes[offset + 1] as OpCode;
        if (op !== Op.START && this.holdIfArriving(at(4), bytes, offset, length, from)) return;
        this.controlRecord(op, at(4), at(8), at(12), at(16), from);
        return;
      }
      case Kind.SPAWN:
        this.spawnHere(this.spawns.decode(bytes, view, offset, length), from);
        return;
      case Kind.GIVE: {
        const given = parse<GivenConfig>(bytes, offset, length);
        if (!this.holdIfArriving(given.to, bytes, offset, length, from)) this.adoptConfig(given);
        return;
      }
      case Kind.NAME:
        this.nameRecord(parse<NameRequest>(bytes, offset, length), from);
        return;
      case Kind.REPLY: {
        const { id, result } = parse<{ id: number; result: number }>(bytes, offset, length);
        const resolve = this.requests.get(id);
        this.requests.delete(id);
        resolve?.(result);
        return;
      }
      case Kind.SOCKET:
        this.sockets.record(bytes, view, offset, length, from);
        return;
      case Kind.PART:
        this.inboxes[from]!.part(bytes, offset, length);
        return;
      case Kind.LAST: {
        const whole: Slot = this.inboxes[from]!.last(bytes, offset, length);
        this.record(whole.bytes, whole.view, 0, whole.bytes.length, from);
        return;
      }
      case Kind.MOVE:
        this.arrived(bytes, offset, length, from);
        return;
      case Kind.FORWARD:
        this.record(bytes, view, offset + FORWARD_HEADER, length - FORWARD_HEADER, from, true);
        return;
      case Kind.ENDED_AWAY: {
        const { pid, status } = parse<{ pid: number; status: ExitStatus }>(bytes, offset, length);
        this.world.endedAway(pid, status);
        this.endedAway(pid, status); // it had come here from another thread before it went on
        return;
      }
    }
  }

  /** The process a record is for, if it is for one (a message, a control record, a given configuration). */
  private recipientOf(bytes: Uint8Array, view: DataView, offset: number, length: number): number | undefined {
    switch (bytes[offset]) {
      case Kind.MESSAGE:
        return view.getInt32(offset + 4, true);
      case Kind.CONTROL:
        return THREAD_OPS.has(bytes[offset + 1]!) ? undefined : view.getInt32(offset + 4, true);
      case Kind.GIVE:
        return parse<GivenConfig>(bytes, offset, length).to;
      default:
        return undefined;
    }
  }

  /**
   * Forwards a record for a process that moved away from here, or holds one for a process that
   * moved here and has not settled, unless the thread it moved from forwards it (sent to it there
   * before it moved: older than any record held for it, and in order behind the MOVE). What
   * else comes from that thread waits too: a sender that moved there may have sent earlier
   * records here directly, which wait in `early`. True when it did either.
   */
  private redirected(bytes: Uint8Array, view: DataView, offset: number, length: number, from: number, forwarded: boolean): boolean {
    const pid = this.recipientOf(bytes, view, offset, length);
    if (pid === undefined) return false;
    const away = this.forwarding.get(pid);
    if (away !== undefined) {
      this.forward(away, bytes, offset, length);
      return true;
    }
    if (forwarded || !this.unsettled.has(pid)) return false;
    this.hold(pid, bytes, offset, length, from);
    return true;
  }

  /** Sends `to` a record for a process that moved there from here, as a FORWARD. */
  private forward(to: number, bytes: Uint8Array, offset: number, length: number): void {
    const outbox = this.outbox(to);
    const slot = outbox.begin(FORWARD_HEADER + length);
    slot.bytes[slot.offset] = Kind.FORWARD;
    slot.bytes.set(bytes.subarray(offset, offset + length), slot.offset + FORWARD_HEADER);
    outbox.end();
  }

  /** Keeps a copy of a record for `pid` (in `early`) until `replayHeld`. */
  private hold(pid: number, bytes: Uint8Array, offset: number, length: number, from: number): void {
    let held = this.early.get(pid);
    if (!held) this.early.set(pid, (held = []));
    held.push({ record: bytes.slice(offset, offset + length), from });
  }

  // ---- moving processes ----

  /**
   * Between batches: when another thread has at least two fewer processes waiting to run than
   * this one, hands it one of this thread's (migration.ts `moveTarget`; the world and the core
   * pick which: one that has not started, or an Asyncify one preempted at the end of a slice).
   */
  private balance(): void {
    if (this.options.moves === false) return;
    const runnable = this.runnable();
    if (runnable < 2) return;
    const { shared } = this;
    const to = moveTarget(this.index, runnable, shared.threads, (thread) => shared.busy(thread));
    if (to === undefined) return;
    const emigrant = this.world.emigrate((pid) => !this.unsettled.has(pid) && !this.stays(pid));
    if (emigrant) this.sendAway(emigrant, to);
  }

  /**
   * Moves `pid`, a process of this thread that can go (not started, or preempted on Asyncify;
   * holding no socket yet), to `thread` when sockets draw processes (`drawsSockets`): the thread
   * it went to, else undefined.
   */
  draw(pid: number, thread: number): number | undefined {
    return this.drawsSockets && this.move(pid, thread) ? thread : undefined;
  }

  /**
   * Moves `pid`, a process of this thread, to `thread` when it can go now (not started, or
   * preempted on Asyncify; holding no socket; settled here a while): whether it went.
   */
  move(pid: number, thread: number): boolean {
    if (thread === this.index || this.unsettled.has(pid) || this.stays(pid)) return false;
    // a process spawned here while this thread was idle waits with those the event loop woke
    const emigrant = this.world.emigrate((candidate) => candidate === pid, true);
    if (!emigrant) return false;
    this.sendAway(emigrant, thread);
    return true;
  }

  drawsTo(from: LunaticProcess, handle: number, to: number): boolean {
    if (!this.drawsSockets) return false;
    const home = this.sockets.homeOf(from.pid, handle);
    return home !== undefined && this.draw(to, home) !== undefined;
  }

  openListener(network: Network, host: string, port: number): Promise<Listener> {
    if (!this.drawsSockets || !network.sharesListeners) return network.listen(host, port);
    return this.sockets.spreadListener(network, host, port, (thread) => this.ensureStarted(thread));
  }

  /** Sends `emigrant` to `to`: the directory points there, what still comes here is forwarded, and it settles once every thread flushed. */
  private sendAway(emigrant: Emigrant, to: number): void {
    const { shared } = this;
    const { pid } = emigrant;
    const named = this.named.delete(pid) || (this.index === NAMES_THREAD && this.world.registry.holdsName(pid));
    this.ensureStarted(to);
    shared.moved(pid, this.index, to);
    this.forwarding.set(pid, to);
    this.sendRecord(to, encodeMove(emigrant, named));
    this.moved++;
    // every thread that may have sent it something through here says when all of that is read,
    // and so when it read all this one sent it (the process's own records among them): a thread
    // still starting has sent nothing, but may have records from here to read first
    const asked = new Set<number>();
    for (let thread = 0; thread < shared.threads; thread++) {
      if (thread === this.index || (!shared.started(thread) && !this.outboxes[thread]!.unread)) continue;
      asked.add(thread);
      this.control(thread, Op.FLUSH, pid);
    }
    this.flushing.set(pid, asked);
    if (asked.size === 0) this.settle(pid);
  }

  /** The thread `pid` moved to from here, while what comes for it here is still forwarded; else undefined. */
  movedAway(pid: number): number | undefined {
    return this.forwarding.size > 0 ? this.forwarding.get(pid) : undefined;
  }

  /** `pid`, which moved here, ended (here, or on a thread it moved on to): the threads it came from hear how. */
  private endedAway(pid: number, status: ExitStatus): void {
    const origins = this.cameFrom.get(pid);
    if (!origins) return;
    this.cameFrom.delete(pid);
    for (const origin of origins) this.json(origin, Kind.ENDED_AWAY, { pid, status });
  }

  /** Whether `pid` arrived here less than STAY_MS ago. */
  private stays(pid: number): boolean {
    const at = this.arrivedAt.get(pid);
    if (at === undefined) return false;
    if (performance.now() - at < STAY_MS) return true;
    this.arrivedAt.delete(pid);
    return false;
  }

  /**
   * A process moved here: it is here from now, but runs only once the thread it left says
   * SETTLED (counted as on its way until then), so what it sends cannot overtake what it sent
   * from there, still in that thread's rings.
   */
  private arrived(bytes: Uint8Array, offset: number, length: number, from: number): void {
    const { emigrant, named } = decodeMove(bytes, offset, length);
    const { pid } = emigrant;
    this.unsettled.add(pid);
    const origins = this.cameFrom.get(pid);
    if (origins) origins.add(from);
    else this.cameFrom.set(pid, new Set([from]));
    this.arrivedAt.set(pid, performance.now());
    try {
      this.world.immigrate(this.options.program, { ...emigrant, permissions: this.spawns.internObject(emigrant.permissions) });
    } catch {
      // no room on this thread: it ends here, as a crash, and its links and monitors hear of it
      this.shared.ended(pid, this.index, Reason.CRASHED);
      this.endedAway(pid, { trap: { message: 'no room for it on the thread it moved to', functions: [] } });
      for (const to of emigrant.monitoredBy) this.answerGone(to, Op.DOWN, pid);
      for (const to of emigrant.links) this.answerGone(to, Op.LINK_EXIT, pid);
      return;
    }
    for (const { handle, permissions } of emigrant.configs) this.world.handles.adopt(pid, handle, new ConfigResource(permissions));
    if (named) this.named.add(pid);
  }

  /** Everything sent to `pid` through this thread has been forwarded: it settles where it went. */
  private settle(pid: number): void {
    const to = this.forwarding.get(pid)!;
    this.forwarding.delete(pid);
    this.flushing.delete(pid);
    this.control(to, Op.SETTLED, pid);
  }

  private controlRecord(op: OpCode, a: number, b: number, c: number, d: number, from: number): void {
    const world = this.world;
    switch (op) {
      case Op.LINK: {
        const target = world.processes.get(a);
        if (target) target.links.add(b);
        else this.answerGone(b, Op.LINK_EXIT, a);
        return;
      }
      case Op.MONITOR: {
        const target = world.processes.get(a);
        if (target) target.monitoredBy.add(b);
        else this.answerGone(b, Op.DOWN, a);
        return;
      }
      case Op.UNLINK:
        return void world.processes.get(a)?.links.delete(b);
      case Op.DEMONITOR:
        return void world.processes.get(a)?.monitoredBy.delete(b);
      case Op.KILL:
        world.processes.get(a)?.core.kill();
        return;
      case Op.DOWN:
        world.deliverDown(a, b, c as ReasonCode, d);
        return;
      case Op.LINK_EXIT:
        world.deliverLinkExit(a, b, c as ReasonCode, d);
        return;
      case Op.START:
        this.options.ensureStarted?.(a);
        return;
      case Op.FLUSH:
        // everything this thread sent `from` before this answer is read there first (one ring, in order)
        this.control(from, Op.FLUSHED, a);
        return;
      case Op.FLUSHED: {
        const waiting = this.flushing.get(a);
        if (waiting?.delete(from) && waiting.size === 0) this.settle(a);
        return;
      }
      case Op.SETTLED:
        this.shared.arriving(this.index, -1);
        this.unsettled.delete(a);
        this.world.processes.get(a)?.core.settle?.();
        this.replayHeld(a);
        return;
    }
  }

  /**
   * Tells `to` (a link's or monitor's other side, where it lives now: the record may have been
   * forwarded) that `pid` is gone, with how it ended.
   */
  private answerGone(to: number, op: OpCode, pid: number): void {
    const thread = this.shared.threadOf(to);
    if (thread >= 0) this.control(thread, op, to, pid, this.reasonOfGone(pid), 0);
  }

  /** How a process that is gone ended, for a link or monitor that came too late. */
  private reasonOfGone(pid: number): ReasonCode {
    return (this.shared.endReason(pid) ?? Reason.CRASHED) as ReasonCode;
  }

  /** A child that a process of another thread spawned, with the pid it chose. */
  private spawnHere(request: SpawnRequest, from: number): void {
    const { pid, parent, link, entry, tableIndex, permissions } = request;
    this.shared.arriving(this.index, -1);
    try {
      const child = this.world.start(this.options.program, { permissions, entry, tableIndex, arg: request.arg, pid });
      child.mobile = true;
      if (link) child.links.add(parent);
      this.world.options.onSpawn?.(child);
    } catch {
      // It could not start (no room on this thread): it ended at once, as a crash.
      this.shared.ended(pid, this.index, Reason.CRASHED);
      if (link) this.control(from, Op.LINK_EXIT, parent, pid, Reason.CRASHED, 0);
    }
    this.replayHeld(pid);
  }

  private adoptConfig(given: GivenConfig): void {
    if (this.world.processes.has(given.to)) this.world.handles.adopt(given.to, given.handle, new ConfigResource(given.permissions));
  }

  // ---- names (kept on NAMES_THREAD) ----

  private nameCall(request: NameRequest): number | Promise<number> {
    return this.index === NAMES_THREAD ? this.answerName(request) : this.ask(request);
  }

  private ask(request: NameRequest): Promise<number> {
    const id = this.nextRequest++;
    return new Promise((resolve) => {
      this.requests.set(id, resolve);
      this.json(NAMES_THREAD, Kind.NAME, { ...request, id });
    });
  }

  private nameRecord(request: NameRequest, from: number): void {
    const result = this.answerName(request);
    if (request.op !== 'forget') this.json(from, Kind.REPLY, { id: request.id, result });
  }

  /** On the names thread: the answer to a name call, as the C call returns it. */
  private answerName({ op, pid, name }: NameRequest): number {
    const registry = this.world.registry;
    switch (op) {
      case 'register': {
        const holder = registry.whereis(name);
        if (holder !== undefined && holder !== pid && this.shared.threadOf(holder) < 0) registry.forget(holder); // ended; its notice is on its way
        try {
          registry.register(pid, name);
          return 0;
        } catch (error) {
          if (error instanceof LunaticError) return -error.errno;
          throw error;
        }
      }
      case 'unregister':
        return registry.unregister(pid, name) ? 0 : -Errno.SRCH;
      case 'whereis': {
        const holder = registry.whereis(name);
        return holder !== undefined && this.shared.threadOf(holder) >= 0 ? holder : -Errno.SRCH;
      }
      case 'forget':
        registry.forget(pid);
        return 0;
    }
  }
}

/** A sink that hands each record, once written, to `deliver` on this thread (records for a process not settled here). */
function loopbackSink(deliver: (record: Uint8Array) => void): RecordSink {
  const slot: Slot = { bytes: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)), offset: 0 };
  return {
    begin(length) {
      slot.bytes = new Uint8Array(length);
      slot.view = new DataView(slot.bytes.buffer);
      return slot;
    },
    tryBegin(length) {
      return this.begin(length);
    },
    end() {
      deliver(slot.bytes);
    },
  };
}

const utf8 = new TextDecoder();

/** A JSON record's value (copied out first: TextDecoder does not read shared memory). */
function parse<T>(bytes: Uint8Array, offset: number, length: number): T {
  return JSON.parse(utf8.decode(bytes.slice(offset + 4, offset + length))) as T;
}
