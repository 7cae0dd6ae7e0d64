// The Asyncify backend: suspends an instrumented module by unwinding its wasm stack into the
// reserved tail of memory 0 and rewinding it later (docs/ABI.md, "Suspension").
//
// A blocking import that returns a wait (Promise or Pending) hands it to the process, starts the
// unwind and returns; the export then returns to `start`/`resume`, which stops the unwind and
// reports SUSPENDED. Everything is synchronous: when the wait has settled and the scheduler gives
// the process its turn, `resume` starts the rewind and calls the same export again; the import,
// reached again while rewinding, stops the rewind and returns the value.
import { isWaitable, type Waitable } from './pending.js';
import { BackendError, ImportCalls, type Resumption, SUSPENDED, type SuspenderState, type SuspendHost, type Suspender } from './suspend.js';
import type { HostFunction } from './types.js';

const PAGE_BYTES = 65536;
const DATA_HEADER_BYTES = 8; // { i32 current, i32 end }
/** Wasm memory is little-endian; a Uint32Array writes it directly on a little-endian host. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

interface AsyncifyExports {
  asyncify_start_unwind(data: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(data: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
  lunatic_reserved_pages: WebAssembly.Global;
}

const REQUIRED_EXPORTS = [
  'asyncify_start_unwind',
  'asyncify_stop_unwind',
  'asyncify_start_rewind',
  'asyncify_stop_rewind',
  'asyncify_get_state',
  'lunatic_reserved_pages',
];

/** The first exported memory: memory 0 of an instrumented module. */
export function exportedMemory(instance: WebAssembly.Instance): WebAssembly.Memory | undefined {
  return Object.values(instance.exports).find((value): value is WebAssembly.Memory => value instanceof WebAssembly.Memory);
}

export interface AsyncifyOptions {
  /** Make the reserved tail at least this many pages before the first call (default: as instrumented). */
  reservedPages?: number;
}

export class AsyncifySuspender implements Suspender {
  readonly wrapsEveryImport = false;
  readonly backend = 'asyncify';
  private readonly calls = new ImportCalls();
  private exports!: AsyncifyExports;
  private memory!: WebAssembly.Memory;
  /**
   * An unwind is under way. The state is tracked here rather than asked of the module: this
   * backend alone starts and stops unwinds and rewinds, and a call into wasm at every blocking
   * import and every return was a fifth of a yield's cost.
   */
  private unwinding = false;
  /** Between asyncify_start_rewind and the blocking import that stops it. */
  private rewinding = false;
  /** What the import being rewound returns. */
  private resumed: unknown;
  private data = 0;
  /** Most bytes of the reserved tail any unwind used since the last reset: what a reset or a snapshot must look at there. */
  private tailUsed = 0;
  /** A view of memory for writing the data struct, kept while the buffer stays the same. */
  private words: Uint32Array | undefined;
  private entry!: (...args: unknown[]) => unknown;
  private entryName = '';
  private args: unknown[] = [];

  constructor(
    private readonly host: SuspendHost,
    private readonly options: AsyncifyOptions = {},
  ) {}

  wrapImport(qualifiedName: string, fn: HostFunction, blocking: boolean): HostFunction {
    return (...args: unknown[]) => {
      if (blocking && this.rewinding) {
        this.rewinding = false;
        this.exports.asyncify_stop_rewind();
        return this.resumed;
      }
      const result = this.calls.invoke(qualifiedName, fn, blocking, args);
      if (isWaitable(result)) return this.startUnwind(result);
      return result;
    };
  }

  attach(instance: WebAssembly.Instance): void {
    const missing = REQUIRED_EXPORTS.filter((name) => !(name in instance.exports));
    const memory = exportedMemory(instance);
    if (missing.length > 0 || !memory) {
      throw new BackendError(
        `the module lacks the Asyncify exports of docs/ABI.md (${missing.join(', ') || 'memory'}); instrument it with lunatic-instrument`,
      );
    }
    this.exports = instance.exports as unknown as AsyncifyExports;
    this.memory = memory;
    if (this.options.reservedPages !== undefined) this.growTail(this.options.reservedPages);
  }

  start(exportName: string, args: unknown[]): unknown {
    this.setEntry(exportName, args);
    return this.enter();
  }

