// Asyncify: lets the host unwind the wasm stack at a blocking import and rewind it later, so a
// blocking C call becomes async underneath (binaryen's Asyncify ABI, docs/ABI.md).
//
// The policy lives here: the blocking imports are those matching the blocking globs the
// instrumenter passes in (passes/ir/globs.ts), and the functions to instrument those that can reach one of them in
// our call graph, where indirect calls are resolved by signature (binaryen alone assumes every
// indirect call may unwind, which instruments far more code than needed); the report shows that
// list. The mechanism is our two-copy Asyncify (passes/asyncify/asyncify-copies.ts) by default, or
// binaryen's pass, handed the same two lists as its import list and only-list.
import { allNumeric, type Binaryen, binaryenMessage, type ExpressionRef, isTuple, localTypes, type Module } from '../ir/binaryen.js';
import { matchesAny } from '../ir/globs.js';
import { InputError } from '../ir/errors.js';
import { applyAsyncifyCopies } from './asyncify-copies.js';
import { type CallGraph, callersOf, isTailCall } from '../ir/call-graph.js';
import type { Pass, PassContext } from '../ir/context.js';
import { Walker } from '../ir/walker.js';

export interface AsyncifyOptions {
  /** `module.name` globs of the imports that may block (passes/ir/globs.ts). */
  blockingGlobs: readonly string[];
  /** binaryen's optimization level for the code Asyncify adds (0: none). */
  optimizeLevel: number;
  /** Our two copies per function (passes/asyncify/asyncify-copies.ts) rather than binaryen's Asyncify. */
  rewindCopies: boolean;
  /** With rewind copies: functions of more expressions get their rewind copy alone. */
  singleCopyAbove?: number;
  /** With rewind copies: functions of at least this many expressions hand resumed frames back to fast code (reentry.ts). */
  handBackAbove: number;
  /** With rewind copies: such frames go on in a re-entry copy of the fast copy, not in the fast copy itself. */
  reentryCopies: boolean;
}

export interface AsyncifyResult {
  /** `module.base` of the imports that may unwind. */
  blockingImports: string[];
  /** Defined functions that can reach a blocking import, and so were instrumented. */
  instrumented: string[];
  /** Names binaryen's comma-separated lists cannot carry made us fall back to its own analysis. */
  usedOnlyList: boolean;
  /** Whether our copies were made (each function a fast and a rewind copy, or one) rather than binaryen's Asyncify run. */
  rewindCopies: boolean;
  /** Functions past the size limit, given their rewind copy alone (none with binaryen's Asyncify). */
  singleCopies: string[];
}

/** Placeholder import list when nothing can block: binaryen treats an empty list as "all". */
const NO_IMPORT = 'lunatic-instrument.nothing-blocks';

/** A name is safe in binaryen's list when no comma stands outside brackets. */
function listSafe(name: string): boolean {
  let depth = 0;
  for (const ch of name) {
    if ('([{<'.includes(ch)) depth++;
    else if (')]}>'.includes(ch)) depth--;
    else if (ch === ',' && depth === 0) return false;
  }
  return depth === 0;
}

class TailCallFinder extends Walker {
  found = false;

  protected visit(expr: ExpressionRef, kind: string): void {
    if (isTailCall(this.binaryen, expr, kind)) this.found = true;
  }
}

const WAY_OUT = 'instrument with --no-asyncify and run it on a JSPI host (Node 24+, Chrome 137+)';

/**
 * What Asyncify cannot do, refused first with the way out: tail calls, and locals or results of
 * reference types, in a function that can suspend. Multivalue tuples in locals (binaryen's
 * scratch locals for several results) are saved element by element by our copies, and refused
 * only on the way to binaryen's Asyncify (refuseTupleLocals).
 */
function refuseUnsupported(binaryen: Binaryen, module: Module, graph: CallGraph, instrumented: string[]): void {
  for (const name of instrumented) {
    const func = graph.nodes.get(name)!.ref;
    const finder = new TailCallFinder(binaryen, module);
    finder.walkFunction(func);
    if (finder.found)
      throw new InputError(
        `uses tail calls (return_call) in function "${name}", which can suspend, and Asyncify cannot unwind through them; ${WAY_OUT}`,
      );
    if (!localTypes(binaryen, func).every((type) => allNumeric(binaryen, type))) {
      throw new InputError(
        `keeps references in locals of function "${name}", which can suspend, and Asyncify cannot save them; ${WAY_OUT}`,
      );
    }
    if (!allNumeric(binaryen, binaryen.getFunctionInfo(func).results)) {
      throw new InputError(`returns a reference from function "${name}", which can suspend, and Asyncify cannot save it; ${WAY_OUT}`);
    }
  }
}

