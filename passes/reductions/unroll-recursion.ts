// Recursion unrolling: inlines one level of a small self-recursive function into itself, so each
// call runs two levels of the recursion and passes one entry check instead of two.
//
// Why: a function that calls itself needs a reduction check on entry (check-placement.ts), and
// for a body as small as naive Fibonacci's that check is a fifth of the work. After unrolling,
// the function is still self-recursive (the inlined copy keeps calling it), so placement puts
// the same single entry check there, now charging two levels; the guarantee is computed on the
// unrolled code like on any other. Engines also optimize the larger body better: under JSPI,
// fib runs faster than the uninstrumented original.
//
// What qualifies: a defined function with one or two direct calls to itself (growth at most 3x)
// and no other calls, tail calls included, at most MAX_EXPRESSIONS expressions and only numeric
// locals (the copy's locals are zeroed on each entry). Other calls are left out because what
// they run would join the stretch after each inlined return, which the entry check can prepay
// only while it is short (a call to malloc is not); a `return_call` in the inlined copy would
// return from the caller.
// Each self-call becomes a block that sets the copy's parameters from the call's operands, zeroes
// its other locals and runs a copy of the original body with locals and labels renamed and each
// `return` turned into a branch out of the block.
import {
  accessor,
  addLocal,
  type Binaryen,
  type ExpressionRef,
  type FunctionRef,
  isNumericType,
  localTypes,
  type Module,
  untyped,
  zeroOf,
} from '../ir/binaryen.js';
import { isTailCall } from '../ir/call-graph.js';
import type { NoOptions, Pass } from '../ir/context.js';
import { CALL_KINDS, EXCEPTION_KINDS, LabelRenamer, type Slot, Walker } from '../ir/walker.js';
import { definedFunctions } from '../ir/module.js';

/** Larger bodies gain little from saving a check per level and cost more bytes to copy. */
const MAX_EXPRESSIONS = 64;
const MAX_SELF_CALLS = 2;

/** The places in a body that call the function itself, and whether the body can be copied. */
class SelfCallFinder extends Walker {
  readonly sites: Slot[] = [];
  expressions = 0;
  copyable = true;

  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly self: string,
  ) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    this.expressions++;
    if (
      kind === 'Call' &&
      accessor<string>(this.binaryen, 'Call', 'getTarget')(expr) === this.self &&
      !isTailCall(this.binaryen, expr, kind)
    )
      this.sites.push(this.currentPlace());
    else if (CALL_KINDS.has(kind) || kind === 'Pop' || EXCEPTION_KINDS.has(kind)) this.copyable = false;
  }
}

/** Renames locals and labels of a copied body and turns its returns into branches to `exit`. */
class Relocator extends LabelRenamer {
  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly locals: number[],
    private readonly exit: string,
    suffix: string,
  ) {
    super(binaryen, module, (name) => `${name}${suffix}`);
  }

  protected override visit(expr: ExpressionRef, kind: string): void {
    const b = this.binaryen;
    super.visit(expr, kind);
    if (kind === 'LocalGet' || kind === 'LocalSet') accessor(b, kind, 'setIndex')(expr, this.locals[accessor(b, kind, 'getIndex')(expr)]!);
    else if (kind === 'Return')
      this.replaceCurrent(this.module.br(this.exit, undefined, accessor(b, 'Return', 'getValue')(expr) || undefined));
  }
}

/** The function being unrolled, as it was before: its local types and how many are params. */
interface Original {
  func: FunctionRef;
  localTypes: number[];
  params: number;
  results: number;
}

/** The inlined level that replaces one self-call: parameters set, locals zeroed, body copied. */
function inlinedLevel(
  binaryen: Binaryen,
  module: Module,
  original: Original,
  bodyCopy: ExpressionRef,
  call: ExpressionRef,
  level: number,
): ExpressionRef {
  const { func, localTypes: types, params, results } = original;
  const locals = types.map((type) => addLocal(binaryen, func, type));
  const exit = `lunatic$unrolled${level}`;
  const copy = module.block(null, [bodyCopy], results);
  new Relocator(binaryen, module, locals, exit, `$u${level}`).walkExpression(copy);
  const operands = Array.from({ length: accessor(binaryen, 'Call', 'getNumOperands')(call) }, (_, i) =>
    accessor(binaryen, 'Call', 'getOperandAt')(call, i),
  );
  const setParams = operands.map((operand, i) => module.local.set(locals[i]!, operand));
  const zeroLocals = types.slice(params).map((type, i) => module.local.set(locals[params + i]!, zeroOf(binaryen, module, type)));
  return module.block(exit, [...setParams, ...zeroLocals, copy], results);
}

/** Unrolls every qualifying function once; returns the names of those unrolled. */
export const unrollRecursion: Pass<NoOptions, string[]> = {
  name: 'unroll-recursion',
  run(context) {
    const unrolled = unrollEach(context.binaryen, context.module);
    context.changed();
    return unrolled;
  },
};

function unrollEach(binaryen: Binaryen, module: Module): string[] {
  const unrolled: string[] = [];
  for (const func of definedFunctions(binaryen, module)) {
    const info = binaryen.getFunctionInfo(func);
    const finder = new SelfCallFinder(binaryen, module, info.name);
    finder.walkFunction(func);
    const sites = finder.sites;
    if (!sites.length || sites.length > MAX_SELF_CALLS || !finder.copyable || finder.expressions > MAX_EXPRESSIONS) continue;
    const original: Original = {
      func,
      localTypes: localTypes(binaryen, func),
      params: binaryen.expandType(info.params).length,
      results: info.results,
    };
    if (!original.localTypes.every((type) => isNumericType(binaryen, type))) continue;
    // Copies of the original body, made before any call in it is replaced. Sites come callee
    // first, so a self-call among another's operands is inlined before it is moved.
    const body = untyped(binaryen).Function.getBody(func);
    const copies = sites.map(() => module.copyExpression(body));
    for (const [i, site] of sites.entries()) site.set(inlinedLevel(binaryen, module, original, copies[i]!, site.get(), i));
    unrolled.push(info.name);
  }
  return unrolled;
}
