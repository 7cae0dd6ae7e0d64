// Steering through a block (or an if) towards the statement that holds a target: the rewind copy's way to
// the call it resumes (asyncify-copies.ts) and the fast copy's way to the loop it re-enters
// (reentry.ts). While steering, a statement before the last one that holds a target runs only if
// it holds the one sought; from that last one on, everything runs (a steered walk reaches it only
// to find its target there, or having found it before, as ordinary code).
import { accessor, type Binaryen, type ExpressionRef, type Module } from '../ir/binaryen.js';
import { setBlockChildren } from '../ir/walker.js';

/** A child already rewritten, with the targets it holds, [first, end) (none: first === end). */
export interface Holding {
  expr: ExpressionRef;
  first: number;
  end: number;
}

/**
 * Gives `block` the children `held` with their guards: `idle()` is true when not steering,
 * `seeks(first, end)` when the target sought is one of [first, end). Returns false, leaving the
 * block alone, when no child holds a target.
 */
export function steerThrough(
  binaryen: Binaryen,
  module: Module,
  block: ExpressionRef,
  held: readonly Holding[],
  idle: () => ExpressionRef,
  seeks: (first: number, end: number) => ExpressionRef,
): boolean {
  const last = held.findLastIndex((h) => h.end > h.first);
  if (last < 0) return false;
  const children: ExpressionRef[] = [];
  let skipped: ExpressionRef[] = [];
  const flush = () => {
    if (skipped.length) children.push(module.if(idle(), skipped.length === 1 ? skipped[0]! : module.block(null, skipped, binaryen.none)));
    skipped = [];
  };
  held.forEach((h, i) => {
    if (i >= last) {
      flush();
      children.push(h.expr);
    } else if (h.end === h.first) skipped.push(h.expr);
    else {
      flush();
      children.push(module.if(module.i32.or(idle(), seeks(h.first, h.end)), h.expr));
    }
  });
  flush();
  setBlockChildren(binaryen, block, children);
  return true;
}

/**
 * Rewrites the arms of the `if` `expr` with `rewrite` and, when they hold a target, makes its
 * condition take the arm that holds the one sought while `steering()`: not a select, as the
 * condition may have effects (a local.tee, a call) that must not run then. Returns the targets
 * the arms hold.
 */
export function steerIf(
  binaryen: Binaryen,
  module: Module,
  expr: ExpressionRef,
  rewrite: (child: ExpressionRef) => Holding,
  steering: () => ExpressionRef,
  seeks: (first: number, end: number) => ExpressionRef,
): { first: number; end: number } {
  const arm = (field: 'IfTrue' | 'IfFalse') => {
    const child = accessor(binaryen, 'If', `get${field}`)(expr);
    if (!child) return undefined;
    const rewritten = rewrite(child);
    if (rewritten.expr !== child) accessor<void>(binaryen, 'If', `set${field}`)(expr, rewritten.expr);
    return rewritten.end > rewritten.first ? rewritten : undefined;
  };
  const yes = arm('IfTrue');
  const no = arm('IfFalse');
  if (!yes && !no) return { first: 0, end: 0 };
  // An unreachable condition: neither arm ever runs, so no frame unwinds from them and none is
  // resumed there. Steering would give the if a value where it stands as a statement (seed 93140).
  const condition = accessor(binaryen, 'If', 'getCondition')(expr);
  if (binaryen.getExpressionType(condition) === binaryen.unreachable) return { first: 0, end: 0 };
  const towardsTrue = !yes ? module.i32.const(0) : !no ? module.i32.const(1) : seeks(yes.first, yes.end);
  accessor<void>(binaryen, 'If', 'setCondition')(expr, module.if(steering(), towardsTrue, condition));
  return { first: (yes ?? no)!.first, end: (no ?? yes)!.end };
}
