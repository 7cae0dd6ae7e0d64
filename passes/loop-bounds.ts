// Loop bounds: how many times a counted loop can iterate, when that is plain from its code, so
// check-placement.ts can charge a short counted loop as straight-line code instead of checking
// on every iteration (SHA-256's 16- and 64-round loops, vector loops over a fixed size).
//
// Recognized: an innermost loop whose only way back is its last statement,
//   (br_if $loop (OP (local.tee $i (i32.add (local.get $i) (i32.const STEP))) (i32.const END)))
// where nothing else in the loop writes $i, and
//  - OP is i32.lt_u with STEP > 0: whatever $i starts at, at most 2 + END / STEP iterations
//    (one that may wrap $i around, then counting up to END);
//  - OP is i32.ne: $i must start at a known constant, set by the nearest statement before the
//    loop (in the same block) that writes it, or 0 for a declared local (not a parameter) that
//    nothing writes before a loop in the function's top-level block; then exactly
//    (END - start) / STEP iterations, modulo 2^32, when STEP divides that distance.
// Anything else is unbounded as far as we know, and keeps its check.
import { accessor, type Binaryen, type ExpressionRef, type Module } from '../src/binaryen.js';
import { branchTargets, kindOf, Walker } from './pass.js';

/** Iteration counts past this are not worth treating as straight-line code anyway. */
const MAX_TRIPS = 1 << 20;

interface CountedCondition {
  local: number;
  step: number;
  end: number;
  /** `ne`: needs the start value; `lt_u`: bounded from any start. */
  op: 'ne' | 'lt_u';
}

/** Locals written anywhere inside an expression, and whether it holds a loop or a branch to `label`. */
class Writes extends Walker {
  readonly locals = new Map<number, ExpressionRef[]>();
  loops = 0;
  branchesTo = 0;

  constructor(binaryen: Binaryen, module: Module, private readonly label: string | null) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    if (kind === 'LocalSet') {
      const index = accessor(this.binaryen, 'LocalSet', 'getIndex')(expr);
      const sets = this.locals.get(index);
      if (sets) sets.push(expr);
      else this.locals.set(index, [expr]);
    } else if (kind === 'Loop') this.loops++;
    else if (this.label !== null && branchTargets(this.binaryen, expr, kind).includes(this.label)) this.branchesTo++;
  }
}

function i32Constant(binaryen: Binaryen, expr: ExpressionRef): number | undefined {
  if (kindOf(binaryen, expr) !== 'Const' || binaryen.getExpressionType(expr) !== binaryen.i32) return undefined;
  return accessor(binaryen, 'Const', 'getValueI32')(expr) | 0;
}

/** `(OP (local.tee $i (i32.add (local.get $i) (i32.const STEP))) (i32.const END))`, or undefined. */
function countedCondition(binaryen: Binaryen, condition: ExpressionRef): { tee: ExpressionRef; condition: CountedCondition } | undefined {
  if (kindOf(binaryen, condition) !== 'Binary') return undefined;
  const binary = (name: string) => accessor(binaryen, 'Binary', name)(condition);
  const opCode = binary('getOp');
  const op = opCode === binaryen.NeInt32 ? 'ne' : opCode === binaryen.LtUInt32 ? 'lt_u' : undefined;
  const end = i32Constant(binaryen, binary('getRight'));
  const tee = binary('getLeft');
  if (!op || end === undefined || kindOf(binaryen, tee) !== 'LocalSet' || !accessor<boolean>(binaryen, 'LocalSet', 'isTee')(tee)) return undefined;
  const local = accessor(binaryen, 'LocalSet', 'getIndex')(tee);
  const add = accessor(binaryen, 'LocalSet', 'getValue')(tee);
  if (kindOf(binaryen, add) !== 'Binary' || accessor(binaryen, 'Binary', 'getOp')(add) !== binaryen.AddInt32) return undefined;
  const previous = accessor(binaryen, 'Binary', 'getLeft')(add);
  const step = i32Constant(binaryen, accessor(binaryen, 'Binary', 'getRight')(add));
  if (step === undefined || step === 0 || kindOf(binaryen, previous) !== 'LocalGet' || accessor(binaryen, 'LocalGet', 'getIndex')(previous) !== local) return undefined;
  return { tee, condition: { local, step, end, op } };
}

