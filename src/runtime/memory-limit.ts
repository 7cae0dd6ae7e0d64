// How many wasm memories one OS process may hold: the default of RuntimeOptions.maxMemories.
//
// V8 reserves address space for every memory (8 GiB on Node 24, 10 GiB on Node 20: about 15,800
// and 12,500-13,500 memories in a 47-bit address space, measured). Past that, instantiating
// does not fail at once: V8 collects all garbage and tries again, six times, and on a heap that
// holds thousands of processes each try took seconds: a program that spawned 16,500 JSPI
// processes got one failed start a minute (bench/RESULTS.md). So the runtime stops short of the
// limit and refuses at once. The Node entry sets the estimate (src/runtime/node/engine.ts);
// elsewhere (a browser) it is unknown and nothing is refused.

let limit = Number.POSITIVE_INFINITY;

/** The wasm memories this OS process may hold, as estimated for its engine (Infinity: unknown). */
export function engineMemoryLimit(): number {
  return limit;
}

export function setEngineMemoryLimit(memories: number): void {
  limit = memories;
}

/** Int32 cells per thread in MemoryShare's array: the instances it holds, and its processes that keep theirs. */
const CELLS = 2;
const INSTANCES = 0;
const PINNED = 1;

/**
 * The wasm memories of one OS process as its runtimes count them, one runtime per thread: each
 * publishes how many instances it holds and how many of its processes keep theirs while they
 * live, in cells every thread sees (a SharedArrayBuffer between threads), and checks the totals
 * against `limit`. So a thread may use what the others leave, not a fixed share.
 */
export class MemoryShare {
  private readonly cells: Int32Array;

  constructor(
    readonly limit: number,
    cells?: SharedArrayBuffer,
    private readonly thread = 0,
  ) {
    this.cells = new Int32Array(cells ?? new ArrayBuffer(CELLS * 4));
  }

  /** The cells for `threads` runtimes, to give each (with its index) to its MemoryShare. */
  static cellsFor(threads: number): SharedArrayBuffer {
    return new SharedArrayBuffer(CELLS * 4 * threads);
  }

  set instances(count: number) {
    Atomics.store(this.cells, this.thread * CELLS + INSTANCES, count);
  }

  set pinned(count: number) {
    Atomics.store(this.cells, this.thread * CELLS + PINNED, count);
  }

  /** Instances held on every thread. */
  totalInstances(): number {
    return this.total(INSTANCES);
  }

  /** Processes that keep their instances, on every thread. */
  totalPinned(): number {
    return this.total(PINNED);
  }

  private total(cell: number): number {
    let sum = 0;
    for (let i = cell; i < this.cells.length; i += CELLS) sum += Atomics.load(this.cells, i);
    return sum;
  }
}
