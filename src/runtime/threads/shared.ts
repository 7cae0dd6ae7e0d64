// What the threads of one runtime share (SharedArrayBuffers, so every thread sees the same
// memory): the pid and handle counters (pids and handle numbers are global), the directory that
// says on which thread each pid lives and whether it is alive, the live process count of each
// thread (placement), each thread's doorbell, the room left in each process's mailbox (so a
// sender on any thread meets the receiver's bound at once, mailbox.ts), and the rings between
// every ordered pair of threads (ring.ts); for placement, each thread's runnable processes
// (as it last published them) and the spawns on their way to it; and the word that says the
// runtime shuts down. Made once on the main thread and posted to each worker. No Node imports.
import { MAILBOX_MAX_BYTES, type MailboxBound } from '../lunatic/mailbox.js';
import { LOCAL_PID_LIMIT } from '../lunatic/remote.js';
import { Ring, ringBytes } from './ring.js';

/** Most threads of one runtime (the directory keeps a thread index in 6 bits). */
export const MAX_THREADS = 64;
/**
 * Bytes of each ring: a power of two, 1 MiB for up to 6 threads, smaller for more (the rings of
 * all pairs stay within about 32 MiB; the OS maps only the pages a ring touches). Larger
 * messages travel in several records.
 */
export function ringCapacity(threads: number): number {
  let capacity = 1 << 20;
  while (capacity > 1 << 16 && capacity * threads * (threads - 1) > 32 << 20) capacity >>= 1;
  return capacity;
}

const NEXT_PID = 0;
const NEXT_HANDLE = 1;
/** Non-zero once the runtime shuts down: a thread whose process keeps the CPU (scheduler.ts) sees it between slices. */
const SHUTDOWN = 2;
const COUNTERS = 3;
/** Int32 cells per thread after the counters: live processes, doorbell, runnable, spawns (and moves) on their way, started. */
const PER_THREAD = 5;
const LIVE = 0;
const DOORBELL = 1;
const RUNNABLE = 2;
const ARRIVING = 3;
const STARTED = 4;

/** Directory byte of a pid: 0 never used; 1..64 alive on thread value-1; ENDED + reason once ended. */
const ENDED = 128;

export interface SharedMemory {
  threads: number;
  ringCapacity: number;
  control: SharedArrayBuffer;
  directory: SharedArrayBuffer;
  /** Two Int32 per pid: the messages and the bytes its mailbox may still take (reserved by senders before their message travels). */
  mailboxes: SharedArrayBuffer;
  rings: SharedArrayBuffer;
}

export function createSharedMemory(threads: number): SharedMemory {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_THREADS)
    throw new RangeError(`threads must be a whole number from 2 to ${MAX_THREADS}, not ${threads}`);
  const control = new SharedArrayBuffer(4 * (COUNTERS + PER_THREAD * threads));
  new Int32Array(control)[NEXT_PID] = 1;
  new Int32Array(control)[NEXT_HANDLE] = 1;
  const capacity = ringCapacity(threads);
  return {
    threads,
    ringCapacity: capacity,
    control,
    directory: new SharedArrayBuffer(LOCAL_PID_LIMIT),
    // 64 MiB of address space; the OS maps a page once a pid in it is used (8 bytes a pid)
    mailboxes: new SharedArrayBuffer(LOCAL_PID_LIMIT * 8),
    rings: new SharedArrayBuffer(threads * threads * ringBytes(capacity)),
  };
}

/** One thread's view of the shared memory. */
export class SharedState {
  readonly threads: number;
  private readonly control: Int32Array;
  private readonly directory: Uint8Array;
  private readonly rooms: Int32Array;
  /** The ring from thread `from` to thread `to` is rings[from * threads + to]. */
  private readonly rings: Array<Ring | undefined>;

