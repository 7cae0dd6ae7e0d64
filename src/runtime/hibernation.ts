// Hibernation (Erlang's `erlang:hibernate/3`, done by the runtime): a process that has waited
// longer than a threshold, or the oldest waiting ones when the processes in instances reach a
// limit, leave their instances as snapshots (snapshot.ts) and come back into any instance of
// their module when their wait ends. Their instances go back to the pool.
//
// Only Asyncify processes hibernate (a JSPI stack lives inside the engine), and only while they
// wait on a hibernatable Pending: receive, lunatic sleep, TCP read (process.ts `canHibernate`).
import type { VesselPool } from './vessel.js';

export interface HibernationOptions {
  /** A process that has waited this long hibernates (milliseconds; Infinity: only at the limit). */
  afterMs: number;
  /** Processes in instances at most; past it the oldest waiting ones hibernate to make room. */
  maxInstances: number;
}

/** A place in the list of waiting processes (the process itself: no allocation per wait). */
export interface WaitingLink {
  waitingSince: number;
  waitingPrev: WaitingLink | undefined;
  waitingNext: WaitingLink | undefined;
  inWaitingList: boolean;
  hibernate(): boolean;
}

export class Hibernation {
  /**
   * Processes waiting on hibernatable waits, oldest first: an intrusive list, since a Map's
   * delete-and-set on every message (park, wake) was a third of a ping-pong's time.
   */
  private oldest: WaitingLink | undefined;
  private newest: WaitingLink | undefined;
  private size = 0;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** Hibernations so far (for figures and tests). */
  count = 0;

  constructor(readonly options: HibernationOptions) {}

  /** `process` waits since `since` (performance.now(), or a little earlier: the start of its slice, which costs no clock read). */
  parked(process: WaitingLink, since: number): void {
    if (process.inWaitingList) this.remove(process);
    process.waitingSince = since;
    process.waitingPrev = this.newest;
    process.waitingNext = undefined;
    if (this.newest) this.newest.waitingNext = process;
    else this.oldest = process;
    this.newest = process;
    process.inWaitingList = true;
    this.size++;
    if (this.sweeper === undefined && Number.isFinite(this.options.afterMs)) this.startSweeping();
  }

  hibernated(): void {
    this.count++;
  }

  woke(process: WaitingLink): void {
    if (process.inWaitingList) this.remove(process);
  }

  /** Before a process takes an instance: at the limit, the oldest waiting processes hibernate. */
  makeRoom(pool: VesselPool): void {
    while (pool.occupied >= this.options.maxInstances && this.oldest) {
      const process = this.oldest;
      this.remove(process);
      process.hibernate();
    }
  }

  private remove(process: WaitingLink): void {
    const { waitingPrev: prev, waitingNext: next } = process;
    if (prev) prev.waitingNext = next;
    else this.oldest = next;
    if (next) next.waitingPrev = prev;
    else this.newest = prev;
    process.waitingPrev = undefined;
    process.waitingNext = undefined;
    process.inWaitingList = false;
    this.size--;
  }

  private startSweeping(): void {
    const period = Math.max(10, this.options.afterMs / 2);
    this.sweeper = setInterval(() => this.sweep(), period);
    // the sweeper alone must not keep the host alive
    (this.sweeper as { unref?: () => void }).unref?.();
  }

  private sweep(): void {
    const due = performance.now() - this.options.afterMs;
    while (this.oldest && this.oldest.waitingSince <= due) {
      const process = this.oldest;
      this.remove(process);
      process.hibernate();
    }
    if (this.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