/** The last statement of a loop body: the body itself, or the last child of its block. */
function lastStatement(binaryen: Binaryen, body: ExpressionRef): ExpressionRef {
  if (kindOf(binaryen, body) !== 'Block') return body;
  const count = accessor(binaryen, 'Block', 'getNumChildren')(body);
  return count ? accessor(binaryen, 'Block', 'getChildAt')(body, count - 1) : body;
}

/** Where a loop stands: its block's statements, and whether those before it are all its function ran. */
export interface LoopPosition {
  /** The statements of the loop's block; the loop is number `index`. */
  siblings: readonly ExpressionRef[];
  index: number;
  /** The block is the function's body: declared locals are still 0 unless a statement before writes them. */
  functionStart: boolean;
  /** Parameters of the function (locals below this index hold arguments). */
  params: number;
}

/**
 * The value `local` holds when the loop starts: the nearest preceding statement that writes it
 * must be `local.set local (i32.const X)`; with none, a declared local at the function's start is 0.
 */
function startValue(binaryen: Binaryen, module: Module, local: number, position: LoopPosition): number | undefined {
  for (let i = position.index - 1; i >= 0; i--) {
    const statement = position.siblings[i]!;
    const writes = new Writes(binaryen, module, null);
    writes.walkExpression(statement);
    if (!writes.locals.has(local)) continue;
    const isPlainSet = kindOf(binaryen, statement) === 'LocalSet' && accessor(binaryen, 'LocalSet', 'getIndex')(statement) === local && !accessor<boolean>(binaryen, 'LocalSet', 'isTee')(statement);
    return isPlainSet ? i32Constant(binaryen, accessor(binaryen, 'LocalSet', 'getValue')(statement)) : undefined;
  }
  return position.functionStart && local >= position.params ? 0 : undefined;
}

function trips(condition: CountedCondition, start: number | undefined): number | undefined {
  const { step, end, op } = condition;
  if (op === 'lt_u') return step > 0 ? 2 + Math.ceil((end >>> 0) / step) : undefined;
  if (start === undefined) return undefined;
  // The distance the counter must travel, modulo 2^32, in the direction of its step.
  const distance = step > 0 ? (end - start) >>> 0 : (start - end) >>> 0;
  const stride = Math.abs(step);
  return distance > 0 && distance % stride === 0 ? distance / stride : undefined;
}

/**
 * The most times the header of `loop` can be reached per entry into it, or undefined when the
 * loop is not a recognized counted loop.
 */
export function tripBound(binaryen: Binaryen, module: Module, loop: ExpressionRef, position: LoopPosition): number | undefined {
  const name = accessor<string | null>(binaryen, 'Loop', 'getName')(loop);
  const body = accessor(binaryen, 'Loop', 'getBody')(loop);
  const last = lastStatement(binaryen, body);
  if (!name || kindOf(binaryen, last) !== 'Break' || accessor<string>(binaryen, 'Break', 'getName')(last) !== name) return undefined;
  const conditionExpr = accessor(binaryen, 'Break', 'getCondition')(last);
  const counted = conditionExpr ? countedCondition(binaryen, conditionExpr) : undefined;
  if (!counted) return undefined;
  const writes = new Writes(binaryen, module, name);
  writes.walkExpression(body);
  const onlyTheTee = writes.locals.get(counted.condition.local)?.every((set) => set === counted.tee) ?? true;
  if (writes.loops || writes.branchesTo !== 1 || !onlyTheTee) return undefined;
  const start = counted.condition.op === 'ne' ? startValue(binaryen, module, counted.condition.local, position) : undefined;
  const bound = trips(counted.condition, start);
  return bound !== undefined && bound <= MAX_TRIPS ? bound : undefined;
}
