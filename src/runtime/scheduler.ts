// The run queue: runnable processes take turns, back to back, inside one macrotask.
//
// A batch runs queued processes one after another until the queue is empty or the batch's
// time budget (RuntimeOptions.batchMs, default 1 ms) is spent; only then does the scheduler
// give the event loop a turn (setImmediate), so due timers and I/O run and wake their
// processes, which are queued directly. A message hop thus costs a queue push and a resume,
// not an event-loop iteration. A process that spends its reductions while others wait goes
// to the back of the queue, so one spinning process delays the others by about one slice.
//
// How a process runs depends on its backend: an Asyncify process runs synchronously until it
// stops (suspends, yields or ends), so the batch loop simply goes on; a JSPI process resumes
// in a microtask, and tells the scheduler when it stops (`stopped`), which goes on from there.
// Erlang's schedulers work the same way, checking I/O every few thousand reductions.
//
// Two queues: a process woken by the event loop (a timer, I/O, a host Promise settling while no
// process runs) has waited for the loop's turn already, so it gets the next turn but one: the
// turns alternate between the two queues while both hold processes. So a sleeper is late by
// about one slice however many processes spin or exit at once, a socket is served beside busy
// loops, and the processes queued by others (woken by a message, spawned, or preempted at the
// end of a slice) still get every other turn however many timers and sockets fire.
//
// The only runnable process may run past the budget: when the embedder says the event loop holds
// nothing that could wake or serve anyone (RuntimeOptions.eventLoopIdle), an event-loop turn
// would find nothing to do, and on Asyncify it costs a suspension, a resume through the rewind
// copies and their compilation, so the batch just starts again. The other processes then wait
// for a message, which only a process (queued at once) or another thread (its ring, which the
// predicate reads) can send, or for a timer or I/O, which the event loop shows. Two waits it
// does not show: a process waiting on a host Promise or for its module to compile (`hidden`),
// and what waits for a process's end, which runs in microtasks after the turn's JavaScript
// returns (a process ended in this turn). Either gives the event loop its turn.
import { macrotask } from './macrotask.js';

/** What the scheduler runs: a process that is runnable. */
export interface Runnable {
  /**
   * Gives the process the CPU (`now`: performance.now(), read once for both). Returns true when it has stopped again by the time it returns
   * (Asyncify), false when it runs on in microtasks and will call `Scheduler.stopped` (JSPI).
   */
  step(now: number): boolean;
}

/** The default batch budget in milliseconds: how long processes run before timers and I/O. */
export const DEFAULT_BATCH_MS = 1;

/** A FIFO with an amortized O(1) shift. */
class RunQueue {
  private items: Runnable[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(process: Runnable): void {
    this.items.push(process);
  }

  shift(): Runnable {
    const process = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Runnable;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return process;
  }

  /** The last queued item that `accept` takes, looking at `limit` items from the tail at most. */
  findFromTail(accept: (process: Runnable) => boolean, limit: number): Runnable | undefined {
    for (let i = this.items.length - 1; i >= this.head && i >= this.items.length - limit; i--) {
      if (accept(this.items[i]!)) return this.items[i];
    }
    return undefined;
  }

  /** Takes `process` out of the queue (O(n): only when it moves to another thread). */
  remove(process: Runnable): boolean {
    const at = this.items.indexOf(process, this.head);
    if (at < 0) return false;
    this.items.splice(at, 1);
    return true;
  }
}

/** Queued processes looked at for one to move to another thread: the last ones to run (a few: the look runs every millisecond). */
const MOVE_LOOKAHEAD = 16;

export class Scheduler {
  /** Woken by the event loop (timers, I/O): they take every other turn. */
  private readonly fromEventLoop = new RunQueue();
  /** Queued by processes: messages, spawns, slices ended. */
  private readonly queue = new RunQueue();
  private tookFromEventLoop = false;
  /** The process running asynchronously (JSPI) that the batch waits for. */
  private current: Runnable | undefined;
  private looping = false;
  private dispatchQueued = false;
  /** A macrotask is queued: the marker of the next event-loop turn. */
  private macrotaskQueued = false;
  /** The batch's budget is spent: nothing runs before the event loop's next turn. */
  private waitingForEventLoop = false;
  /** When the batch of this event-loop turn began (its budget counts from here). */
  private batchStarted = 0;
  /** True until the event loop has had a turn since the batch began. */
  private sameTurn = false;
  /** A process ended since the event loop's last turn (what waits for it runs in microtasks). */
  private endedThisTurn = false;
  /** Processes waiting for what the event loop does not show: a host Promise, their module's compilation. */
  private hidden = 0;

