// Lift call sites: makes every call that can unwind a statement of its own, with only locals and
// constants for operands, and leaves the rest of the function as it was.
//
// The two-copy Asyncify (passes/asyncify/asyncify-copies.ts) needs the whole state of a frame to be in its
// locals at each call that can unwind: nothing evaluated before the call may wait on the value
// stack, and nothing before it in its statement may run again when the frame is rewound.
// binaryen's `flatten` gives that by giving every value of the function a local of its own, and
// then most of the instrumenting time went into optimizing the flat code back. Here only the statements that hold such
// a call change:
//
//   (local.set $x (i32.add (local.get $y) (call $f (i32.load (local.get $p)))))
// becomes
//   (local.set $t0 (local.get $y))
//   (local.set $t1 (i32.load (local.get $p)))
//   (local.set $t2 (call $f (local.get $t1)))
//   (local.set $x (i32.add (local.get $t0) (local.get $t2)))
//
// Values evaluated before the call are spilled in their order; a block, loop or if standing in
// an expression and holding such a call becomes the value of a statement `local.set` itself, and
// its own statements are lifted the same way. Spill locals are reused from one statement to the
// next. What this does not handle (an unreachable value before a call) throws CannotLift, and
// the caller flattens that function instead, from its body as it was: a throw can come halfway
// through a statement, whose values spilled so far would be lost with its unfinished prefix (a
// fuzzed store16 whose address called an import lost that call). So a function that holds such
// a value gets a copy of its body first; one that does not cannot throw.
import { type Binaryen, type ExpressionRef, type FunctionRef, type Module, addLocal, accessor, untyped } from '../ir/binaryen.js';
import { blockChildren, childSlots, kindOf, setBlockChildren, type Slot } from '../ir/walker.js';

export class CannotLift extends Error {}

/** What can stay an operand of a call that can unwind: a rewind evaluates it again, unchanged. */
const TRIVIAL = new Set(['LocalGet', 'Const']);

/** Spill locals by type, handed out like a stack: a statement's own are free again after it. */
class SpillLocals {
  private readonly byType = new Map<number, number[]>();
  private readonly inUse = new Map<number, number>();

  constructor(
    private readonly binaryen: Binaryen,
    private readonly func: FunctionRef,
  ) {}

  take(type: number): number {
    const pool = this.byType.get(type) ?? [];
    this.byType.set(type, pool);
    const used = this.inUse.get(type) ?? 0;
    if (used === pool.length) pool.push(addLocal(this.binaryen, this.func, type));
    this.inUse.set(type, used + 1);
    return pool[used]!;
  }

  mark(): Map<number, number> {
    return new Map(this.inUse);
  }

  release(mark: Map<number, number>): void {
    this.inUse.clear();
    for (const [type, used] of mark) this.inUse.set(type, used);
  }
}

