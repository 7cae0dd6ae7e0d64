// Loop bounds: how many times a counted loop can iterate, when that is plain from its code, so
// check-placement.ts can charge a short counted loop as straight-line code instead of checking
// on every iteration (SHA-256's 16-, 48- and 64-round loops, vector loops over a fixed size).
//
// Recognized: an innermost loop whose only way back is its last statement, either
//   (br_if $loop TEST)                       or   (if TEST (then ... (br $loop)))
// where TEST compares a counter $i with a constant, `(OP $i (i32.const END))`, and $i steps by a
// constant once per way back and is written nowhere else in the loop: either in TEST itself,
// `(local.tee $i (i32.add (local.get $i) (i32.const STEP)))`, or by a statement
// `(local.set $i (i32.add (local.get $i) (i32.const STEP)))` of the body before the test (TEST
// then reads the stepped value) or of the then-arm (TEST reads the value before the step). OP:
//  - i32.lt_u with STEP > 0 and END + STEP <= 2^32 (so a counter that passed the test cannot wrap
//    around past END): whatever $i starts at, at most 2 + END / STEP iterations (one that may
//    start or wrap $i anywhere, then counting up to END);
//  - i32.ne, also written `(i32.eqz (i32.eq ...))`: $i must start at a known constant, set by the
//    nearest statement before the loop (in the same block) that writes it, or 0 for a declared
//    local (not a parameter) that nothing writes before a loop in the function's top-level
//    block; then exactly (END - start) / STEP iterations, modulo 2^32, when STEP divides that
//    distance (one more when TEST reads the value before the step).
// Anything else is unbounded as far as we know, and keeps its check.
import { accessor, type Binaryen, type ExpressionRef, type Module } from './binaryen.js';
import { blockChildren, branchTargets, kindOf, Walker } from './walker.js';

/** Iteration counts past this are not worth treating as straight-line code anyway. */
const MAX_TRIPS = 1 << 20;

interface CountedCondition {
  local: number;
  step: number;
  end: number;
  /** `ne`: needs the start value; `lt_u`: bounded from any start. */
  op: 'ne' | 'lt_u';
  /** The test reads the counter after this way back's step (true), or before it. */
  testsStepped: boolean;
}

