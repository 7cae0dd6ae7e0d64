// The shape of bench/results.json: what one `npm run bench` measured, and the targets of the
// performance issue it is judged against. Shared by the harness, the markdown and the chart.

/** The ways a program is run. Ratios compare each to the baseline on the same Node. */
export const RUN_VARIANTS = {
  baseline: 'uninstrumented, Node 20',
  asyncify: 'instrument() default (reductions + Asyncify), Node 20',
  singleCopy: "reductions + binaryen's single-copy Asyncify (--no-rewind-copies: smaller, slower), Node 20",
  singleAbove: 'reductions + our Asyncify, one copy for functions over 500 expressions (--single-copy-above 500), Node 20',
  asyncifyOnly: 'Asyncify of the WASI blocking imports only, no reductions, Node 20',
  wasmOpt: 'binaryen wasm-opt -O2 --asyncify (every import), Node 20',
  baseline24: 'uninstrumented, Node 24',
  jspi: 'counters only (--no-asyncify) under JSPI, Node 24',
  countersRefill:
    'counters only (--no-asyncify), `lunatic.yield` refilling without suspending (driver `refill` mode), Node 20 (third-party programs)',
} as const;
export type RunVariant = keyof typeof RUN_VARIANTS;

/** The instrumenting tools whose time, peak memory and output size are measured. */
export const TOOLS = {
  instrument: 'lunatic-instrument (default)',
  instrumentSingleCopy: 'lunatic-instrument --no-rewind-copies',
  instrumentSingleAbove: 'lunatic-instrument --single-copy-above 500',
  instrumentCounters: 'lunatic-instrument --no-asyncify',
  instrumentAsyncifyOnly: 'lunatic-instrument --no-reductions',
  wasmOpt: 'npm binaryen wasm-opt -O2 --asyncify',
  wasmOptNative: 'Debian wasm-opt -O2 --asyncify',
} as const;
export type Tool = keyof typeof TOOLS;

/** Which tool's output each instrumented run variant executes. */
export const VARIANT_TOOL: Partial<Record<RunVariant, Tool>> = {
  asyncify: 'instrument',
  singleCopy: 'instrumentSingleCopy',
  singleAbove: 'instrumentSingleAbove',
  asyncifyOnly: 'instrumentAsyncifyOnly',
  wasmOpt: 'wasmOpt',
  jspi: 'instrumentCounters',
  countersRefill: 'instrumentCounters',
};

export interface ToolMeasurement {
  /** Median wall time of the whole command (process start to exit). */
  ms: number;
  samples: number[];
  /** Median CPU time (user + system): less sensitive than wall time to a busy machine. */
  cpuMs?: number;
  /** Peak resident memory (largest of the runs), when it could be measured. */
  maxRssKiB?: number;
  outputBytes: number;
  /** Bytes of the output's code section: the instructions alone, without names, DWARF or data. */
  codeBytes: number;
}

export interface RunMeasurement {
  /** Median of instantiation + `_start`, measured inside the child. */
  ms: number;
  samples: number[];
  /** Median CPU time of the same span (all threads of the child). */
  cpuMs: number;
  compileMs: number;
  yields: number;
  /** Same stdout and output files as the baseline run. */
  checksumOk: boolean;
  /** Median of a second run in the same process, the module's code compiled (DriverSpec.warm). */
  warmMs?: number;
}

export interface ProgramResult {
  name: string;
  description: string;
  inputBytes: number;
  inputCodeBytes: number;
  tools: Partial<Record<Tool, ToolMeasurement>>;
  runs: Partial<Record<RunVariant, RunMeasurement>>;
  /** What failed or was skipped, one line each. */
  notes: string[];
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  node24?: string;
  binaryen: string;
  wasmOptNative?: string;
}

export interface Targets {
  asyncifyGeomean: number;
  asyncifyWorst: number;
  sizeRatio: number;
  jspiGeomean: number;
}

export const TARGETS: Targets = { asyncifyGeomean: 1.15, asyncifyWorst: 1.5, sizeRatio: 1.25, jspiGeomean: 1.05 };

export interface BenchResults {
  date: string;
  commit?: string;
  machine: Machine;
  config: { runs: number; reductions: number; quick: boolean };
  targets: Targets;
  programs: ProgramResult[];
  /** Programs that could not be benchmarked at all, with the reason. */
  skipped: string[];
  /** The runtime's own figures (bench/runtime.ts: suspend/resume, spawn rate, memory per process). */
  runtime?: Record<string, unknown>;
  /** The scheduler scenarios (bench/scheduling.ts). */
  scheduling?: SchedulingResults;
  /** Programs nobody here tuned, and the large inputs to refuse (bench/third-party.ts). */
  thirdParty?: ThirdPartyResults;
  /** When `--scheduling-only` last measured them, if later than `date`. */
  schedulingDate?: string;
  schedulingCommit?: string;
}

export interface SchedulingResults {
  runs: number;
  /** Per backend ("asyncify": Node 20, "jspi": Node 24), per scenario, per code ("current", "baseline"): the median. */
  figures: Record<string, Record<string, Record<string, number | string>>>;
  nodes: Record<string, string>;
  /** What the "baseline" figures ran: the other checkout's commit. */
  baseline?: string;
}

/** The targets of the scheduler issue, per scenario and backend (undefined: none). */
export const SCHEDULING_TARGETS: Record<string, { asyncify?: string; jspi?: string }> = {
  'ring 1,000 x 100: hop (us)': { asyncify: '<= 2', jspi: '<= 1' },
  'ring 10,000 x 10: hop (us)': { asyncify: '<= 2', jspi: '<= 1' },
  'ping-pong: round trips/s': { jspi: '>= 500,000' },
  'sleep 5 ms beside 1 spinner: p99 late (ms)': { asyncify: '<= 2', jspi: '<= 2' },
  'sleep 5 ms beside 10 spinners: p99 late (ms)': { asyncify: '<= 11', jspi: '<= 11' },
  '10,000 processes ending at once: worst delay of another (ms)': { asyncify: '<= 10', jspi: '<= 10' },
};

/** A large module the instrumenter must refuse at once: how fast, with what message. */
export interface RefusalCheck {
  name: string;
  origin: string;
  inputBytes: number;
  /** Wall time of the whole command, Node start-up included. */
  ms: number;
  exitCode: number | null;
  /** What the command printed (one line expected). */
  message: string;
}

export interface ThirdPartyResults {
  date: string;
  commit?: string;
  /** Measured apart from the other figures, perhaps on another machine or Node. */
  machine?: Machine;
  runs: number;
  programs: ProgramResult[];
  refusals: RefusalCheck[];
  skipped: string[];
}

/** The targets of the robustness issue (26), judged on the third-party programs. */
export const THIRD_PARTY_TARGETS = {
  countersGeomean: 1.05,
  countersWorst: 1.15,
  asyncifyGeomean: 1.15,
  asyncifyWorst: 1.5,
  /** Default output no larger than binaryen's single-copy Asyncify with the same checks. */
  sizeVsSingleCopy: 1,
  countersSize: 1.25,
  /** Instrumentation time: at most npm wasm-opt's, at most twice native wasm-opt's. */
  timeVsNpmWasmOpt: 1,
  timeVsNativeWasmOpt: 2,
  memoryVsNativeWasmOpt: 2,
  refusalSeconds: 5,
} as const;
