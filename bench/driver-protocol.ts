// What the benchmark parent (bench/run.ts) and its program driver child (bench/driver.ts) exchange:
// the spec goes in as the child's one argument (JSON), the result comes back as one JSON line on
// file descriptor RESULT_FD, apart from the program's own stdout and stderr.

export type DriverMode = 'plain' | 'asyncify' | 'jspi' | 'refill';

export interface DriverSpec {
  wasm: string;
  args: string[];
  mode: DriverMode;
  /** Reductions per slice: the value `lunatic_reductions` is set to before running and in `yield`. */
  reductions: number;
  /** Guest path -> host directory. */
  preopens: Record<string, string>;
  /**
   * Run the program a second time in this process, in a fresh instance of the same compiled
   * module: the code V8 compiled lazily and optimized during the first run is then in place, as
   * in a runtime that has run the module before (its stdout then holds both runs' output).
   */
  warm?: boolean;
}

export interface DriverResult {
  compileMs: number;
  /** Instantiation plus `_start`, until the program exits. */
  runMs: number;
  /** CPU time of this process over the same span (all threads: includes V8's background compilation). */
  cpuMs: number;
  exitCode: number;
  /** How many times the program called `lunatic.yield` (in the first run). */
  yields: number;
  /** With `warm`: the second run's instantiation plus `_start`. */
  warmRunMs?: number;
}

export const RESULT_FD = 3;
