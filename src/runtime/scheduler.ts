// Round-robin turns for runnable processes on one event loop.
//
// A process whose reduction budget ran out (lunatic.yield) or that yields on purpose queues
// here and waits for its turn. Each turn is given in its own macrotask, so between two time
// slices the event loop runs due timers and I/O, whose callbacks wake waiting processes
// directly. One spinning process thus delays the others by about one slice, never more.
import { macrotask } from './macrotask.js';

export class Scheduler {
  private readonly queue: Array<() => void> = [];
  private head = 0;
  private ticking = false;

  /** Resolves when the caller's turn comes, after every process queued before it had one. */
  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push(resolve);
      this.schedule();
    });
  }

  /** How many processes wait for a turn. */
  get runnable(): number {
    return this.queue.length - this.head;
  }

  private schedule(): void {
    if (this.ticking || this.runnable === 0) return;
    this.ticking = true;
    macrotask(this.tick);
  }

  private readonly tick = (): void => {
    this.ticking = false;
    const next = this.queue[this.head++]!;
    this.compact();
    this.schedule();
    next(); // the process runs in the microtasks that follow, until it waits again
  };

  /** Drops the consumed head of the queue now and then (an O(1) amortized shift). */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