  constructor(memory: SharedMemory) {
    this.threads = memory.threads;
    this.control = new Int32Array(memory.control);
    this.directory = new Uint8Array(memory.directory);
    this.rooms = new Int32Array(memory.mailboxes);
    const { ringCapacity: capacity } = memory;
    this.rings = Array.from({ length: this.threads * this.threads }, (_, i) =>
      Math.floor(i / this.threads) === i % this.threads ? undefined : new Ring(memory.rings, i * ringBytes(capacity), capacity),
    );
  }

  ring(from: number, to: number): Ring {
    return this.rings[from * this.threads + to]!;
  }

  /** A fresh pid for a process that will live on `thread` (counted there from now), whose mailbox holds `mailboxCapacity` messages. */
  allocatePid(thread: number, mailboxCapacity: number): number {
    const pid = Atomics.add(this.control, NEXT_PID, 1);
    if (pid >= LOCAL_PID_LIMIT) return -1;
    // before the pid is known to anyone: room for its first messages
    Atomics.store(this.rooms, 2 * pid, Math.min(mailboxCapacity, 0x7fffffff));
    Atomics.store(this.rooms, 2 * pid + 1, MAILBOX_MAX_BYTES);
    Atomics.store(this.directory, pid, thread + 1);
    Atomics.add(this.control, this.cell(LIVE, thread), 1);
    return pid;
  }

  /** Tells every thread that the runtime shuts down. */
  shutDown(): void {
    Atomics.store(this.control, SHUTDOWN, 1);
  }

  get shuttingDown(): boolean {
    return Atomics.load(this.control, SHUTDOWN) !== 0;
  }

  /** A fresh handle number (lunatic handles are global so that a handle given across threads keeps its number). */
  allocateHandle(): number {
    return Atomics.add(this.control, NEXT_HANDLE, 1);
  }

  /**
   * Takes room for a message of `bytes` in the mailbox of `pid`, as Mailbox.send checks it (no
   * more than its capacity of messages, MAILBOX_MAX_BYTES of bytes); false when it has none.
   * Racing senders may see FULL while another's failed reservation is being undone.
   */
  reserveRoom(pid: number, bytes: number): boolean {
    const rooms = this.rooms;
    const count = 2 * pid;
    if (Atomics.sub(rooms, count, 1) <= 0) {
      Atomics.add(rooms, count, 1);
      return false;
    }
    if (Atomics.sub(rooms, count + 1, bytes) < bytes) {
      Atomics.add(rooms, count + 1, bytes);
      Atomics.add(rooms, count, 1);
      return false;
    }
    return true;
  }

  /** Takes room for a message of `bytes` past the bound (a notification). */
  forceRoom(pid: number, bytes: number): void {
    Atomics.sub(this.rooms, 2 * pid, 1);
    Atomics.sub(this.rooms, 2 * pid + 1, bytes);
  }

  /** Gives back the room of a message of `bytes`. */
  releaseRoom(pid: number, bytes: number): void {
    Atomics.add(this.rooms, 2 * pid, 1);
    Atomics.add(this.rooms, 2 * pid + 1, bytes);
  }

  /** The bound of the mailbox of `pid` (a process of this thread), kept here for every thread's senders. */
  mailboxBound(pid: number): MailboxBound {
    return new SharedMailboxBound(this, pid);
  }

  /** The thread `pid` lives on, or -1 when it is not alive (never was, or ended). */
  threadOf(pid: number): number {
    if (pid <= 0 || pid >= LOCAL_PID_LIMIT) return -1;
    const entry = Atomics.load(this.directory, pid);
    return entry > 0 && entry < ENDED ? entry - 1 : -1;
  }

  /** How the ended `pid` ended (notifications.ts Reason), or undefined when it did not end. */
  endReason(pid: number): number | undefined {
    const entry = pid > 0 && pid < LOCAL_PID_LIMIT ? Atomics.load(this.directory, pid) : 0;
    return entry >= ENDED ? entry - ENDED : undefined;
  }

