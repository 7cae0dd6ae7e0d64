// Which entries start processes that end in their first turn with little work done: a child of
// such an entry stays on its parent's thread, and no thread hands it to another. Sending it away
// costs its parent's thread about what running it would (the SPAWN record, the monitor, the DOWN
// coming back: 9 us against 11 us for the whole of such a process, Node 24), and the other thread
// more, while V8 compiles the runtime's JavaScript again there: 40,000 such children took
// 1.2-1.5x as long on two threads as on one (bench/RESULTS.md, run R).
//
// An entry counts as short once the last SHORT_STREAK of its processes that ended on this thread
// each ended in their first turn, never having waited, within SHORT_REDUCTIONS; any other end
// clears it, so an entry whose processes do work again is spread over the threads at once. The
// first processes of an entry are placed as any (there is nothing to go by yet). The price: such a
// child waits behind whatever its thread has to run, even when another thread is idle, as any
// process queued there does (a spinner there has a slice of at most a few milliseconds, and on
// Asyncify moves to the idle thread).

/** The most reductions (about instructions: docs/ABI.md) a short process uses: some microseconds of work. */
export const SHORT_REDUCTIONS = 10_000;
/** How many short ends in a row make an entry short. */
export const SHORT_STREAK = 4;

/** A named export, or a function table index (a spawn by function pointer). */
export type EntryKey = string | number;

export class ShortEntries {
  private readonly streaks = new Map<EntryKey, number>();

  /** A process of `entry` ended; `oneTurnReductions`: what it used if it ended in its first turn without waiting. */
  ended(entry: EntryKey, oneTurnReductions: number | undefined): void {
    const short = oneTurnReductions !== undefined && oneTurnReductions <= SHORT_REDUCTIONS;
    const streak = this.streaks.get(entry) ?? 0;
    if (short) {
      if (streak < SHORT_STREAK) this.streaks.set(entry, streak + 1);
    } else if (streak > 0) {
      this.streaks.delete(entry);
    }
  }

  isShort(entry: EntryKey): boolean {
    return this.streaks.get(entry) === SHORT_STREAK;
  }
}
