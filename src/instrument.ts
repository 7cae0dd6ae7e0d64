// The instrumenter: reads a module, decides its features, runs the passes in order and emits
// the result with a report. Order matters: the reserved tail rewrites memory operations first,
// the reduction counter then sees the final program, and Asyncify runs last so it instruments
// the calls to `lunatic.yield` the counter added.
import { customSectionNames, declaredFeatures, raiseMemoryLimits, usesExceptionTags } from './binary.js';
import { asyncify as asyncifyPass } from '../passes/asyncify/asyncify.js';
import { reservedTail } from '../passes/asyncify/reserved-tail.js';
import { type Binaryen, binaryenMessage, type Module } from '../passes/ir/binaryen.js';
import { buildCallGraph } from '../passes/ir/call-graph.js';
import { PassContext } from '../passes/ir/context.js';
import { Progress, type ProgressListener, WRITING_PHASE } from '../passes/ir/progress.js';
import { definedFunctions } from '../passes/ir/module.js';
import { UnsupportedExpression } from '../passes/ir/walker.js';
import { type ProcessState, processState } from '../passes/state/process-state.js';
import { checkPlacement } from '../passes/reductions/check-placement.js';
import { type CostModel, instructionCost } from '../passes/reductions/cost-model.js';
import { type CheckCounts, reductionCounter } from '../passes/reductions/reduction-counter.js';
import { unrollLoops } from '../passes/reductions/unroll-loops.js';
import { unrollRecursion } from '../passes/reductions/unroll-recursion.js';
import { loadBinaryen } from './binaryen.js';
import { blockingImportGlobs } from './blocking-imports.js';
import { InputError, isUserError } from './errors.js';
import { detectFeatures, featureFlags, validationError } from './features.js';
import { defaultOf, type ResolvedOptions, resolveOptions, SECTION_OPTION_KEYS, type SectionOptions, type TableOptions } from './options.js';
import { binaryenOutOfMemory, heapGuard } from './out-of-memory.js';
import { EXCEPTIONS_WITH_ASYNCIFY, refuseEarly } from './refusals.js';
import { ABI_VERSION, encodeInstrumentInfo, type InstrumentInfo, SECTION_NAME } from './section.js';
import { VERSION } from './version.js';

/** The one kind of input the passes meet expressions they do not know in: binaryen.js 132 reads try_table and throw_ref but gives no API to walk them. */
const NEW_EXCEPTIONS =
  'uses the new exception-handling instructions (try_table, throw_ref), which lunatic-instrument cannot instrument yet; build it with the legacy ones (try/catch: LLVM -mllvm -wasm-use-legacy-eh, Emscripten -sWASM_LEGACY_EXCEPTIONS)';

export type OptimizeLevel = 0 | 1 | 2 | 3 | 4;

/** Whether a module that may use exception handling (its declared or detected features) does: a tag, or a try, throw or rethrow. */
function throwsOrCatches(binaryen: Binaryen, module: Module, bytes: Uint8Array): boolean {
  return usesExceptionTags(bytes) || [...buildCallGraph(binaryen, module).nodes.values()].some((node) => node.exceptions);
}

/**
 * The instrumenter's options: every option of the table in src/options.ts (described there, with
 * its default), and what only the library takes.
 */
export type InstrumentOptions = Omit<TableOptions, 'optimize'> & {
  /** binaryen optimization level for the instrumented code. */
  optimize?: OptimizeLevel;
  /** What a check charges per instruction (default: one per instruction). */
  costModel?: CostModel;
  /** Name used in messages (the input file). */
  fileName?: string;
  /** Told the phase and the functions done at each step (src/cli/progress-line.ts draws it). */
  progress?: ProgressListener;
};

export interface InstrumentReport {
  file: string;
  version: string;
  features: string[];
  inputBytes: number;
  outputBytes: number;
  definedFunctions: number;
  optimize: OptimizeLevel;
  milliseconds: number;
  reductions?: {
    checks: CheckCounts & { total: number };
    bound: number;
    /** Most instructions per frame when returning from a recursion, on top of `bound` (0: returns are checked). */
    returnStretch: number;
    checkLimit: number;
    checkReturns: boolean;
    costModel: string;
    recursiveFunctions: number;
    /** Small self-recursive functions with one level inlined into themselves: one check per two levels. */
    unrolledFunctions: string[];
    /** Small call-free loops given a second copy of their body: one check per two iterations. */
    unrolledLoops: number;
  };
  asyncify?: {
    blockingImports: string[];
    /** The input's functions that can reach a blocking import (not the helpers the instrumenter adds). */
    instrumentedFunctions: string[];
    usedOnlyList: boolean;
    /** True when our two-copy Asyncify ran, false for binaryen's (asked for, or a function it cannot copy). */
    rewindCopies: boolean;
    /** Functions over `singleCopyAbove` expressions, given one copy (0 without the limit, or with binaryen's Asyncify). */
    singleCopies: number;
    reservedPages: number;
    memoryExport: string;
  };
  /** Whether a host can reset and restore the instance (passes/state/process-state.ts). */
  state: ProcessState;
  warnings: string[];
}

