// Counter regions: where a function keeps the reduction counter in a local.
//
// A region is a loop with a check that no other checked loop encloses. Inside it the counter
// lives in a local, so a hot loop counts in a register; the local is read from the global when
// the region is entered and written back on every way out (see reduction-counter.ts). Outside
// regions the code uses the global directly: a function whose common path runs no loop (musl's
// memcpy of 4 bytes, malloc's fast path) then pays nothing for the loops it rarely enters, where
// a copy kept for the whole function cost a load on entry and a store on every return.
// A function with an entry check reads the counter on every call anyway: there the whole body
// is one region, so the entry check already counts in the local and its loops need no load of
// their own (fib, whose loop around the recursive call is entered on most calls).
import { accessor, type Binaryen, type ExpressionRef, type FunctionRef, untyped } from '../ir/binaryen.js';
import { childSlots, kindOf } from '../ir/walker.js';

export interface CounterRegion {
  /** The outermost checked loop, or the function's body. */
  root: ExpressionRef;
  /** The labels defined inside the region (the root's own included): branches to others leave it. */
  labels: Set<string>;
}

/** Each expression inside a region (roots included), mapped to its region. */
export function counterRegions(
  binaryen: Binaryen,
  func: FunctionRef,
  checkedLoops: ReadonlyMap<ExpressionRef, unknown>,
  entryCheck: boolean,
): Map<ExpressionRef, CounterRegion> {
  const regions = new Map<ExpressionRef, CounterRegion>();
  if (!checkedLoops.size) return regions;
  const body = untyped(binaryen).Function.getBody(func);
  const visit = (expr: ExpressionRef, region: CounterRegion | undefined): void => {
    const kind = kindOf(binaryen, expr);
    if (!region && kind === 'Loop' && checkedLoops.has(expr)) region = { root: expr, labels: new Set() };
    if (region) {
      regions.set(expr, region);
      const label = kind === 'Block' || kind === 'Loop' ? accessor<string | null>(binaryen, kind, 'getName')(expr) : null;
      if (label) region.labels.add(label);
    }
    for (const slot of childSlots(binaryen, expr)) visit(slot.get(), region);
  };
  visit(body, entryCheck ? { root: body, labels: new Set() } : undefined);
  return regions;
}
