// Loop unrolling: gives a small, call-free innermost loop a second copy of its body inside
// itself, so the reduction check at its header (check-placement.ts) runs once per two
// iterations instead of once per iteration.
//
// Why: in a loop whose iterations are short, the check is a large share of the work. An
// interpreter's dispatch loop runs a handful of instructions per bytecode, and under V8's
// baseline compiler (where a long-running call stays, wasm having no on-stack replacement) its
// check took about a quarter of the run (bench/RESULTS.md). Placement runs after this pass and sees the
// unrolled loop like any other: one header check, charging both copies, so the guarantee is
// computed on the code as it runs.
//
// What qualifies: an innermost loop that some branch targets (one that iterates), whose body
// holds no call and at most MAX_BODY_EXPRESSIONS expressions, has no value, and is not a counted
// loop (loop-bounds.ts): placement may charge a counted loop as straight-line code, with no check
// to spare. Calls are left out because a loop that calls pays the call's own cost per iteration
// and the counter's write-back around it (reduction-counter.ts), beside which the check is small.
//
//   (loop $l BODY)  ->  (block $l$exit (loop $l (block $l$again BODY' (br $l$exit)) BODY))
//
// BODY' is a copy of BODY with its own labels renamed and its branches back to $l sent to the end
// of $l$again, that is on into the second copy; falling out of BODY' leaves the loop, as falling
// out of BODY does ($l$exit is left out when BODY never falls through, the usual case).
import { accessor, type Binaryen, type ExpressionRef, type Module, untyped } from '../ir/binaryen.js';
import type { NoOptions, Pass } from '../ir/context.js';
import { type LoopPosition, tripBound } from '../ir/loop-bounds.js';
import { blockChildren, branchTargets, CALL_KINDS, EXCEPTION_KINDS, LabelRenamer, type Slot, Walker } from '../ir/walker.js';
import { definedFunctions } from '../ir/module.js';

/** Past this, a copy costs more bytes than the check it saves is worth (interp's loop: about 300). */
const MAX_BODY_EXPRESSIONS = 600;

/** A loop, where it stands, and what loop-bounds.ts needs to know of its surroundings. */
interface LoopSite {
  loop: ExpressionRef;
  place: Slot;
  position: LoopPosition;
}

/** The loops of a function body, with their places; a block gives its loops their siblings. */
class LoopSites extends Walker {
  private readonly places: Array<{ loop: ExpressionRef; place: Slot }> = [];
  private readonly inBlocks = new Map<ExpressionRef, { siblings: ExpressionRef[]; index: number; functionStart: boolean }>();

  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly body: ExpressionRef,
    private readonly params: number,
  ) {
    super(binaryen, module);
  }

  /** Every loop found, in post-order (inner loops first). */
  get sites(): LoopSite[] {
    return this.places.map(({ loop, place }) => {
      const inBlock = this.inBlocks.get(loop) ?? { siblings: [loop], index: 0, functionStart: false };
      return { loop, place, position: { ...inBlock, params: this.params } };
    });
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    if (kind === 'Loop') this.places.push({ loop: expr, place: this.currentPlace() });
    else if (kind === 'Block') {
      const siblings = blockChildren(this.binaryen, expr);
      siblings.forEach((child, index) => {
        if (this.binaryen.getExpressionId(child) === this.binaryen.LoopId)
          this.inBlocks.set(child, { siblings, index, functionStart: expr === this.body });
      });
    }
  }
}

/** What a loop body holds: its size, calls, inner loops, labels, and branches back to the loop. */
class BodyScan extends Walker {
  expressions = 0;
  blocked = false;
  backEdges = 0;
  readonly labels = new Set<string>();

  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly loopLabel: string,
  ) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    this.expressions++;
    // a try's labels (delegate, rethrow) would need renaming in the copy: such loops stay as they are
    if (CALL_KINDS.has(kind) || kind === 'Loop' || EXCEPTION_KINDS.has(kind)) this.blocked = true;
    else if (kind === 'Block') {
      const name = accessor<string | null>(this.binaryen, 'Block', 'getName')(expr);
      if (name) this.labels.add(name);
    } else if (branchTargets(this.binaryen, expr, kind).includes(this.loopLabel)) this.backEdges++;
  }
}

function qualifies(binaryen: Binaryen, module: Module, site: LoopSite, scan: BodyScan): boolean {
  return (
    !scan.blocked &&
    scan.backEdges > 0 &&
    scan.expressions <= MAX_BODY_EXPRESSIONS &&
    binaryen.getExpressionType(site.loop) === binaryen.none &&
    tripBound(binaryen, module, site.loop, site.position) === undefined
  );
}

/** Rewrites one loop as shown in the header; returns what now stands in its place. */
function unrollOnce(binaryen: Binaryen, module: Module, loop: ExpressionRef, label: string, inner: ReadonlySet<string>): ExpressionRef {
  const body = accessor(binaryen, 'Loop', 'getBody')(loop);
  const again = `${label}$again`;
  const exit = `${label}$exit`;
  const copy = module.copyExpression(body);
  new LabelRenamer(binaryen, module, (name) => (name === label ? again : inner.has(name) ? `${name}$unrolled` : name)).walkExpression(copy);
  const fallsThrough = binaryen.getExpressionType(body) !== binaryen.unreachable;
  const first = module.block(again, fallsThrough ? [copy, module.br(exit)] : [copy], binaryen.none);
  accessor<void>(binaryen, 'Loop', 'setBody')(loop, module.block(null, [first, body], binaryen.getExpressionType(body)));
  return fallsThrough ? module.block(exit, [loop], binaryen.none) : loop;
}

/** Unrolls every qualifying loop of the module once; returns how many. */
export const unrollLoops: Pass<NoOptions, number> = {
  name: 'unroll-loops',
  run(context) {
    const unrolled = unrollEach(context.binaryen, context.module);
    context.changed();
    return unrolled;
  },
};

function unrollEach(binaryen: Binaryen, module: Module): number {
  const getName = accessor<string | null>(binaryen, 'Loop', 'getName');
  let unrolled = 0;
  for (const func of definedFunctions(binaryen, module)) {
    const body = untyped(binaryen).Function.getBody(func);
    const finder = new LoopSites(binaryen, module, body, binaryen.expandType(binaryen.getFunctionInfo(func).params).length);
    finder.walkFunction(func);
    for (const site of finder.sites) {
      const label = getName(site.loop);
      if (!label) continue;
      const scan = new BodyScan(binaryen, module, label);
      scan.walkExpression(accessor(binaryen, 'Loop', 'getBody')(site.loop));
      if (!qualifies(binaryen, module, site, scan)) continue;
      site.place.set(unrollOnce(binaryen, module, site.loop, label, scan.labels));
      unrolled++;
    }
  }
  return unrolled;
}
