// The host's side of the Asyncify ABI (docs/ABI.md), for tests that drive an instrumented module
// by hand: where the data struct goes, and starting an unwind from inside a blocking import.
type Exports = Record<string, any>;

/** The data struct's address: the start of the reserved tail. */
export function asyncifyData(exports: Exports): number {
  return (exports.memory as WebAssembly.Memory).buffer.byteLength - exports.lunatic_reserved_pages.value * 65536;
}

/** Writes the data struct (buffer from `data + 8` to the end of memory) and starts the unwind. */
export function startUnwind(exports: Exports): void {
  const memory = exports.memory as WebAssembly.Memory;
  const data = asyncifyData(exports);
  const view = new DataView(memory.buffer);
  view.setInt32(data, data + 8, true);
  view.setInt32(data + 4, memory.buffer.byteLength, true);
  exports.asyncify_start_unwind(data);
}

/** True, having stopped the rewind, when a blocking import is being called again to resume. */
export function resuming(exports: Exports): boolean {
  if (exports.asyncify_get_state() !== 2) return false;
  exports.asyncify_stop_rewind();
  return true;
}

/** Calls `entry(...args)` and resumes it after every unwind; returns its result and the number of suspensions. */
export function runToEnd(exports: Exports, entry: string, ...args: unknown[]): { result: unknown; suspensions: number } {
  let suspensions = 0;
  let result = exports[entry](...args);
  while (exports.asyncify_get_state() === 1) {
    suspensions++;
    exports.asyncify_stop_unwind();
    exports.asyncify_start_rewind(asyncifyData(exports));
    result = exports[entry](...args);
  }
  return { result, suspensions };
}
