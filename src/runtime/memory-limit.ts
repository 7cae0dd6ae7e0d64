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
