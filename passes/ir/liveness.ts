// Local liveness on binaryen's structured IR: which locals a function may still read after a
// given point. The two-copy Asyncify (passes/asyncify/asyncify-copies.ts) saves only the locals live at
// the call being unwound; saving every local would keep all of them alive across every call and
// cost the normal path a spill per local per call.
//
// A backward pass over the tree: a `br` to a block sees what is live after the block, a `br` to
// a loop what is live at the loop's top (found by iterating the loop to a fixed point).
import { accessor, type Binaryen, type ExpressionRef } from './binaryen.js';
import { branchTargets, childSlots, kindOf } from './walker.js';

type Live = ReadonlySet<number>;

const NOTHING: Live = new Set();

function union(a: Live, b: Live): Live {
  if (a.size === 0) return b;
  if (b.size === 0) return a;
  const out = new Set(a);
  for (const x of b) out.add(x);
  return out;
}

function sameSet(a: Live, b: Live): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

export class Liveness {
  /** The locals live on entry to each watched expression (a call: its operands included). */
  readonly liveIn = new Map<ExpressionRef, Live>();
  private readonly atLabel = new Map<string, Live>();

  constructor(
    private readonly binaryen: Binaryen,
    private readonly watch: (expr: ExpressionRef, kind: string) => boolean,
  ) {}

  /** Analyzes a function body; the watched expressions' sets are then in `liveIn`. */
  run(body: ExpressionRef): void {
    this.before(body, NOTHING);
  }

  /** The locals live before `expr`, given those live after it. */
  private before(expr: ExpressionRef, after: Live): Live {
    const b = this.binaryen;
    const kind = kindOf(b, expr);
    let live: Live;
    switch (kind) {
      case 'LocalGet':
        live = union(after, new Set([accessor(b, 'LocalGet', 'getIndex')(expr)]));
        break;
      case 'LocalSet': {
        const index = accessor(b, 'LocalSet', 'getIndex')(expr);
        const rest = new Set(after);
        rest.delete(index);
        live = this.before(accessor(b, 'LocalSet', 'getValue')(expr), rest);
        break;
      }
      case 'Block':
        live = this.block(expr, after);
        break;
      case 'Loop':
        live = this.loop(expr, after);
        break;
      case 'If': {
        const no = accessor(b, 'If', 'getIfFalse')(expr);
        const arms = union(this.before(accessor(b, 'If', 'getIfTrue')(expr), after), no ? this.before(no, after) : after);
        live = this.before(accessor(b, 'If', 'getCondition')(expr), arms);
        break;
      }
      case 'Break':
      case 'Switch': {
        const conditional = kind === 'Break' && accessor(b, 'Break', 'getCondition')(expr) !== 0;
        let out = conditional ? after : NOTHING;
        for (const label of branchTargets(b, expr, kind)) out = union(out, this.atLabel.get(label) ?? NOTHING);
        live = this.children(expr, out);
        break;
      }
      case 'Return':
      case 'Unreachable':
        live = this.children(expr, NOTHING);
        break;
      default:
        live = this.children(expr, after);
    }
    if (this.watch(expr, kind)) this.liveIn.set(expr, live);
    return live;
  }

  private children(expr: ExpressionRef, after: Live): Live {
    let live = after;
    const slots = childSlots(this.binaryen, expr);
    for (let i = slots.length - 1; i >= 0; i--) live = this.before(slots[i]!.get(), live);
    return live;
  }

  private block(expr: ExpressionRef, after: Live): Live {
    const name = accessor<string | null>(this.binaryen, 'Block', 'getName')(expr);
    if (name) this.atLabel.set(name, after);
    return this.children(expr, after);
  }

  private loop(expr: ExpressionRef, after: Live): Live {
    const name = accessor<string | null>(this.binaryen, 'Loop', 'getName')(expr);
    const body = accessor(this.binaryen, 'Loop', 'getBody')(expr);
    if (!name) return this.before(body, after);
    let top: Live = NOTHING;
    for (;;) {
      this.atLabel.set(name, top);
      const next = union(top, this.before(body, after));
      if (sameSet(next, top)) return top;
      top = next;
    }
  }
}