class Lifter {
  /** The expressions that are, or hold, a call site. */
  private readonly holders = new Set<ExpressionRef>();
  private readonly spills: SpillLocals;

  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    func: FunctionRef,
    private readonly isSite: (expr: ExpressionRef, kind: string) => boolean,
  ) {
    this.spills = new SpillLocals(binaryen, func);
  }

  /** Whether a holder has an operand lifting may have to spill but cannot: one with no value (unreachable). */
  mayFail = false;

  /** Records which expressions hold a call site; returns whether `expr` does. */
  findHolders(expr: ExpressionRef): boolean {
    const kind = kindOf(this.binaryen, expr);
    let holds = this.isSite(expr, kind);
    const slots = childSlots(this.binaryen, expr);
    for (const slot of slots) if (this.findHolders(slot.get())) holds = true;
    if (!holds) return false;
    this.holders.add(expr);
    if (!this.mayFail && kind !== 'Block' && kind !== 'Loop') {
      // an if's arms are lifted as statements; only its condition is an operand
      const operands = kind === 'If' ? slots.slice(0, 1) : slots;
      this.mayFail = operands.some((slot) => !hasValue(this.binaryen, slot.get()));
    }
    return true;
  }

  /** A statement (or the value ending a block, a loop or an arm) as the statements to stand in its place. */
  statement(expr: ExpressionRef): ExpressionRef[] {
    if (!this.holders.has(expr)) return [expr];
    const mark = this.spills.mark();
    const kind = kindOf(this.binaryen, expr);
    const prefix: ExpressionRef[] = [];
    // A call site or control structure may stand as a statement; anything else is lifted out of.
    if (!this.liftWithin(expr, kind, prefix)) {
      if (kind === 'LocalSet' || kind === 'Drop') this.wrapped(childSlots(this.binaryen, expr)[0]!, prefix);
      else this.spillBefore(expr, this.lastHolder(expr), prefix);
    }
    this.spills.release(mark);
    return [...prefix, expr];
  }

  /** The statements standing for a function body, loop body or arm, as one expression. */
  asOne(expr: ExpressionRef): ExpressionRef {
    const parts = this.statement(expr);
    return parts.length === 1 ? parts[0]! : this.module.block(null, parts, this.binaryen.auto);
  }

  /** The value of a statement `local.set` or `drop`: a call site or a control structure can stay there. */
  private wrapped(value: Slot, prefix: ExpressionRef[]): void {
    const expr = value.get();
    if (!this.liftWithin(expr, kindOf(this.binaryen, expr), prefix)) value.set(this.lift(expr, prefix));
  }

  /**
   * For a call site, spills its operands; for a block, loop or if, lifts the call sites inside it
   * (an if's condition into `prefix`). Returns false, changing nothing, for any other expression.
   */
  private liftWithin(expr: ExpressionRef, kind: string, prefix: ExpressionRef[]): boolean {
    if (kind === 'Block') this.block(expr);
    else if (kind === 'Loop') this.body(expr, 'Loop', 'Body');
    else if (kind === 'If') this.ifElse(expr, prefix);
    else if (this.isSite(expr, kind)) this.operands(expr, prefix);
    else return false;
    return true;
  }

  private block(block: ExpressionRef): void {
    const original = blockChildren(this.binaryen, block);
    const children = original.flatMap((child) => this.statement(child));
    if (children.length !== original.length) setBlockChildren(this.binaryen, block, children);
  }

  private body(expr: ExpressionRef, kind: string, field: string): void {
    const child = accessor(this.binaryen, kind, `get${field}`)(expr);
    if (child) accessor<void>(this.binaryen, kind, `set${field}`)(expr, this.asOne(child));
  }

  private ifElse(expr: ExpressionRef, prefix: ExpressionRef[]): void {
    const condition = accessor(this.binaryen, 'If', 'getCondition')(expr);
    if (this.holders.has(condition)) accessor<void>(this.binaryen, 'If', 'setCondition')(expr, this.lift(condition, prefix));
    this.body(expr, 'If', 'IfTrue');
    this.body(expr, 'If', 'IfFalse');
  }

  /**
   * An expression holding a call site, as one that holds none: what the site needs runs in
   * `prefix`, and the site's or the control structure's value is read back from a spill local.
   */
  private lift(expr: ExpressionRef, prefix: ExpressionRef[]): ExpressionRef {
    if (this.liftWithin(expr, kindOf(this.binaryen, expr), prefix)) return this.spill(expr, prefix);
    this.spillBefore(expr, this.lastHolder(expr), prefix);
    return expr;
  }

  /** A call site's operands, made locals or constants (all of them, in order, once one is not). */
  private operands(call: ExpressionRef, prefix: ExpressionRef[]): void {
    const slots = childSlots(this.binaryen, call);
    const last = slots.findLastIndex((slot) => !this.isTrivial(slot.get()));
    this.spillBefore(call, last, prefix, slots, true);
  }

  /**
   * Spills the children of `expr` up to index `last`, in order, lifting the call sites they hold.
   * What is left of a lifted child is spilled too, but for the last one unless `lastMustSpill`: it
   * would otherwise run after the children spilled behind it.
   */
  private spillBefore(
    expr: ExpressionRef,
    last: number,
    prefix: ExpressionRef[],
    slots: Slot[] = childSlots(this.binaryen, expr),
    lastMustSpill = false,
  ): void {
    slots.slice(0, last + 1).forEach((slot, i) => {
      const child = slot.get();
      const lifted = this.holders.has(child);
      const rest = lifted ? this.lift(child, prefix) : child;
      // A lifted call site or control structure leaves a read of its own spill local.
      const stays = kindOf(this.binaryen, rest) === 'Const' || (lifted && (this.isTrivial(rest) || (i === last && !lastMustSpill)));
      slot.set(stays ? rest : this.spill(rest, prefix));
    });
  }

  private isTrivial(expr: ExpressionRef): boolean {
    return TRIVIAL.has(kindOf(this.binaryen, expr));
  }

  private lastHolder(expr: ExpressionRef): number {
    return childSlots(this.binaryen, expr).findLastIndex((slot) => this.holders.has(slot.get()));
  }

  /** Evaluates `expr` into a spill local as a statement of `prefix`; returns the read of it. */
  private spill(expr: ExpressionRef, prefix: ExpressionRef[]): ExpressionRef {
    if (!hasValue(this.binaryen, expr)) throw new CannotLift();
    const type = this.binaryen.getExpressionType(expr);
    const local = this.spills.take(type);
    prefix.push(this.module.local.set(local, expr));
    return this.module.local.get(local, type);
  }
}

/**
 * Lifts the call sites of `func` in place (see the header). Throws CannotLift, with the body as
 * it was, when the function needs binaryen's flatten instead.
 */
export function liftCallSites(
  binaryen: Binaryen,
  module: Module,
  func: FunctionRef,
  isSite: (expr: ExpressionRef, kind: string) => boolean,
): void {
  const fn = untyped(binaryen).Function;
  const lifter = new Lifter(binaryen, module, func, isSite);
  const body = fn.getBody(func);
  if (!lifter.findHolders(body)) return;
  const original = lifter.mayFail ? module.copyExpression(body) : undefined;
  try {
    const lifted = lifter.asOne(body);
    if (lifted !== body) fn.setBody(func, lifted);
  } catch (error) {
    if (!(error instanceof CannotLift)) throw error;
    if (!original) throw new Error('lifting call sites failed in a function it found liftable; this is a bug in lunatic-instrument');
    fn.setBody(func, original);
    throw error;
  }
}

/** Whether `expr` leaves a value a spill local could hold (not an unreachable or none-typed expression). */
function hasValue(binaryen: Binaryen, expr: ExpressionRef): boolean {
  const type = binaryen.getExpressionType(expr);
  return type !== binaryen.unreachable && type !== binaryen.none;
}