  reset(): void {
    this.unwinding = false;
    this.rewinding = false;
    this.resumed = undefined;
    this.data = 0;
    this.tailUsed = 0;
    this.args = [];
  }

  save(): SuspenderState {
    return { entry: this.entryName, args: this.args, data: this.data, tailUsed: this.tailUsed };
  }

  load(state: SuspenderState): void {
    this.setEntry(state.entry, state.args);
    this.data = state.data;
    this.tailUsed = state.tailUsed;
  }

  /** Where the bytes of memory that unwinds may have changed end: the reserved tail beyond is as it was made. */
  get changedEnd(): number {
    const end = this.memory.buffer.byteLength;
    return end - this.reservedPages * PAGE_BYTES + this.tailUsed;
  }

  private setEntry(exportName: string, args: unknown[]): void {
    this.entryName = exportName;
    this.entry = this.exports[exportName as keyof AsyncifyExports] as unknown as (...args: unknown[]) => unknown;
    this.args = args;
  }

  resume(resumption: Resumption): unknown {
    if (!resumption.ok) throw resumption.error; // the wait failed: the process ends with it
    this.resumed = resumption.value;
    this.exports.asyncify_start_rewind(this.data);
    this.rewinding = true;
    return this.enter();
  }

  /** The size of the reserved tail, in pages. */
  get reservedPages(): number {
    return this.exports.lunatic_reserved_pages.value as number;
  }

  /** Calls the entry; SUSPENDED when it unwound. */
  private enter(): unknown {
    let result: unknown;
    try {
      result = this.entry(...this.args);
    } catch (error) {
      // A trap while unwinding is Asyncify finding no room for the frames: the tail grows with
      // the stack until memory reaches its maximum (most often for a runaway recursion), and a
      // build by binaryen's Asyncify (--no-rewind-copies) has a fixed tail. The same error keeps
      // its stack: the report names the functions that were being saved.
      if (this.unwinding && error instanceof WebAssembly.RuntimeError) {
        error.message = `stack overflow: the suspended stack did not fit in the ${this.reservedPages * 64} KiB reserved at the top of memory, which cannot grow further; if the recursion is not endless, raise the module's maximum memory, or for a --no-rewind-copies build re-instrument with --reserved-pages N or raise the reservedPages option of the runtime`;
      }
      throw error;
    }
    if (!this.unwinding) return result;
    this.unwinding = false;
    this.exports.asyncify_stop_unwind();
    // the data struct's `current` field: where the saved stack ends (an unwind that grew the
    // tail, and memory with it, left `words` on the old buffer)
    const buffer = this.memory.buffer;
    if (LITTLE_ENDIAN && this.words?.buffer !== buffer) this.words = new Uint32Array(buffer);
    const current = LITTLE_ENDIAN ? this.words![this.data >>> 2]! : new DataView(buffer).getUint32(this.data, true);
    const used = current - this.data;
    if (used > this.tailUsed) this.tailUsed = used;
    return SUSPENDED;
  }

  /** Parks the process on `wait`, writes the data struct at the start of the reserved tail (docs/ABI.md) and starts the unwind. */
  private startUnwind(wait: Waitable): undefined {
    const buffer = this.memory.buffer;
    const end = buffer.byteLength;
    this.data = end - this.reservedPages * PAGE_BYTES;
    if (LITTLE_ENDIAN) {
      if (this.words?.buffer !== buffer) this.words = new Uint32Array(buffer);
      this.words[this.data >>> 2] = this.data + DATA_HEADER_BYTES;
      this.words[(this.data >>> 2) + 1] = end;
    } else {
      const view = new DataView(buffer);
      view.setUint32(this.data, this.data + DATA_HEADER_BYTES, true);
      view.setUint32(this.data + 4, end, true);
    }
    this.unwinding = true;
    this.exports.asyncify_start_unwind(this.data);
    this.host.park(wait);
    return undefined;
  }

  /** Grows memory so the reserved tail has at least `pages` pages (the program's pages stay as they are). */
  private growTail(pages: number): void {
    const extra = pages - this.reservedPages;
    if (extra <= 0) return;
    try {
      this.memory.grow(extra);
    } catch {
      throw new BackendError(
        `cannot grow the reserved tail to ${pages} pages: memory 0 would exceed its maximum; re-instrument with --reserved-pages ${pages}`,
      );
    }
    this.exports.lunatic_reserved_pages.value = pages;
  }
}
