// The cost model: how many reductions an expression is worth. Kept apart from where checks are
// placed (check-placement.ts) and how they are injected (reduction-counter.ts), so a host that
// wants "reductions = calls" or weighted memory operations swaps this one piece.
import { CALL_KINDS } from '../ir/walker.js';

export interface CostModel {
  readonly name: string;
  /** Reductions charged for one evaluation of an expression of this kind (its children excluded). */
  cost(kind: string): number;
}

/** Structure that compiles to no machine instruction of its own. */
const FREE = new Set(['Block', 'Loop', 'Nop', 'Pop']);
/**
 * The default: one reduction per wasm instruction (two per call: the call and the return), so
 * a budget reads as "about this many instructions", like wasmtime fuel (which Lunatic uses
 * with 100k-unit slices).
 */
export const instructionCost: CostModel = {
  name: 'instructions',
  // A call also executes its callee's return, which has no instruction of its own in wasm.
  cost: (kind) => (FREE.has(kind) ? 0 : CALL_KINDS.has(kind) ? 2 : 1),
};