/**
 * On the way to binaryen's Asyncify (`--no-rewind-copies` when `chosen`, or a function our
 * copies cannot take): a multivalue tuple in a local of a function that can suspend is refused
 * there, since fuzzing found binaryen's Asyncify to differ from the original on such a function
 * (docs/robustness.md, item 9).
 */
function refuseTupleLocals(binaryen: Binaryen, graph: CallGraph, instrumented: string[], chosen: boolean): void {
  const wayOut = chosen ? `instrument without --no-rewind-copies, or ${WAY_OUT}` : WAY_OUT;
  for (const name of instrumented) {
    if (!localTypes(binaryen, graph.nodes.get(name)!.ref).some((type) => isTuple(binaryen, type))) continue;
    throw new InputError(
      `keeps multivalue tuples in locals of function "${name}", which can suspend, and binaryen's Asyncify does not save them soundly; ${wayOut}`,
    );
  }
}

/**
 * Instruments what can reach a blocking import: with our two-copy Asyncify when `rewindCopies`
 * and every such function allows it (passes/asyncify/asyncify-copies.ts; one copy for functions of more
 * than `singleCopyAbove` expressions), else with binaryen's.
 */
export const asyncify: Pass<AsyncifyOptions, AsyncifyResult> = {
  name: 'asyncify',
  run(context, options) {
    const result = runAsyncify(context, options);
    context.changed();
    return result;
  },
};

function runAsyncify(
  context: PassContext,
  { blockingGlobs, optimizeLevel, rewindCopies, singleCopyAbove, handBackAbove, reentryCopies }: AsyncifyOptions,
): AsyncifyResult {
  const { binaryen, module } = context;
  const graph = context.callGraph();
  const blockingImports: string[] = [];
  const sinks = new Set<string>();
  for (const node of graph.nodes.values()) {
    if (node.importName !== undefined && matchesAny(node.importName, blockingGlobs)) {
      blockingImports.push(node.importName);
      sinks.add(node.name);
    }
  }
  const instrumented = [...callersOf(graph, sinks)].filter((name) => graph.nodes.get(name)!.importName === undefined);
  refuseUnsupported(binaryen, module, graph, instrumented);
  binaryen.setOptimizeLevel(optimizeLevel);
  const singleCopies = rewindCopies
    ? applyAsyncifyCopies(context, {
        instrumented,
        sinks,
        optimize: optimizeLevel > 0,
        handBackAbove,
        reentryCopies,
        ...(singleCopyAbove !== undefined ? { singleCopyAbove } : {}),
      })
    : undefined;
  if (singleCopies !== undefined) return { blockingImports, instrumented, usedOnlyList: true, rewindCopies: true, singleCopies };
  // `chosen`: binaryen's Asyncify because the user asked for it, not because our copies could not take a function.
  refuseTupleLocals(binaryen, graph, instrumented, !rewindCopies);
  const usedOnlyList = instrumented.every(listSafe);
  binaryen.clearPassArguments();
  try {
    binaryen.setPassArgument('asyncify-imports', blockingImports.length ? blockingImports.join(',') : NO_IMPORT);
    // With nothing to instrument, only-list has no name to carry: telling binaryen that indirect
    // calls cannot unwind gives the same result (our graph says nothing can).
    if (!instrumented.length) binaryen.setPassArgument('asyncify-ignore-indirect', '1');
    else if (usedOnlyList) binaryen.setPassArgument('asyncify-onlylist', instrumented.join(','));
    runBinaryenAsyncify(binaryen, module);
  } finally {
    binaryen.clearPassArguments();
  }
  return { blockingImports, instrumented, usedOnlyList, rewindCopies: false, singleCopies: [] };
}

/**
 * binaryen's Asyncify, its known refusals made one-line errors: a reference value (a call's
 * operand, say) held across a call that can suspend, in a function whose own locals and results
 * are numbers, which refuseUnsupported cannot see before binaryen flattens the function; and a
 * tail call that refuseUnsupported did not see (fuzz seed 720004, with item 9 of
 * docs/robustness.md undone).
 */
function runBinaryenAsyncify(binaryen: Binaryen, module: Module): void {
  try {
    module.runPasses(['asyncify']);
  } catch (error) {
    const message = binaryenMessage(binaryen, error);
    if (/does not yet support non-number types/.test(message))
      throw new InputError(`holds a reference across a call that can suspend, and Asyncify cannot save it; ${WAY_OUT}`);
    if (/tail calls not yet supported/.test(message))
      throw new InputError(`uses tail calls (return_call), which binaryen's Asyncify cannot instrument; ${WAY_OUT}`);
    throw error;
  }
}