export interface InstrumentResult {
  binary: Uint8Array;
  report: InstrumentReport;
}

export const DEFAULT_OPTIONS = {
  optimize: defaultOf('optimize') as OptimizeLevel,
  reservedPages: defaultOf('reservedPages') as number,
  checkLimit: defaultOf('checkLimit') as number,
};

function readModule(binaryen: Binaryen, bytes: Uint8Array): Module {
  try {
    return binaryen.readBinary(bytes);
  } catch (error) {
    throw (
      binaryenOutOfMemory(binaryen, error, 'reading') ??
      new InputError(`could not be read by binaryen: ${binaryenMessage(binaryen, error)}`)
    );
  }
}

/** The section's `options`: the recorded options of the table in its order, as they took effect. */
function sectionOptions(resolved: ResolvedOptions, rewindCopies: boolean, costModel: CostModel): SectionOptions {
  const recorded: Record<string, unknown> = {};
  for (const key of SECTION_OPTION_KEYS) recorded[key] = resolved[key] ?? null;
  // Copies are made only by our Asyncify, and only then does their size limit apply.
  recorded.rewindCopies = rewindCopies;
  recorded.singleCopyAbove = rewindCopies ? (resolved.singleCopyAbove ?? null) : null;
  recorded.handBackAbove = rewindCopies ? resolved.handBackAbove : null;
  recorded.reentryCopies = rewindCopies ? resolved.reentryCopies : null;
  recorded.costModel = costModel.name;
  return recorded as SectionOptions;
}

function emit(binaryen: Binaryen, module: Module): Uint8Array {
  const debugInfo = binaryen.getDebugInfo();
  binaryen.setDebugInfo(true); // keeps the name section: traps name their functions
  try {
    return module.emitBinary();
  } finally {
    binaryen.setDebugInfo(debugInfo);
  }
}

/** The caller's listener, after the guard that stops the work before V8's heap is full. */
function withHeapGuard(listener: ProgressListener | undefined): ProgressListener {
  const guard = heapGuard();
  return (phase, done, total) => {
    guard(phase, done, total);
    listener?.(phase, done, total);
  };
}

export async function instrument(bytes: Uint8Array, options: InstrumentOptions = {}): Promise<InstrumentResult> {
  const file = options.fileName ?? 'module';
  try {
    return await instrumentUnnamed(bytes, options, file);
  } catch (error) {
    // The same class (OutOfMemoryError among them), its message prefixed with the file.
    if (error instanceof InputError) throw new (error.constructor as typeof InputError)(`${file} ${error.message}`);
    throw error;
  }
}