  /** `pid` (of `thread`) ended: not alive for anyone from now, and no longer counted. */
  ended(pid: number, thread: number, reason: number): void {
    Atomics.store(this.directory, pid, ENDED + reason);
    Atomics.sub(this.control, this.cell(LIVE, thread), 1);
  }

  /**
   * `pid` moves from `from` to `to`: it lives there from now for every thread's senders, and is
   * counted there (and as on its way, until `to` takes it in).
   */
  moved(pid: number, from: number, to: number): void {
    Atomics.store(this.directory, pid, to + 1);
    Atomics.sub(this.control, this.cell(LIVE, from), 1);
    Atomics.add(this.control, this.cell(LIVE, to), 1);
    Atomics.add(this.control, this.cell(ARRIVING, to), 1);
  }

  /** Thread `thread` reads its rings from now (before it reads any). */
  markStarted(thread: number): void {
    Atomics.store(this.control, this.cell(STARTED, thread), 1);
  }

  /** Whether thread `thread` reads its rings (a thread that does not has sent nothing either). */
  started(thread: number): boolean {
    return Atomics.load(this.control, this.cell(STARTED, thread)) === 1;
  }

  /** Live processes of `thread`. */
  load(thread: number): number {
    return Atomics.load(this.control, this.cell(LIVE, thread));
  }

  /** Thread `thread` has `runnable` processes queued to run (it says so between its batches). */
  publishRunnable(thread: number, runnable: number): void {
    Atomics.store(this.control, this.cell(RUNNABLE, thread), runnable);
  }

  /** A spawn is on its way to `thread` (+1), or it arrived there (-1). */
  arriving(thread: number, change: 1 | -1): void {
    Atomics.add(this.control, this.cell(ARRIVING, thread), change);
  }

  /** Work waiting on `thread` as others see it: its runnable processes when it last said, and the spawns on their way to it. */
  busy(thread: number): number {
    return Atomics.load(this.control, this.cell(RUNNABLE, thread)) + Atomics.load(this.control, this.cell(ARRIVING, thread));
  }

  /** Spawns on their way to `thread`. */
  arrivingAt(thread: number): number {
    return Atomics.load(this.control, this.cell(ARRIVING, thread));
  }

  private cell(kind: number, thread: number): number {
    return COUNTERS + kind * this.threads + thread;
  }

  /** Live processes of all threads. */
  get live(): number {
    let total = 0;
    for (let thread = 0; thread < this.threads; thread++) total += this.load(thread);
    return total;
  }

  /**
   * The consumer side of thread `thread`'s doorbell: marks it asleep and returns the Int32Array
   * and index to wait on with Atomics.waitAsync (value 1), or undefined when a ring to it holds
   * records already (drain again instead).
   */
  sleep(thread: number): { cells: Int32Array; index: number } | undefined {
    const index = this.cell(DOORBELL, thread);
    Atomics.store(this.control, index, 1);
    for (let from = 0; from < this.threads; from++) {
      if (from !== thread && !this.ring(from, thread).empty) {
        Atomics.store(this.control, index, 0);
        return undefined;
      }
    }
    return { cells: this.control, index };
  }

  /** The producer side: wakes thread `thread` if it sleeps (cheap when it does not). */
  wake(thread: number): void {
    const index = this.cell(DOORBELL, thread);
    if (Atomics.load(this.control, index) === 1 && Atomics.compareExchange(this.control, index, 1, 0) === 1)
      Atomics.notify(this.control, index);
  }
}

/** The bound of one pid's mailbox in shared memory: one small object per process, no closures. */
class SharedMailboxBound implements MailboxBound {
  constructor(
    private readonly state: SharedState,
    private readonly pid: number,
  ) {}

  reserve(bytes: number): boolean {
    return this.state.reserveRoom(this.pid, bytes);
  }

  force(bytes: number): void {
    this.state.forceRoom(this.pid, bytes);
  }

  release(bytes: number): void {
    this.state.releaseRoom(this.pid, bytes);
  }
}
