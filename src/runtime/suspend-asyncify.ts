// The Asyncify backend: suspends an instrumented module by unwinding its wasm stack into the
// reserved tail of memory 0 and rewinding it later (docs/ABI.md, "Suspension").
//
// A blocking import that returns a Promise starts the unwind and returns; the export then
// returns to `call`, which sees the unwinding state, stops it, waits for the Promise, starts the
// rewind and calls the same export again; the import, reached again while rewinding, stops the
// rewind and returns the resolved value.
import { BackendError, ImportCalls, isPromise, type SuspendHost, type Suspender } from './suspend.js';
import type { HostFunction } from './types.js';

const PAGE_BYTES = 65536;
const DATA_HEADER_BYTES = 8; // { i32 current, i32 end }

interface AsyncifyExports {
  asyncify_start_unwind(data: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(data: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
  lunatic_reserved_pages: WebAssembly.Global;
}

const REQUIRED_EXPORTS = ['asyncify_start_unwind', 'asyncify_stop_unwind', 'asyncify_start_rewind', 'asyncify_stop_rewind', 'asyncify_get_state', 'lunatic_reserved_pages'];

/** The first exported memory: memory 0 of an instrumented module. */
export function exportedMemory(instance: WebAssembly.Instance): WebAssembly.Memory | undefined {
  return Object.values(instance.exports).find((value): value is WebAssembly.Memory => value instanceof WebAssembly.Memory);
}

export interface AsyncifyOptions {
  /** Make the reserved tail at least this many pages before the first call (default: as instrumented). */
  reservedPages?: number;
}

export class AsyncifySuspender implements Suspender {
  readonly backend = 'asyncify';
  private readonly calls = new ImportCalls();
  private exports!: AsyncifyExports;
  private memory!: WebAssembly.Memory;
  /**
   * The Promise of the import that started the current unwind. The state is tracked here rather
   * than asked of the module: this backend alone starts and stops unwinds and rewinds, and a
   * call into wasm at every blocking import and every return was a fifth of a yield's cost.
   */
  private pending: Promise<unknown> | undefined;
  /** Between asyncify_start_rewind and the blocking import that stops it. */
  private rewinding = false;
  /** What the import being rewound returns. */
  private resumed: unknown;
  private data = 0;

  constructor(private readonly host: SuspendHost, private readonly options: AsyncifyOptions = {}) {}

  wrapImport(qualifiedName: string, fn: HostFunction, blocking: boolean): HostFunction {
    return (...args: unknown[]) => {
      if (blocking && this.rewinding) {
        this.rewinding = false;
        this.exports.asyncify_stop_rewind();
        return this.resumed;
      }
      const result = this.calls.invoke(qualifiedName, fn, blocking, args);
      if (isPromise(result)) return this.startUnwind(result);
      return result;
    };
  }

  attach(instance: WebAssembly.Instance): void {
    const missing = REQUIRED_EXPORTS.filter((name) => !(name in instance.exports));
    const memory = exportedMemory(instance);
    if (missing.length > 0 || !memory) {
      throw new BackendError(`the module lacks the Asyncify exports of docs/ABI.md (${missing.join(', ') || 'memory'}); instrument it with lunatic-instrument`);
    }
    this.exports = instance.exports as unknown as AsyncifyExports;
    this.memory = memory;
    if (this.options.reservedPages !== undefined) this.growTail(this.options.reservedPages);
  }

  async call(exportName: string, args: unknown[]): Promise<unknown> {
    const entry = this.exports[exportName as keyof AsyncifyExports] as unknown as (...args: unknown[]) => unknown;
    let result = this.enter(entry, args);
    while (this.pending) {
      this.exports.asyncify_stop_unwind();
      const promise = this.pending;
      this.pending = undefined;
      this.resumed = await this.host.wait(promise);
      this.exports.asyncify_start_rewind(this.data);
      this.rewinding = true;
      result = this.enter(entry, args);
    }
    return result;
  }

  /** The size of the reserved tail, in pages. */
  get reservedPages(): number {
    return this.exports.lunatic_reserved_pages.value as number;
  }

  private enter(entry: (...args: unknown[]) => unknown, args: unknown[]): unknown {
    try {
      return entry(...args);
    } catch (error) {
      // A trap while unwinding is Asyncify writing past the end of memory: the tail is too small,
      // most often for a runaway recursion. The same error keeps its stack: the report names
      // the functions that were being saved.
      if (this.pending && error instanceof WebAssembly.RuntimeError) {
        error.message = `stack overflow: suspended stack deeper than the ${this.reservedPages * 64} KiB reserved at the top of memory; if the recursion is not endless, re-instrument with --reserved-pages N or raise the reservedPages option of the runtime`;
      }
      throw error;
    }
  }

  /** Writes the data struct at the start of the reserved tail (docs/ABI.md) and starts the unwind. */
  private startUnwind(promise: Promise<unknown>): undefined {
    const end = this.memory.buffer.byteLength;
    this.data = end - this.reservedPages * PAGE_BYTES;
    const view = new DataView(this.memory.buffer);
    view.setUint32(this.data, this.data + DATA_HEADER_BYTES, true);
    view.setUint32(this.data + 4, end, true);
    this.pending = promise;
    this.exports.asyncify_start_unwind(this.data);
    return undefined;
  }

  /** Grows memory so the reserved tail has at least `pages` pages (the program's pages stay as they are). */
  private growTail(pages: number): void {
    const extra = pages - this.reservedPages;
    if (extra <= 0) return;
    try {
      this.memory.grow(extra);
    } catch {
      throw new BackendError(`cannot grow the reserved tail to ${pages} pages: memory 0 would exceed its maximum; re-instrument with --reserved-pages ${pages}`);
    }
    this.exports.lunatic_reserved_pages.value = pages;
  }
}
