// Hibernation (Erlang's `erlang:hibernate/3`, done by the runtime): a process that has waited
// longer than a threshold, or the oldest waiting ones when the processes in instances reach a
// limit, leave their instances as snapshots (snapshot.ts) and come back into any instance of
// their module when their wait ends. Their instances go back to the pool.
//
// Only Asyncify processes hibernate (a JSPI stack lives inside the engine), and only while they
// wait on a hibernatable Pending: receive, lunatic sleep, TCP read (process.ts `canHibernate`).
import type { Process } from './process.js';
import type { VesselPool } from './vessel.js';

export interface HibernationOptions {
  /** A process that has waited this long hibernates (milliseconds; Infinity: only at the limit). */
  afterMs: number;
  /** Processes in instances at most; past it the oldest waiting ones hibernate to make room. */
  maxInstances: number;
}

export class Hibernation {
  /** Processes waiting on hibernatable waits, with when they began, oldest first. */
  private readonly waiting = new Map<Process, number>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** Hibernations so far (for figures and tests). */
  count = 0;

  constructor(readonly options: HibernationOptions) {}

  parked(process: Process): void {
    this.waiting.set(process, performance.now());
    if (this.sweeper === undefined && Number.isFinite(this.options.afterMs)) this.startSweeping();
  }

  hibernated(): void {
    this.count++;
  }

  woke(process: Process): void {
    this.waiting.delete(process);
  }

  /** Before a process takes an instance: at the limit, the oldest waiting processes hibernate. */
  makeRoom(pool: VesselPool): void {
    if (pool.occupied < this.options.maxInstances) return;
    for (const process of this.waiting.keys()) {
      this.waiting.delete(process);
      if (process.hibernate() && pool.occupied < this.options.maxInstances) return;
    }
  }

  private startSweeping(): void {
    const period = Math.max(10, this.options.afterMs / 2);
    this.sweeper = setInterval(() => this.sweep(), period);
    // the sweeper alone must not keep the host alive
    (this.sweeper as { unref?: () => void }).unref?.();
  }

  private sweep(): void {
    const due = performance.now() - this.options.afterMs;
    for (const [process, since] of this.waiting) {
      if (since > due) break;
      this.waiting.delete(process);
      process.hibernate();
    }
    if (this.waiting.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