  /**
   * `batchMs`: the batch budget. `idleLoop`: whether the event loop has nothing to do (nothing
   * that could wake a process or needs a turn); then the only runnable process keeps the CPU
   * when the budget is spent.
   */
  constructor(
    readonly batchMs = DEFAULT_BATCH_MS,
    private readonly idleLoop?: () => boolean,
  ) {}

  /** A process began waiting for something the event loop does not show (a host Promise, a compilation). */
  hiddenWaitBegan(): void {
    this.hidden++;
  }

  /** That wait is over (settled, or its process gone). */
  hiddenWaitEnded(): void {
    this.hidden--;
  }

  /** How many processes wait for their turn. */
  get runnable(): number {
    return this.fromEventLoop.size + this.queue.size;
  }

  /** Queues a runnable process; it runs in this batch if there is time, else in the next. */
  enqueue(process: Runnable): void {
    // No process running: an event-loop callback (timer, I/O) or a settling host Promise woke it.
    if (this.looping || this.current) this.queue.push(process);
    else this.fromEventLoop.push(process);
    if (this.looping || this.current || this.dispatchQueued || this.waitingForEventLoop) return;
    this.dispatchQueued = true;
    queueMicrotask(this.dispatch);
  }

  /**
   * Takes out of the queue a process that `accept` lets move to another thread: one of the last
   * queued, which would wait longest here (those the event loop woke stay: they are due), or,
   * when `due`, also one of those.
   */
  withdraw(accept: (process: Runnable) => boolean, due = false): Runnable | undefined {
    for (const queue of due ? [this.queue, this.fromEventLoop] : [this.queue]) {
      const process = queue.findFromTail(accept, MOVE_LOOKAHEAD);
      if (process && queue.remove(process)) return process;
    }
    return undefined;
  }

  /** A process that `step` left running (JSPI) has stopped: the batch goes on. */
  stopped(): void {
    this.current = undefined;
    this.run();
  }

  /**
   * Whether a process that spent its reductions should give up the CPU: when others are
   * runnable, or when the batch's budget is spent and the event loop may have something to do
   * (it has not when `idleLoop` says so and no process waits for what it does not show).
   */
  shouldYield(): boolean {
    if (this.runnable > 0) return true;
    if (!this.budgetSpent()) return false;
    if (this.endedThisTurn || this.hidden > 0 || !this.idleLoop?.()) return true;
    this.batchStarted = performance.now(); // a new batch, with nothing on the event loop to wait for it
    return false;
  }

  private readonly dispatch = (): void => {
    this.dispatchQueued = false;
    this.run();
  };

  /** A process ended (the Runtime says so): the one left running gives the event loop this turn first. */
  ended(): void {
    this.endedThisTurn = true;
  }

  private readonly nextTurn = (): void => {
    this.macrotaskQueued = false;
    this.endedThisTurn = false;
    this.waitingForEventLoop = false;
    this.sameTurn = false;
    this.run();
  };

  private run(): void {
    if (this.looping || this.current || this.waitingForEventLoop || this.runnable === 0) return;
    this.looping = true;
    try {
      this.startBatch();
      while (this.runnable > 0) {
        const now = performance.now();
        if (now - this.batchStarted >= this.batchMs) {
          this.yieldToEventLoop();
          return;
        }
        const process = this.take();
        this.current = process;
        if (!process.step(now)) return; // JSPI: `stopped` goes on
        this.current = undefined;
      }
      this.markTurn(); // a batch that starts later in this turn goes on with this budget
    } finally {
      this.looping = false;
    }
  }

  /**
   * A batch's budget counts from the first batch of an event-loop turn: processes woken by
   * Promises in the same turn must not get a fresh budget each time, or they could keep the
   * event loop from its turn forever.
   */
  private startBatch(): void {
    if (this.sameTurn) return;
    this.sameTurn = true;
    this.batchStarted = performance.now();
  }

  /** Queues the macrotask that tells this turn from the next (posted when a batch ends, so due timers and I/O go first). */
  private markTurn(): void {
    if (this.macrotaskQueued) return;
    this.macrotaskQueued = true;
    macrotask(this.nextTurn);
  }

  private budgetSpent(): boolean {
    return this.sameTurn && performance.now() - this.batchStarted >= this.batchMs;
  }

  /** The next process: from the event loop's queue, unless the last turn was from it and the other queue waits. */
  private take(): Runnable {
    const fromEventLoop = this.fromEventLoop.size > 0 && (!this.tookFromEventLoop || this.queue.size === 0);
    this.tookFromEventLoop = fromEventLoop;
    return fromEventLoop ? this.fromEventLoop.shift() : this.queue.shift();
  }

  private yieldToEventLoop(): void {
    this.waitingForEventLoop = true;
    this.markTurn();
  }
}
