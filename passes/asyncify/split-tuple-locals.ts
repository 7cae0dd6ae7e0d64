// Splits a function's tuple locals into one local per element, so the two-copy Asyncify
// (asyncify-copies.ts) can save them like any other: a frame slot holds a number, not a tuple.
//
// binaryen reads the results of a multivalue call (or block, if, loop) into a local of a tuple
// type when they are not consumed at once; flattening makes more. Each such local `$t` of n
// elements becomes n locals, and:
//  - `local.get $t` becomes `tuple.make (local.get $t.0) ... (local.get $t.n-1)`, and a
//    `tuple.extract i` of it the element's `local.get $t.i`;
//  - `local.set $t V` becomes `local.set $scratch V` and `local.set $t.i (tuple.extract i
//    (local.get $scratch))` for each element (a tee then reads the scratch local back). The
//    scratch local, one per tuple type, is still a tuple, but it is only live between its set and
//    the extractions that follow it, never at a call or across a loop, so no frame saves it.
//
// Run on a function after its call sites are lifted (lift-call-sites.ts), before liveness.
import {
  addLocal,
  type Binaryen,
  type ExpressionRef,
  type FunctionRef,
  isTuple,
  localTypes,
  type Module,
  scratchLocals,
} from '../ir/binaryen.js';
import { kindOf, Walker } from '../ir/walker.js';

interface LocalInfo {
  index: number;
  isTee: boolean;
  value: ExpressionRef;
}

class TupleLocalSplitter extends Walker {
  constructor(
    binaryen: Binaryen,
    module: Module,
    /** For each split tuple local, its element locals. */
    private readonly elements: ReadonlyMap<number, readonly number[]>,
    private readonly types: readonly number[],
    private readonly scratch: (type: number) => number,
  ) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    if (kind === 'LocalGet') this.splitGet(expr);
    else if (kind === 'LocalSet') this.splitSet(expr);
    else if (kind === 'TupleExtract') this.foldExtract(expr);
  }

  private splitGet(expr: ExpressionRef): void {
    const { binaryen, module } = this;
    const { index } = binaryen.getExpressionInfo(expr) as unknown as LocalInfo;
    const parts = this.elements.get(index);
    if (!parts) return;
    const elementTypes = binaryen.expandType(this.types[index]!);
    this.replaceCurrent(module.tuple.make(parts.map((local, i) => module.local.get(local, elementTypes[i]!))));
  }

  private splitSet(expr: ExpressionRef): void {
    const { binaryen, module } = this;
    const { index, isTee, value } = binaryen.getExpressionInfo(expr) as unknown as LocalInfo;
    const parts = this.elements.get(index);
    if (!parts) return;
    const type = this.types[index]!;
    const scratch = this.scratch(type);
    const statements = [
      module.local.set(scratch, value),
      ...parts.map((local, i) => module.local.set(local, module.tuple.extract(module.local.get(scratch, type), i))),
    ];
    if (isTee) statements.push(module.local.get(scratch, type));
    this.replaceCurrent(module.block(null, statements, isTee ? type : binaryen.none));
  }

  /** `tuple.extract i (tuple.make ...)` of a split local's get is that element's get. */
  private foldExtract(expr: ExpressionRef): void {
    const { binaryen } = this;
    const { tuple, index } = binaryen.getExpressionInfo(expr) as unknown as { tuple: ExpressionRef; index: number };
    if (kindOf(binaryen, tuple) !== 'TupleMake') return;
    const { operands } = binaryen.getExpressionInfo(tuple) as unknown as { operands: ExpressionRef[] };
    if (operands.every((operand) => kindOf(binaryen, operand) === 'LocalGet')) this.replaceCurrent(operands[index]!);
  }
}

/** Splits `func`'s tuple locals into element locals (see the header). */
export function splitTupleLocals(binaryen: Binaryen, module: Module, func: FunctionRef): void {
  const types = localTypes(binaryen, func);
  const elements = new Map<number, number[]>();
  types.forEach((type, index) => {
    if (isTuple(binaryen, type))
      elements.set(
        index,
        binaryen.expandType(type).map((element) => addLocal(binaryen, func, element)),
      );
  });
  if (elements.size) new TupleLocalSplitter(binaryen, module, elements, types, scratchLocals(binaryen, func)).walkFunction(func);
}