async function instrumentUnnamed(bytes: Uint8Array, options: InstrumentOptions, file: string): Promise<InstrumentResult> {
  const started = performance.now();
  const resolved = resolveOptions(options);
  const {
    reductions: wantReductions,
    asyncify: wantAsyncify,
    reservedPages,
    checkLimit,
    checkReturns,
    rewindCopies,
    singleCopyAbove,
    handBackAbove,
    reentryCopies,
  } = resolved;
  const { unrollRecursion: unrollSelfRecursion, unrollLoops: unrollSmallLoops } = resolved;
  const optimize = resolved.optimize as OptimizeLevel;
  const costModel = options.costModel ?? instructionCost;
  refuseEarly(bytes, { asyncify: wantAsyncify, timeLimit: resolved.timeLimit });
  const binaryen = await loadBinaryen();
  const progress = new Progress(withHeapGuard(options.progress));
  progress.phase('reading');
  const module = readModule(binaryen, bytes);
  const warnings: string[] = [];
  let catches = false; // the module uses exception handling
  try {
    progress.phase('checking features');
    const features = detectFeatures(binaryen, module, declaredFeatures(bytes));
    catches = features.names.includes('exception-handling') && throwsOrCatches(binaryen, module, bytes);
    // a module may catch without a tag of its own (catch_all around an import): found only here
    if (wantAsyncify && catches) throw new InputError(EXCEPTIONS_WITH_ASYNCIFY);
    // What our own code needs: an exported mutable counter; memory.fill in the reserved tail.
    const outputFeatures = featureFlags(binaryen, [...features.names, 'mutable-globals', ...(wantAsyncify ? ['bulk-memory'] : [])]);
    module.setFeatures(outputFeatures);
    if (customSectionNames(bytes).some((name) => name.startsWith('.debug_'))) {
      module.runPasses(['strip-dwarf']);
      warnings.push('DWARF debug sections were removed: binaryen.js cannot update them, and stale ones would mislead a debugger');
    }
    // the input's own functions: the report counts these, not the helpers the passes add
    const inputFunctions = new Set(definedFunctions(binaryen, module).map((func) => binaryen.getFunctionInfo(func).name));
    const context = new PassContext(binaryen, module, progress);
    progress.phase('reserving memory');
    const tail = wantAsyncify ? reservedTail.run(context, { pages: reservedPages }) : undefined;
    let reductions: InstrumentReport['reductions'];
    if (wantReductions) {
      progress.phase('unrolling');
      const unrolledFunctions = unrollSelfRecursion ? unrollRecursion.run(context, {}) : [];
      const unrolledLoops = unrollSmallLoops ? unrollLoops.run(context, {}) : 0;
      const graph = context.callGraph();
      const plan = checkPlacement.run(context, { costs: costModel, limit: checkLimit, checkReturns });
      const checks = reductionCounter.run(context, { plan });
      reductions = {
        checks: { ...checks, total: checks.loops + checks.entries + checks.afterCalls },
        bound: plan.bound,
        returnStretch: plan.returnStretch,
        checkLimit,
        checkReturns,
        costModel: costModel.name,
        recursiveFunctions: [...graph.nodes.values()].filter((n) => n.recursive).length,
        unrolledFunctions,
        unrolledLoops,
      };
    }
    let asyncify: InstrumentReport['asyncify'];
    const globs = blockingImportGlobs(resolved.blockingImports);
    if (tail) {
      progress.phase('Asyncify');
      const result = asyncifyPass.run(context, {
        blockingGlobs: globs,
        optimizeLevel: optimize,
        rewindCopies,
        handBackAbove,
        reentryCopies,
        ...(singleCopyAbove !== undefined ? { singleCopyAbove } : {}),
      });
      asyncify = {
        blockingImports: result.blockingImports,
        instrumentedFunctions: result.instrumented.filter((name) => inputFunctions.has(name)),
        usedOnlyList: result.usedOnlyList,
        rewindCopies: result.rewindCopies,
        singleCopies: result.singleCopies.filter((name) => inputFunctions.has(name)).length,
        reservedPages: tail.pages,
        memoryExport: tail.memoryExport,
      };
      if (!result.usedOnlyList)
        warnings.push('some function names cannot be listed for binaryen; Asyncify used its own, more conservative analysis');
    }
    if (optimize >= 3) {
      progress.phase('optimizing');
      binaryen.setOptimizeLevel(optimize);
      module.optimize();
    }
    const state = processState.run(context, {});
    const info: InstrumentInfo = {
      abi: ABI_VERSION,
      tool: 'lunatic-instrument',
      version: VERSION,
      reductions: wantReductions,
      asyncify: wantAsyncify,
      blockingImports: wantAsyncify ? globs : [],
      bound: reductions?.bound ?? 0,
      returnStretch: reductions?.returnStretch ?? 0,
      reservedPages: tail?.pages ?? 0,
      resettable: state.resettable,
      ...(catches ? { exceptions: true } : {}),
      options: sectionOptions(resolved, asyncify?.rewindCopies ?? false, costModel),
    };
    module.addCustomSection(SECTION_NAME, encodeInstrumentInfo(info));
    progress.phase('validating');
    const invalid = validationError(module, outputFeatures);
    if (invalid !== undefined)
      throw new Error(`produced an invalid module (${invalid}); this is a bug in lunatic-instrument, please report it with the input`);
    progress.phase(WRITING_PHASE);
    let binary = emit(binaryen, module);
    if (tail) binary = raiseMemoryLimits(binary, tail.pages);
    return {
      binary,
      report: {
        file,
        version: VERSION,
        features: features.names,
        inputBytes: bytes.length,
        outputBytes: binary.length,
        definedFunctions: inputFunctions.size,
        optimize,
        milliseconds: Math.round(performance.now() - started),
        ...(reductions ? { reductions } : {}),
        ...(asyncify ? { asyncify } : {}),
        state,
        warnings,
      },
    };
  } catch (error) {
    if (isUserError(error)) throw error;
    if (error instanceof UnsupportedExpression && catches) throw new InputError(NEW_EXCEPTIONS);
    throw (
      binaryenOutOfMemory(binaryen, error, progress.current) ??
      (error instanceof Error ? error : new Error(binaryenMessage(binaryen, error)))
    );
  } finally {
    module.dispose();
  }
}