/** Locals written anywhere inside an expression, and whether it holds a loop or a branch to `label`. */
class Writes extends Walker {
  readonly locals = new Map<number, ExpressionRef[]>();
  loops = 0;
  branchesTo = 0;

  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly label: string | null,
  ) {
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

/** STEP when `expr` is `(i32.add (local.get local) (i32.const STEP))` with STEP not 0. */
function stepOf(binaryen: Binaryen, expr: ExpressionRef, local: number): number | undefined {
  if (kindOf(binaryen, expr) !== 'Binary' || accessor(binaryen, 'Binary', 'getOp')(expr) !== binaryen.AddInt32) return undefined;
  const previous = accessor(binaryen, 'Binary', 'getLeft')(expr);
  const step = i32Constant(binaryen, accessor(binaryen, 'Binary', 'getRight')(expr));
  const readsLocal = kindOf(binaryen, previous) === 'LocalGet' && accessor(binaryen, 'LocalGet', 'getIndex')(previous) === local;
  return readsLocal && step !== 0 ? step : undefined;
}

/** The statements of a block, or the expression itself as the only one. */
function statementsOf(binaryen: Binaryen, expr: ExpressionRef): ExpressionRef[] {
  return kindOf(binaryen, expr) === 'Block' ? blockChildren(binaryen, expr) : [expr];
}

function isBranchTo(binaryen: Binaryen, expr: ExpressionRef, label: string, conditional: boolean): boolean {
  if (kindOf(binaryen, expr) !== 'Break' || accessor<string>(binaryen, 'Break', 'getName')(expr) !== label) return false;
  return (accessor(binaryen, 'Break', 'getCondition')(expr) !== 0) === conditional;
}

/** A loop's only way back, when it is its last statement: the test that takes it and the statements run on the way. */
interface BackEdge {
  test: ExpressionRef;
  /** The body's statements before the test, and the then-arm's before its `br` (none for `br_if`). */
  beforeTest: ExpressionRef[];
  afterTest: ExpressionRef[];
}

function backEdge(binaryen: Binaryen, body: ExpressionRef, label: string): BackEdge | undefined {
  const statements = statementsOf(binaryen, body);
  const last = statements.pop();
  if (last === undefined) return undefined;
  if (isBranchTo(binaryen, last, label, true))
    return { test: accessor(binaryen, 'Break', 'getCondition')(last), beforeTest: statements, afterTest: [] };
  if (kindOf(binaryen, last) !== 'If' || accessor(binaryen, 'If', 'getIfFalse')(last)) return undefined;
  const arm = statementsOf(binaryen, accessor(binaryen, 'If', 'getIfTrue')(last));
  const branch = arm.pop();
  if (branch === undefined || !isBranchTo(binaryen, branch, label, false)) return undefined;
  return { test: accessor(binaryen, 'If', 'getCondition')(last), beforeTest: statements, afterTest: arm };
}

/** `(OP COUNTER (i32.const END))`, with `(i32.eqz (i32.eq ...))` read as `ne`. */
function comparison(
  binaryen: Binaryen,
  test: ExpressionRef,
): { op: CountedCondition['op']; counter: ExpressionRef; end: number } | undefined {
  let expr = test;
  let eqz = false;
  if (kindOf(binaryen, expr) === 'Unary' && accessor(binaryen, 'Unary', 'getOp')(expr) === binaryen.EqZInt32) {
    expr = accessor(binaryen, 'Unary', 'getValue')(expr);
    eqz = true;
  }
  if (kindOf(binaryen, expr) !== 'Binary') return undefined;
  const binary = (name: string) => accessor(binaryen, 'Binary', name)(expr);
  const opCode = binary('getOp');
  const op = eqz
    ? opCode === binaryen.EqInt32
      ? 'ne'
      : undefined
    : opCode === binaryen.NeInt32
      ? 'ne'
      : opCode === binaryen.LtUInt32
        ? 'lt_u'
        : undefined;
  const end = i32Constant(binaryen, binary('getRight'));
  return op && end !== undefined ? { op, counter: binary('getLeft'), end } : undefined;
}

/**
 * The counter a loop's back edge tests and how it steps, or undefined when it is not a counter
 * that steps by a constant exactly once per way back and nowhere else.
 */
function countedCondition(binaryen: Binaryen, edge: BackEdge, writes: Writes): CountedCondition | undefined {
  const compared = comparison(binaryen, edge.test);
  if (!compared) return undefined;
  const { op, counter, end } = compared;
  const counterKind = kindOf(binaryen, counter);
  if (counterKind !== 'LocalGet' && counterKind !== 'LocalSet') return undefined;
  const local = accessor(binaryen, counterKind, 'getIndex')(counter);
  const sets = writes.locals.get(local) ?? [];
  const set = sets[0];
  if (sets.length !== 1 || (counterKind === 'LocalSet' && set !== counter)) return undefined;
  const step = stepOf(binaryen, accessor(binaryen, 'LocalSet', 'getValue')(set!), local);
  if (step === undefined) return undefined;
  if (set === counter || edge.beforeTest.includes(set!)) return { local, step, end, op, testsStepped: true };
  return edge.afterTest.includes(set!) ? { local, step, end, op, testsStepped: false } : undefined;
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
    const isPlainSet =
      kindOf(binaryen, statement) === 'LocalSet' &&
      accessor(binaryen, 'LocalSet', 'getIndex')(statement) === local &&
      !accessor<boolean>(binaryen, 'LocalSet', 'isTee')(statement);
    return isPlainSet ? i32Constant(binaryen, accessor(binaryen, 'LocalSet', 'getValue')(statement)) : undefined;
  }
  return position.functionStart && local >= position.params ? 0 : undefined;
}

function trips(condition: CountedCondition, start: number | undefined): number | undefined {
  const { step, end, op, testsStepped } = condition;
  if (op === 'lt_u') return step > 0 && (end >>> 0) + step <= 2 ** 32 ? 2 + Math.ceil((end >>> 0) / step) : undefined;
  if (start === undefined) return undefined;
  // The distance the counter must travel, modulo 2^32, in the direction of its step.
  const distance = step > 0 ? (end - start) >>> 0 : (start - end) >>> 0;
  const stride = Math.abs(step);
  // Reading the counter before its step, the test also runs once with END itself.
  const untested = testsStepped ? 0 : 1;
  return (distance > 0 || !testsStepped) && distance % stride === 0 ? distance / stride + untested : undefined;
}

/**
 * The most times the header of `loop` can be reached per entry into it, or undefined when the
 * loop is not a recognized counted loop.
 */
export function tripBound(binaryen: Binaryen, module: Module, loop: ExpressionRef, position: LoopPosition): number | undefined {
  const name = accessor<string | null>(binaryen, 'Loop', 'getName')(loop);
  const body = accessor(binaryen, 'Loop', 'getBody')(loop);
  const edge = name ? backEdge(binaryen, body, name) : undefined;
  if (!edge) return undefined;
  const writes = new Writes(binaryen, module, name);
  writes.walkExpression(body);
  if (writes.loops || writes.branchesTo !== 1) return undefined;
  const counted = countedCondition(binaryen, edge, writes);
  if (!counted) return undefined;
  const start = counted.op === 'ne' ? startValue(binaryen, module, counted.local, position) : undefined;
  const bound = trips(counted, start);
  return bound !== undefined && bound <= MAX_TRIPS ? bound : undefined;
}
