// Two-copy Asyncify: the same ABI as binaryen's Asyncify (docs/ABI.md), at a fraction of its cost
// on the normal path.
//
// Binaryen's Asyncify keeps one body per function that must serve three states at once: normal
// running, unwinding and rewinding. Every stretch of code is guarded by a test of the state, and
// values pass through `select`s on it, so the normal path pays for the other two (most in
// call-heavy and malloc-heavy code; bench/RESULTS.md has the figures). Here each function that can suspend gets two bodies instead:
//
// - The fast copy, in place of the function: its own code plus, after each call that can unwind,
//   `br_if $save (state)`. The save pushes a frame with the locals live after that call
//   (passes/ir/liveness.ts) and the call's index to the Asyncify buffer, by a call to the function's
//   saver (`<name>$save`, shared by both copies), and returns. Only exported
//   and address-taken functions also test the state on entry, to send a rewind to their rewind
//   copy.
// - The rewind copy (`<name>$rewind`): entered to rewind, it pops its frame, then runs its
//   body with every statement before the resumed call skipped (`$rewinding` guards) and every
//   branch steered towards it, calls the callee's rewind copy there (the import itself, or the
//   table entry for an indirect call), and carries on as ordinary code from then on. It can unwind
//   again, saving the same frame. Its later calls go to the callees' rewind copies as well, each
//   of which, entered when nothing is being rewound, calls its function at once.
//
// Both copies are made from the function with its call sites lifted (passes/asyncify/lift-call-sites.ts:
// every call that can unwind a statement of its own, its operands locals or constants; binaryen's
// flatten where that cannot be done), so at a call the whole state of the frame is its locals. A
// frame has a slot for every local live at some call site, in one layout for both copies. The fast
// copy is the function's own optimized code with the tests and saves added, its locals coalesced
// (a flattened one is optimized back); the rewind copy gets binaryen's cleanups, which keep what
// is stored and loaded the same values.
//
// With a size limit (`singleCopyAbove`, in expressions), a larger function gets its rewind copy
// alone, in its own place: entered when nothing is being rewound, its guards all let the code run
// as the original, so the one body serves both: smaller output, for those guards on the normal
// path of the large functions (malloc's among them).
//
// Multivalue tuples in locals are split into a local per element first (split-tuple-locals.ts);
// a vector (v128) gets a 16-byte slot, but is not carried by a hand-back (a function with one
// live at a way back keeps resumed frames in its rewind copy). Falls back to binaryen's Asyncify
// (passes/asyncify/asyncify.ts) when a function has more live locals at its calls than a saver
// can take as parameters.
import {
  accessor,
  addLocal,
  allNumeric,
  type Binaryen,
  type ExpressionRef,
  type FunctionRef,
  isNumericType,
  localTypes,
  type Module,
  paramGets,
  scratchLocals,
  untyped,
  zeroOf,
} from '../ir/binaryen.js';
import { type CallGraph, callTargets } from '../ir/call-graph.js';
import type { PassContext } from '../ir/context.js';
import { Liveness } from '../ir/liveness.js';
import { CannotLift, liftCallSites } from './lift-call-sites.js';
import { PAGE_BYTES, PAGE_SHIFT, RESERVED_PAGES_GLOBAL } from './reserved-tail.js';
import { splitTupleLocals } from './split-tuple-locals.js';
import { CarryGlobals, loopsAt, Reentry, waysBack } from './reentry.js';
import { steerIf, steerThrough } from './skip-statements.js';
import { commandEntry } from '../ir/module.js';
import { freshFunctionName, freshGlobalName } from '../ir/names.js';
import { blockChildren, childSlots, expressionCount, kindOf, setBlockChildren } from '../ir/walker.js';

/**
 * What cleans up a rewind copy: binaryen's -O2 function passes without the propagating analyses
 * (precompute-propagate, local-cse, code-folding, rse) and without simplify-locals. A rewind copy
 * runs the rest of its frame's life after a resume, which for a main loop is the rest of the run,
 * so its guards are folded away where they can be. On lifted code simplify-locals found little
 * to do at half the cost of the list; interleaved runs could not tell the two apart. -O2 runs
 * merge-blocks twice; here the second found nothing to merge on SQLite and eigen-json and one
 * block in all of QuickJS, and took a sixth of the instrumentation time of SQLite.
 *
 * Left out as well, each measured by the output's size with the rest of the list (the 32 fixture
 * and bench modules and the three third-party programs): the leading dce and
 * remove-unused-names, precompute (no constants to fold without propagation) and both
 * reorder-locals (coalesce-locals numbers the locals it keeps) changed a few bytes either way;
 * the remove-unused-brs after merge-blocks made the output larger (by 1.4 KB on QuickJS and 3.5
 * KB on SQLite). Without the seven, the list costs QuickJS about a sixth less time. The vacuum
 * and second remove-unused-brs before coalesce-locals went too: the vacuum after it does their
 * work but for 0.12% of the output (6 KB of SQLite's 5.3 MB), and they took 7% of SQLite's
 * instrumentation time (five interleaved pairs of whole runs).
 */
const REWIND_COPY_PASSES = [
  'remove-unused-brs',
  'optimize-instructions',
  'coalesce-locals',
  'vacuum',
  'merge-blocks',
  'optimize-instructions',
  'vacuum',
];

/**
 * What cleans up a fast copy made from lifted code: lifting spills every operand evaluated
 * before a call into a local of its own, and V8's baseline compiler (Liftoff, which compiles
 * every function first and runs a frame entered before tier-up for the rest of its life) spends
 * time in proportion to the locals at every merge. SQLite's interpreter loop went from 60 locals
 * to 466; coalesced, its fast copies compiled in 1.0 s instead of 2.7 s (V8's optimizing tier
 * gives the same code either way).
 */
const FAST_COPY_PASSES = ['coalesce-locals', 'reorder-locals'];

/** What a flattened function's rewind copy needs on top: folding its one-local-per-value code back into expressions. */
const FLAT_REWIND_COPY_PASSES = ['simplify-locals-nostructure', 'coalesce-locals', 'simplify-locals', ...REWIND_COPY_PASSES];

const STATE = { normal: 0, unwinding: 1, rewinding: 2 } as const;

/** Most locals a frame saves: its saver takes them and the call index as parameters, and engines accept 1,000 at most. */
const MAX_SAVER_PARAMS = 999;

/** The byte size of each local type a frame can hold. */
function frameBytes(binaryen: Binaryen, type: number): number | undefined {
  if (type === binaryen.i32 || type === binaryen.f32) return 4;
  if (type === binaryen.i64 || type === binaryen.f64) return 8;
  if (type === binaryen.v128) return 16;
  return undefined;
}

/**
 * Whether a hand-back can carry a local of this type over in a global (reentry.ts): not a
 * vector, whose global a host could not read (process-state.ts exports every mutable global).
 */
function carriable(binaryen: Binaryen, type: number): boolean {
  return type !== binaryen.v128 && isNumericType(binaryen, type);
}

/**
 * Whether a function's results and locals are all numbers a frame can hold (frameBytes), or
 * tuples of them (split into locals of their own by splitTupleLocals, so a frame holds the
 * elements).
 */
function fitsFrame(binaryen: Binaryen, func: FunctionRef): boolean {
  const { results } = binaryen.getFunctionInfo(func);
  return allNumeric(binaryen, results) && localTypes(binaryen, func).every((type) => allNumeric(binaryen, type));
}

/** Whether every local in `locals` has a type `fits` (a tuple's scratch local is never one a frame keeps). */
function allOfTypes(types: readonly number[], locals: Iterable<number>, fits: (type: number) => boolean): boolean {
  for (const local of locals) if (!fits(types[local]!)) return false;
  return true;
}

/** Thrown when a prepared function is not in the form the copies need, or has locals a frame cannot hold. */
class CannotCopy extends Error {}

/** What addControl adds and the copies use: the state and data globals, the frame stack's pop and its growth. */
interface Globals {
  state: string;
  /** The address of the data struct `{ current, end }` the host handed over. */
  data: string;
  /** `(size) -> frame address`: gives back the last `size` bytes claimed. */
  pop: string;
  /** `(needed end)`: makes room up to it by growing the reserved tail, or traps. */
  grow: string;
}

/** Where each saved local lives in a frame, and the call index after them. */
interface FrameLayout {
  /** The locals some call site saves, in local order: the only ones a rewind restores. */
  saved: number[];
  offsets: number[];
  indexOffset: number;
  size: number;
}

/** The locals live at some call site: the ones a frame holds (a rewind reads no other before writing it). */
function savedLocals(liveAtSites: ReadonlyArray<ReadonlySet<number>>): number[] {
  return [...new Set(liveAtSites.flatMap((live) => [...live]))].sort((a, b) => a - b);
}

/** A slot for each saved local. */
function frameLayout(binaryen: Binaryen, types: number[], liveAtSites: ReadonlyArray<ReadonlySet<number>>): FrameLayout {
  const saved = savedLocals(liveAtSites);
  // Larger locals first, so every slot is aligned to its size (vectors: to 8) when the frame start is.
  const order = saved
    .map((local) => ({ local, bytes: frameBytes(binaryen, types[local]!)! }))
    .sort((a, b) => b.bytes - a.bytes || a.local - b.local);
  const offsets: number[] = [];
  let size = 0;
  for (const { local, bytes } of order) {
    offsets[local] = size;
    size += bytes;
  }
  return { saved, offsets, indexOffset: size, size: (size + 4 + 7) & ~7 };
}

/** What one function's copies share: its locals, frame, labels and the extra locals each copy adds. */
class FunctionCopies {
  readonly types: number[];
  readonly layout: FrameLayout;
  readonly results: number;
  readonly params: number;

  /** The function both copies' saves call to push a frame (see addSaver). */
  private readonly saver: string;

  /**
   * `liveAtSites[i]`: the locals live at call site i (in the order both copies number them), the
   * ones its save keeps.
   */
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    private readonly globals: Globals,
    readonly func: FunctionRef,
    readonly liveAtSites: ReadonlyArray<ReadonlySet<number>>,
  ) {
    const info = binaryen.getFunctionInfo(func);
    this.types = localTypes(binaryen, func);
    this.layout = frameLayout(binaryen, this.types, liveAtSites);
    this.results = info.results;
    this.params = info.params;
    this.saver = this.addSaver(info.name);
  }

  /**
   * `<name>$save(index, slot values...)`: pushes a frame holding the call index and every saved
   * local. A save then costs a call with a local.get or a zero per slot (two bytes each, mostly)
   * instead of a push and a store per live local (seven): musl's printf core has 24 saves of
   * about 30 locals in each copy.
   */
  private addSaver(name: string): string {
    const { module, binaryen, layout } = this;
    const i32 = binaryen.i32;
    const saver = freshFunctionName(module, `${name}$save`);
    const ptr = layout.saved.length + 1;
    const slots = layout.saved.map((local, i) =>
      this.store(this.types[local]!, layout.offsets[local]!, module.local.get(ptr, i32), module.local.get(i + 1, this.types[local]!)),
    );
    const body = module.block(null, [...this.pushFrame(ptr), ...slots, this.storeIndex(ptr, module.local.get(0, i32))], binaryen.none);
    module.addFunction(saver, binaryen.createType([i32, ...layout.saved.map((local) => this.types[local]!)]), binaryen.none, [i32], body);
    return saver;
  }

  state(): ExpressionRef {
    return this.module.global.get(this.globals.state, this.binaryen.i32);
  }

  zeroResult(): ExpressionRef {
    const { module, binaryen } = this;
    return this.results === binaryen.none ? module.return() : module.return(zeroOf(binaryen, module, this.results));
  }

  /** Calls `target` (of the function's type) with the function's own parameters and returns what it returns. */
  callAndReturn(target: string): ExpressionRef {
    const { module, binaryen } = this;
    const called = module.call(target, paramGets(binaryen, module, this.params), this.results);
    return this.results === binaryen.none ? module.block(null, [called, module.return()]) : module.return(called);
  }

  // A frame starts 8-byte aligned (every frame's size is a multiple of 8), so a vector's slot is
  // aligned to 8 at least, which its alignment hint says.
  private load(type: number, offset: number, ptr: ExpressionRef): ExpressionRef {
    const { module, binaryen } = this;
    if (type === binaryen.i32) return module.i32.load(offset, 4, ptr);
    if (type === binaryen.i64) return module.i64.load(offset, 8, ptr);
    if (type === binaryen.f32) return module.f32.load(offset, 4, ptr);
    if (type === binaryen.v128) return module.v128.load(offset, 8, ptr);
    return module.f64.load(offset, 8, ptr);
  }

  private store(type: number, offset: number, ptr: ExpressionRef, value: ExpressionRef): ExpressionRef {
    const { module, binaryen } = this;
    if (type === binaryen.i32) return module.i32.store(offset, 4, ptr, value);
    if (type === binaryen.i64) return module.i64.store(offset, 8, ptr, value);
    if (type === binaryen.f32) return module.f32.store(offset, 4, ptr, value);
    if (type === binaryen.v128) return module.v128.store(offset, 8, ptr, value);
    return module.f64.store(offset, 8, ptr, value);
  }

  /** The rewind copy's prologue: pop the frame into the locals and the resumed call's index. */
  restore(ptr: number, resumeAt: number): ExpressionRef[] {
    const { module, binaryen, layout } = this;
    const i32 = binaryen.i32;
    const at = () => module.local.get(ptr, i32);
    return [
      module.local.set(ptr, module.call(this.globals.pop, [module.i32.const(layout.size)], i32)),
      ...layout.saved.map((local) => module.local.set(local, this.load(this.types[local]!, layout.offsets[local]!, at()))),
      module.local.set(resumeAt, module.i32.load(layout.indexOffset, 4, at())),
    ];
  }

  /**
   * Pushes a frame holding the call index `index` and the locals in `live`: what an unwind keeps
   * of the function. Dead slots get a zero: whatever a rewind restores there is overwritten
   * before it is read.
   */
  save(live: ReadonlySet<number>, index: ExpressionRef): ExpressionRef {
    const { module, binaryen, layout } = this;
    const slots = layout.saved.map((local) =>
      live.has(local) ? module.local.get(local, this.types[local]!) : zeroOf(binaryen, module, this.types[local]!),
    );
    return module.call(this.saver, [index, ...slots], binaryen.none);
  }

  /**
   * Claims the frame's bytes at `current` into local `ptr`; past the end the host gave, the tail
   * grows first (addTailGrowth). Inline in the saver: one call per frame saved, not two.
   */
  private pushFrame(ptr: number): ExpressionRef[] {
    const { module, binaryen } = this;
    const i32 = binaryen.i32;
    const data = () => module.global.get(this.globals.data, i32);
    const next = () => module.i32.add(module.local.get(ptr, i32), module.i32.const(this.layout.size));
    return [
      module.local.set(ptr, module.i32.load(0, 4, data())),
      module.if(module.i32.gt_u(next(), module.i32.load(4, 4, data())), module.call(this.globals.grow, [next()], binaryen.none)),
      module.i32.store(0, 4, data(), next()),
    ];
  }

  private storeIndex(ptr: number, index: ExpressionRef): ExpressionRef {
    const { module, binaryen } = this;
    return module.i32.store(this.layout.indexOffset, 4, module.local.get(ptr, binaryen.i32), index);
  }
}

/**
 * How many locals a call site may save beyond its live ones to share a save with other sites.
 * Sharing keeps the copies small (musl's printf core alone has dozens of distinct live sets); each
 * spare local costs a zeroing on that site's unwind path (see FrameSaves). On QuickJS, 4 gave the
 * smallest and fastest build: 0 (a save per live set) and 8, 16 or sharing by estimated bytes all
 * gave larger code that V8 ran slower.
 */
const SPARE_LOCALS = 4;

/** How many locals are in one of `a` and `b` and not the other, or `most + 1` once past `most`. */
function extraLocals(a: ReadonlySet<number>, b: ReadonlySet<number>, most: number): number {
  let extra = 0;
  for (const local of a) if (!b.has(local) && ++extra > most) return extra;
  for (const local of b) if (!a.has(local) && ++extra > most) return extra;
  return extra;
}

/**
 * The unwind paths of one copy. A call site that sees an unwind branches, with its index, to a
 * save of its live locals at the end of the function; sites whose live sets differ by at most
 * SPARE_LOCALS share one. Before branching, a site zeroes the locals its save keeps that are dead
 * at the site: the save block is a merge point of every site that branches to it, and a local it
 * reads must otherwise be kept alive (its value held for the merge) at each of them. On a large
 * function (QuickJS's interpreter loop) that held hundreds of dead values live across the whole
 * body: V8's optimizing tier spilled them all, and the fast copy ran 5x slower than the original.
 */
class FrameSaves {
  private readonly saves: Array<{ label: string; live: Set<number> }> = [];
  /** Each site's unwind branch, to be preceded by the zeroing of its save's dead locals (see wrap). */
  private readonly sites: Array<{ branch: ExpressionRef; live: ReadonlySet<number>; save: Set<number> }> = [];
  /** The saves' calls made by wrap, innermost first, each taking its save block as its first operand. */
  readonly calls: ExpressionRef[] = [];

  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    private readonly copies: FunctionCopies,
  ) {}

  /** `call`, call site `index`, followed by the unwind test. */
  after(call: ExpressionRef, index: number, scratch: (type: number) => number): ExpressionRef {
    const { module, binaryen } = this;
    // A call with an operand that never returns (flattened unreachable code) is never made: it cannot unwind.
    if (binaryen.getExpressionType(call) === binaryen.unreachable) return call;
    const live = this.copies.liveAtSites[index]!;
    const save = this.saveFor(live);
    const branch = module.block(null, [module.br(save.label, undefined, module.i32.const(index))], binaryen.unreachable);
    this.sites.push({ branch, live, save: save.live });
    const test = module.if(this.copies.state(), branch);
    const type = binaryen.getExpressionType(call);
    if (type === binaryen.none) return module.block(null, [call, test], binaryen.none);
    const temp = scratch(type);
    return module.block(null, [module.local.set(temp, call), test, module.local.get(temp, type)], type);
  }

  /**
   * The save for a site whose live locals are `live`: an existing one that needs at most
   * SPARE_LOCALS more (a dead local it saves is zeroed first, see zeroDeadLocals), or a new one.
   */
  private saveFor(live: ReadonlySet<number>): { label: string; live: Set<number> } {
    let best: { label: string; live: Set<number> } | undefined;
    let bestExtra = Infinity;
    for (const save of this.saves) {
      // Only the first save with the fewest extra locals, and at most SPARE_LOCALS, is taken:
      // counting stops past that (SQLite's largest functions have hundreds of saves, each site compared with every one).
      const most = Math.min(bestExtra - 1, SPARE_LOCALS);
      if (Math.abs(save.live.size - live.size) > most) continue;
      const extra = extraLocals(live, save.live, most);
      if (extra <= most) [best, bestExtra] = [save, extra];
      if (bestExtra === 0) break;
    }
    if (best) {
      for (const local of live) best.live.add(local);
      return best;
    }
    const save = { label: `lunatic_asyncify$save${this.saves.length}`, live: new Set(live) };
    this.saves.push(save);
    return save;
  }

  /** Puts before each site's branch the zeroing of the locals its save keeps and it does not: dead there. */
  private zeroDeadLocals(): void {
    const { module, binaryen, copies } = this;
    for (const { branch, live, save } of this.sites) {
      const dead = [...save].filter((local) => !live.has(local));
      if (!dead.length) continue;
      const zeroes = dead.map((local) => module.local.set(local, zeroOf(binaryen, module, copies.types[local]!)));
      setBlockChildren(binaryen, branch, [...zeroes, ...blockChildren(binaryen, branch)]);
    }
  }

  /**
   * `body`, made to return, inside the blocks the unwind tests branch out of, each followed by its
   * save. Each save block holds the statements of the level inside it (a save's call and return),
   * not a block of them: binaryen's vacuum looks through a block of one statement for branches to
   * it, which on a nest of saves costs the nest's depth times the body's size.
   */
  wrap(body: ExpressionRef): ExpressionRef {
    const { module, binaryen, copies } = this;
    if (!this.saves.length) return body;
    this.zeroDeadLocals();
    const type = binaryen.getExpressionType(body);
    let level = type === binaryen.unreachable ? [body] : type === binaryen.none ? [body, module.return()] : [module.return(body)];
    for (const { label, live } of this.saves) {
      const call = copies.save(live, module.block(label, level, binaryen.i32));
      this.calls.push(call);
      level = [call, copies.zeroResult()];
    }
    return module.block(null, level, binaryen.unreachable);
  }
}

/** Numbers the call sites that can unwind, in execution order: both copies walk the same tree. */
class CallSites {
  private next = 0;

  constructor(
    private readonly binaryen: Binaryen,
    private readonly graph: CallGraph,
    private readonly mayUnwind: Set<string>,
  ) {}

  isSite(expr: ExpressionRef, kind: string): boolean {
    const targets = callTargets(this.binaryen, this.graph, expr, kind);
    return targets?.some((target) => this.mayUnwind.has(target)) ?? false;
  }

  take(): number {
    return this.next++;
  }

  get count(): number {
    return this.next;
  }
}

const CONTROL = new Set(['Block', 'If', 'Loop']);
/** What may stand between a call site and the statement list that holds it, once lifted. */
const STATEMENT_WRAPPERS = new Set(['LocalSet', 'Drop']);

/**
 * The call sites of a lifted body in execution order (the order both copies number them). Throws
 * CannotCopy unless every one stands as a statement (alone, or under a local.set or drop) in a
 * block, a loop, an arm of an if or the function body, with no call site below it.
 */
function statementCallSites(
  binaryen: Binaryen,
  sites: CallSites,
  expr: ExpressionRef,
  statement: boolean,
  found: ExpressionRef[] = [],
): ExpressionRef[] {
  const kind = kindOf(binaryen, expr);
  const site = sites.isSite(expr, kind);
  if (site && !statement) throw new CannotCopy();
  if (site) found.push(expr);
  childSlots(binaryen, expr).forEach((slot, i) => {
    const childStatement = !site && (CONTROL.has(kind) ? !(kind === 'If' && i === 0) : STATEMENT_WRAPPERS.has(kind) && statement);
    statementCallSites(binaryen, sites, slot.get(), childStatement, found);
  });
  return found;
}

/** The fast copy, in place: the lifted body with the unwind test after every call site. */
function makeFast(
  binaryen: Binaryen,
  saves: FrameSaves,
  sites: CallSites,
  expr: ExpressionRef,
  scratch: (type: number) => number,
): ExpressionRef {
  const kind = kindOf(binaryen, expr);
  if (sites.isSite(expr, kind)) {
    const index = sites.take();
    return saves.after(expr, index, scratch);
  }
  for (const slot of childSlots(binaryen, expr)) {
    const child = slot.get();
    const replaced = makeFast(binaryen, saves, sites, child, scratch);
    if (replaced !== child) slot.set(replaced);
  }
  return expr;
}

/** Builds the rewind copy's body from a copy of the lifted body, in place. */
class RewindBuilder {
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    private readonly saves: FrameSaves,
    private readonly sites: CallSites,
    private readonly rewindNames: Map<string, string>,
    private readonly locals: { rewinding: number; resumeAt: number; scratch: (type: number) => number },
  ) {}

  /** Rewrites `expr` (in place where it can) and returns it with the call sites it holds, [first, end). */
  build(expr: ExpressionRef): { expr: ExpressionRef; first: number; end: number } {
    const { binaryen } = this;
    const kind = kindOf(binaryen, expr);
    const first = this.sites.count;
    if (this.sites.isSite(expr, kind)) return { expr: this.resumable(expr, this.sites.take()), first, end: first + 1 };
    if (kind === 'Block') this.buildBlock(expr);
    else if (kind === 'If') this.buildIf(expr);
    else {
      for (const slot of childSlots(binaryen, expr)) {
        const child = slot.get();
        const built = this.build(child).expr;
        if (built !== child) slot.set(built);
      }
    }
    // Guards turn some unreachable statements into ones that may complete: types are recomputed.
    if (this.sites.count > first) untyped(binaryen).Expression.finalize(expr);
    return { expr, first, end: this.sites.count };
  }

  private get rewinding(): ExpressionRef {
    return this.module.local.get(this.locals.rewinding, this.binaryen.i32);
  }

  /** Whether the resumed call is one of [first, end). */
  private resumesIn(first: number, end: number): ExpressionRef {
    const { module, binaryen } = this;
    return module.i32.lt_u(
      module.i32.sub(module.local.get(this.locals.resumeAt, binaryen.i32), module.i32.const(first)),
      module.i32.const(end - first),
    );
  }

  /**
   * Statements before the resumed call are skipped while rewinding; a statement holding call
   * sites runs only if it holds the resumed one. The last one holding call sites needs no test:
   * a rewind reaches it only to resume there or, having resumed before it, as ordinary code; so
   * does what follows it (a value block's value among them).
   */
  private buildBlock(block: ExpressionRef): void {
    const { module, binaryen } = this;
    const built = blockChildren(binaryen, block).map((child) => this.build(child));
    // Without call sites nothing was replaced: only a call site's expression changes.
    steerThrough(
      binaryen,
      module,
      block,
      built,
      () => module.i32.eqz(this.rewinding),
      (first, end) => this.resumesIn(first, end),
    );
  }

  /** While rewinding, an if takes the arm that holds the resumed call. */
  private buildIf(expr: ExpressionRef): void {
    const { module, binaryen } = this;
    steerIf(
      binaryen,
      module,
      expr,
      (child) => this.build(child),
      () => this.rewinding,
      (first, end) => this.resumesIn(first, end),
    );
  }

  /**
   * A call site: clear the flag and call what rewinds the callee; then the unwind test. A site
   * reached while rewinding is the resumed one (the guards skip every other); one reached later
   * is an ordinary call, which the callee's rewind copy passes on to the function at once (see
   * makeRewindCopy): one call and no test or second call at each site, in the copy that holds
   * most of the output's control structures, the cost of V8's baseline compiler.
   */
  private resumable(call: ExpressionRef, index: number): ExpressionRef {
    const { module, binaryen, locals } = this;
    const type = binaryen.getExpressionType(call);
    const resumed = module.block(null, [module.local.set(locals.rewinding, module.i32.const(0)), this.rewindCall(call)], type);
    return this.saves.after(resumed, index, locals.scratch);
  }

  /** A direct call goes to the callee's rewind copy; an import or an indirect call is made again (docs/ABI.md). */
  private rewindCall(call: ExpressionRef): ExpressionRef {
    const { module, binaryen } = this;
    if (kindOf(binaryen, call) === 'Call') {
      const target = accessor<string>(binaryen, 'Call', 'getTarget')(call);
      const rewindName = this.rewindNames.get(target);
      if (rewindName) {
        const operands = Array.from({ length: accessor(binaryen, 'Call', 'getNumOperands')(call) }, (_, i) =>
          module.copyExpression(accessor(binaryen, 'Call', 'getOperandAt')(call, i)),
        );
        return module.call(rewindName, operands, binaryen.getExpressionType(call));
      }
    }
    return module.copyExpression(call);
  }
}

const EXPORTS = {
  startUnwind: 'asyncify_start_unwind',
  stopUnwind: 'asyncify_stop_unwind',
  startRewind: 'asyncify_start_rewind',
  stopRewind: 'asyncify_stop_rewind',
  getState: 'asyncify_get_state',
} as const;

/** The state and data globals and the five exports of the ABI, as binaryen's Asyncify defines them. */
function addControl(binaryen: Binaryen, module: Module): Globals {
  const i32 = binaryen.i32;
  const globals = { state: freshGlobalName(module, 'lunatic_asyncify_state'), data: freshGlobalName(module, 'lunatic_asyncify_data') };
  module.addGlobal(globals.state, i32, true, module.i32.const(STATE.normal));
  module.addGlobal(globals.data, i32, true, module.i32.const(0));
  const data = () => module.global.get(globals.data, i32);
  // Like binaryen's: a data struct whose current position is past its end is refused with a trap.
  const checkData = module.if(module.i32.gt_u(module.i32.load(0, 4, data()), module.i32.load(4, 4, data())), module.unreachable());
  const control = (exportName: string, state: number, setsData: boolean) => {
    const name = freshFunctionName(module, `lunatic_${exportName}`);
    const body = [
      module.global.set(globals.state, module.i32.const(state)),
      ...(setsData ? [module.global.set(globals.data, module.local.get(0, i32))] : []),
      module.copyExpression(checkData),
    ];
    module.addFunction(name, setsData ? i32 : binaryen.none, binaryen.none, [], module.block(null, body, binaryen.none));
    module.addFunctionExport(name, exportName);
  };
  // The frame stack's pop gives back the last `size` bytes claimed and returns the frame (each
  // function's saver claims them, FunctionCopies.pushFrame).
  const pop = () => {
    const name = freshFunctionName(module, 'lunatic_asyncify_pop');
    const [size, frame] = [() => module.local.get(0, i32), () => module.local.get(1, i32)];
    const body = [
      module.local.set(1, module.i32.sub(module.i32.load(0, 4, data()), size())),
      module.i32.store(0, 4, data(), frame()),
      frame(),
    ];
    module.addFunction(name, i32, i32, [i32], module.block(null, body, i32));
    return name;
  };
  control(EXPORTS.startUnwind, STATE.unwinding, true);
  control(EXPORTS.stopUnwind, STATE.normal, false);
  control(EXPORTS.startRewind, STATE.rewinding, true);
  control(EXPORTS.stopRewind, STATE.normal, false);
  const getState = freshFunctionName(module, `lunatic_${EXPORTS.getState}`);
  module.addFunction(getState, binaryen.none, i32, [], module.global.get(globals.state, i32));
  module.addFunctionExport(getState, EXPORTS.getState);
  return { ...globals, pop: pop(), grow: addTailGrowth(binaryen, module, data) };
}

/**
 * `lunatic_asyncify_grow_tail(needed)`: an unwind about to write past the data struct's end,
 * where the host put it at the end of memory 0 (the reserved tail, docs/ABI.md), grows memory and
 * the tail with it: at least doubled, enough for `needed`, `lunatic_reserved_pages` and the end
 * raised to match. A fixed tail (64 KiB by default) stopped an interpreter's recursion at a sixth
 * of the depth its plain build reached (Jim Tcl: 145 calls against 866). Anywhere else, or with
 * memory at its maximum, it traps as binaryen's Asyncify does: the frames cannot be saved.
 */
function addTailGrowth(binaryen: Binaryen, module: Module, data: () => ExpressionRef): string {
  const i32 = binaryen.i32;
  const name = freshFunctionName(module, 'lunatic_asyncify_grow_tail');
  const [needed, pages] = [() => module.local.get(0, i32), () => module.local.get(1, i32)];
  const end = () => module.i32.load(4, 4, data());
  const memoryEnd = () => module.i32.shl(module.memory.size(), module.i32.const(PAGE_SHIFT));
  const reserved = () => module.global.get(RESERVED_PAGES_GLOBAL, i32);
  const body = [
    module.if(module.i32.ne(end(), memoryEnd()), module.unreachable()),
    module.local.set(
      1,
      module.i32.shr_u(module.i32.add(module.i32.sub(needed(), end()), module.i32.const(PAGE_BYTES - 1)), module.i32.const(PAGE_SHIFT)),
    ),
    module.if(module.i32.lt_u(pages(), reserved()), module.local.set(1, reserved())),
    module.if(module.i32.eq(module.memory.grow(pages()), module.i32.const(-1)), module.unreachable()),
    module.i32.store(4, 4, data(), memoryEnd()),
    module.global.set(RESERVED_PAGES_GLOBAL, module.i32.add(reserved(), pages())),
  ];
  module.addFunction(name, i32, binaryen.none, [i32], module.block(null, body, binaryen.none));
  return name;
}

/** What flattens a function binaryen's way when its call sites cannot be lifted: flat code, fewest locals. */
const FLATTEN_PASSES = ['flatten', 'simplify-locals-nonesting', 'coalesce-locals', 'reorder-locals'];

/**
 * Makes every call site of `func` a statement with trivial operands: lifted if it can be, else
 * flattened. Returns whether it flattened.
 */
function prepare(binaryen: Binaryen, module: Module, func: FunctionRef, sites: CallSites): boolean {
  try {
    liftCallSites(binaryen, module, func, (expr, kind) => sites.isSite(expr, kind));
    return false;
  } catch (error) {
    if (!(error instanceof CannotLift)) throw error;
    module.runPassesOnFunction(func, FLATTEN_PASSES);
    return true;
  }
}

/**
 * The locals live at each of `calls` (a lifted body's call sites, in order), by call-site index,
 * and at the top of each of `loops`.
 */
function liveAt(
  binaryen: Binaryen,
  sites: CallSites,
  body: ExpressionRef,
  calls: ExpressionRef[],
  loops: ExpressionRef[],
): { sites: Array<ReadonlySet<number>>; loops: Array<ReadonlySet<number>> } {
  const watched = new Set(loops);
  const liveness = new Liveness(binaryen, (expr, kind) => watched.has(expr) || sites.isSite(expr, kind));
  liveness.run(body);
  return { sites: calls.map((call) => liveness.liveIn.get(call)!), loops: loops.map((loop) => liveness.liveIn.get(loop)!) };
}

function setBody(binaryen: Binaryen, func: FunctionRef, body: ExpressionRef): void {
  untyped(binaryen).Function.setBody(func, body);
}

/**
 * Gives every function in `instrumented` its fast and rewind copies (only the rewind copy when its
 * body has more than `singleCopyAbove` expressions) and adds the Asyncify exports. Returns the
 * functions given one copy, or undefined, having changed nothing but lifting the call
 * sites of those functions, when one cannot be given copies; the caller then runs binaryen's
 * Asyncify.
 */
export interface CopiesOptions {
  /** The defined functions that can reach a blocking import. */
  instrumented: string[];
  /** The functions (imports among them) a call to which may unwind. */
  sinks: Set<string>;
  /** Optimize each copy after making it. */
  optimize: boolean;
  /** Functions of more expressions get their rewind copy alone (default: none). */
  singleCopyAbove?: number;
  /**
   * Functions of at least this many expressions hand a frame resumed in a loop back to fast code,
   * their re-entry copy (reentry.ts), measured before lifting as singleCopyAbove is. The rewind
   * copy of a huge function (an interpreter's dispatch loop, 19,000-29,000 expressions in QuickJS
   * and SQLite) runs several times slower than its fast copy; a smaller one's guards cost V8 less
   * than a third copy costs in size and compilation. The default is 10,000.
   */
  handBackAbove: number;
  /** Frames handed back go on in a re-entry copy (addReentryCopy) rather than in the fast copy, guarded. */
  reentryCopies: boolean;
}

export function applyAsyncifyCopies(
  context: PassContext,
  { instrumented, sinks, optimize, singleCopyAbove = Infinity, handBackAbove, reentryCopies }: CopiesOptions,
): string[] | undefined {
  const { binaryen, module, progress } = context;
  const graph = context.callGraph();
  // asyncify.ts refused references in these functions' locals and results already; what lifting
  // adds is checked below.
  const mayUnwind = new Set([...instrumented, ...sinks]);
  const funcs = instrumented.map((name) => graph.nodes.get(name)!.ref);
  // Measured before lifting, which adds locals and statements of its own; without a limit, not at all.
  const sizes = funcs.map((func) => expressionCount(binaryen, untyped(binaryen).Function.getBody(func)));
  const overLimit = (i: number) => sizes[i]! > singleCopyAbove;
  const single = new Set(Number.isFinite(singleCopyAbove) ? instrumented.filter((_, i) => overLimit(i)) : []);
  const liveAtSites: Array<Array<ReadonlySet<number>>> = [];
  const reentries: Array<{ loops: ExpressionRef[]; ordinals: number[]; liveAt: Array<ReadonlySet<number>> }> = [];
  const flattened = new Set<FunctionRef>();
  progress.phase('Asyncify: analysing', funcs.length);
  try {
    for (const [i, func] of funcs.entries()) {
      progress.step();
      const sites = new CallSites(binaryen, graph, mayUnwind);
      if (prepare(binaryen, module, func, sites)) flattened.add(func);
      // Lifting spills values of whatever type waits for a call (a reference, say); flattening, every value.
      if (!fitsFrame(binaryen, func)) throw new CannotCopy();
      splitTupleLocals(binaryen, module, func);
      const body = untyped(binaryen).Function.getBody(func);
      // A function with one copy has no fast copy to go back to; a small one runs its rewind copy nearly as fast.
      const handsBack = !single.has(instrumented[i]!) && sizes[i]! >= handBackAbove;
      const { loops, ordinals } = handsBack
        ? waysBack(binaryen, body, (expr, kind) => sites.isSite(expr, kind))
        : { loops: [], ordinals: [] };
      const live = liveAt(binaryen, sites, body, statementCallSites(binaryen, sites, body, true), loops);
      liveAtSites.push(live.sites);
      const saved = savedLocals(live.sites);
      if (saved.length > MAX_SAVER_PARAMS) throw new CannotCopy();
      const types = localTypes(binaryen, func);
      if (!allOfTypes(types, saved, (type) => isNumericType(binaryen, type))) throw new CannotCopy();
      // A vector live at a way back cannot be carried: the frame stays in its rewind copy instead.
      const carried = live.loops.every((locals) => allOfTypes(types, locals, (type) => carriable(binaryen, type)));
      reentries.push(carried ? { loops, ordinals, liveAt: live.loops } : { loops: [], ordinals: [], liveAt: [] });
    }
  } catch (error) {
    if (error instanceof CannotCopy) return undefined;
    throw error;
  }
  const globals = addControl(binaryen, module);
  const carryGlobals = new CarryGlobals(binaryen, module); // adds a global only when a function carries a local
  // A function with one copy rewinds itself.
  const rewindCopies = new Map(instrumented.map((name) => [name, single.has(name) ? name : freshFunctionName(module, `${name}$rewind`)]));
  // What a caller calls to rewind a function: its rewind copy, or the function that can hand the frame back to fast code (reentry.ts).
  const rewindNames = new Map(rewindCopies);
  // A command's `_start` runs once, so after the first suspension its frame runs handed back
  // anyway: a re-entry copy would add size and compilation for nothing (eigen-json's `_start`,
  // with main inlined: 19% more output, first runs 20% longer).
  const runsOnce = commandEntry(binaryen, module);
  // Every rewind copy exists before any body calls one.
  const pairs = instrumented.map((name, i) => {
    const func = funcs[i]!;
    const info = binaryen.getFunctionInfo(func);
    const rewind = single.has(name)
      ? func
      : module.addFunction(rewindCopies.get(name)!, info.params, info.results, info.vars, module.copyExpression(info.body));
    const copies = new FunctionCopies(binaryen, module, globals, func, liveAtSites[i]!);
    const { loops, ordinals, liveAt: liveAtLoops } = reentries[i]!;
    // Where a handed-back frame goes on: its re-entry copy, or the fast copy itself.
    const copied = ordinals.length && reentryCopies && name !== runsOnce;
    const target = copied ? addReentryCopy(binaryen, module, name, info, ordinals) : { name, func, loops };
    const reentry = ordinals.length
      ? new Reentry(binaryen, module, carryGlobals, globals.state, target.loops, ordinals, liveAtLoops, copies.types)
      : undefined;
    if (reentry) rewindNames.set(name, reentry.addResume(name, target.name, rewindCopies.get(name)!, info.params, info.results));
    const reentryCopy = reentry && target.func !== func ? target.func : undefined;
    return { name, func, rewind, copies, reentry, reentryCopy, sites: () => new CallSites(binaryen, graph, mayUnwind) };
  });
  progress.phase('Asyncify: copying', pairs.length);
  for (const { name, func, rewind, copies, reentry, reentryCopy, sites } of pairs) {
    progress.step();
    if (single.has(name)) {
      const saveCalls = makeRewindCopy(binaryen, module, copies, func, sites(), rewindNames, { alone: true });
      if (optimize)
        runRewindCopyPasses(binaryen, module, func, flattened.has(func) ? FLAT_REWIND_COPY_PASSES : REWIND_COPY_PASSES, saveCalls);
      continue;
    }
    // The host or a table may call it while rewinding: it goes on in what callers call to rewind it.
    const onRewind = graph.addressTaken.has(name) ? rewindNames.get(name)! : undefined;
    const guardedInPlace = reentry && !reentryCopy ? reentry : undefined;
    makeFastCopy(binaryen, module, copies, func, sites(), onRewind || guardedInPlace ? { onRewind, reentry: guardedInPlace } : undefined);
    if (reentryCopy) makeFastCopy(binaryen, module, copies, reentryCopy, sites(), { reentry });
    const saveCalls = makeRewindCopy(binaryen, module, copies, rewind, sites(), rewindNames, { alone: false, reentry });
    if (!optimize) continue;
    const fastCopies = reentryCopy ? [func, reentryCopy] : [func];
    if (!flattened.has(func)) {
      for (const fast of fastCopies) module.runPassesOnFunction(fast, FAST_COPY_PASSES);
      runRewindCopyPasses(binaryen, module, rewind, REWIND_COPY_PASSES, saveCalls);
    } else {
      for (const fast of fastCopies) module.optimizeFunction(fast);
      runRewindCopyPasses(binaryen, module, rewind, FLAT_REWIND_COPY_PASSES, saveCalls);
    }
  }
  return [...single];
}

/**
 * `<name>$reenter`, a function's re-entry copy: the fast copy again, with guards that take a frame
 * handed back by the rewind copy to its way back (reentry.ts). Made from the lifted body, before
 * either copy changes it; returns it with its ways back (`ordinals`, waysBack).
 *
 * Why a copy of its own: guarded in place, the fast copy carried those guards and their merges
 * on every call. On Node 20 that pushed QuickJS's interpreter function (already over the size at
 * which V8 11 gives a function its simpler register allocator) from 1.46x to 1.97x of the
 * uninstrumented program's time, refilling without a suspension, and SQLite's from 1.17x to 1.21x
 * (bench/RESULTS.md). Only a frame that was handed back runs the guarded code now, for the price
 * of one more fast copy of the few functions of at least `handBackAbove` expressions, and in a
 * short run, of that copy's own compilation and tier-up (`reentryCopies: false` keeps the guards
 * in the fast copy).
 */
function addReentryCopy(
  binaryen: Binaryen,
  module: Module,
  name: string,
  info: { params: number; results: number; vars: number[]; body: ExpressionRef },
  ordinals: readonly number[],
): { name: string; func: FunctionRef; loops: ExpressionRef[] } {
  const reentryName = freshFunctionName(module, `${name}$reenter`);
  const func = module.addFunction(reentryName, info.params, info.results, info.vars, module.copyExpression(info.body));
  return { name: reentryName, func, loops: loopsAt(binaryen, untyped(binaryen).Function.getBody(func), ordinals) };
}

/**
 * A fast copy, in `func` (the function itself, or its re-entry copy). With `onRewind`, it tests
 * the state on entry: a rewind that reaches it (from the host or a table) goes on there. With
 * `reentry` (the re-entry copy), it takes a frame handed back by the rewind copy to its way back.
 */
function makeFastCopy(
  binaryen: Binaryen,
  module: Module,
  copies: FunctionCopies,
  func: FunctionRef,
  sites: CallSites,
  entry: { onRewind?: string | undefined; reentry?: Reentry | undefined } | undefined,
): void {
  const scratch = scratchLocals(binaryen, func);
  const original = untyped(binaryen).Function.getBody(func);
  const saves = new FrameSaves(binaryen, module, copies);
  let fast = makeFast(binaryen, saves, sites, original, scratch);
  const at = entry?.reentry ? addLocal(binaryen, func, binaryen.i32) : undefined;
  if (entry?.reentry) fast = entry.reentry.guardPaths(fast, at!);
  const body = saves.wrap(fast);
  if (!entry) {
    setBody(binaryen, func, body);
    return;
  }
  const resumed = entry.onRewind ? copies.callAndReturn(entry.onRewind) : undefined;
  const test = entry.reentry
    ? entry.reentry.entry(at!, resumed)
    : module.if(module.i32.eq(copies.state(), module.i32.const(STATE.rewinding)), resumed!);
  setBody(binaryen, func, module.block(null, [test, body], binaryen.getExpressionType(body)));
}

/**
 * The rewind copy, in `rewind`. `alone`: it is the function's only copy, entered by normal calls
 * too, so it pops a frame only when the state says it is rewinding (else `rewinding` stays 0 and
 * every guard lets the code run as written). `reentry`: its ways back hand the frame back to the
 * fast copy. Returns its saves' calls (FrameSaves.calls).
 */
function makeRewindCopy(
  binaryen: Binaryen,
  module: Module,
  copies: FunctionCopies,
  rewind: FunctionRef,
  sites: CallSites,
  rewindNames: Map<string, string>,
  { alone, reentry }: { alone: boolean; reentry?: Reentry },
): ExpressionRef[] {
  const scratch = scratchLocals(binaryen, rewind);
  const [ptr, rewinding, resumeAt] = [
    scratch(binaryen.i32),
    addLocal(binaryen, rewind, binaryen.i32),
    addLocal(binaryen, rewind, binaryen.i32),
  ];
  const saves = new FrameSaves(binaryen, module, copies);
  const builder = new RewindBuilder(binaryen, module, saves, sites, rewindNames, { rewinding, resumeAt, scratch });
  const original = untyped(binaryen).Function.getBody(rewind);
  const loops = reentry ? loopsAt(binaryen, original, reentry.ordinals) : [];
  const built = builder.build(original).expr;
  reentry?.addHandOffs(loops, rewinding, () => copies.zeroResult());
  const body = saves.wrap(built);
  const resume = [...copies.restore(ptr, resumeAt), module.local.set(rewinding, module.i32.const(1))];
  const prologue = alone
    ? [module.if(module.i32.eq(copies.state(), module.i32.const(STATE.rewinding)), module.block(null, resume, binaryen.none))]
    : [passOnOrdinaryCall(binaryen, module, copies), ...resume];
  setBody(binaryen, rewind, module.block(null, [...prologue, body], binaryen.getExpressionType(body)));
  return saves.calls;
}

/**
 * A rewind copy's first statement: entered when nothing is being rewound (an ordinary call from a
 * site of another rewind copy, RewindBuilder.resumable), it calls the function itself and returns.
 */
function passOnOrdinaryCall(binaryen: Binaryen, module: Module, copies: FunctionCopies): ExpressionRef {
  const passed = copies.callAndReturn(binaryen.getFunctionInfo(copies.func).name);
  return module.if(module.i32.ne(copies.state(), module.i32.const(STATE.rewinding)), passed);
}

/**
 * Runs `passes` on a rewind copy whose saves' calls are `saveCalls`. merge-blocks works out the
 * effects of every operand of a call that has a block among its operands, and each save's call
 * takes its save block, which holds the whole body and every save inside it: on a nest of n
 * saves, n walks of the body (a second of eigen-json's main, nearly 200 saves deep). During
 * merge-blocks each save block stands as the condition of an `if` instead, which merge-blocks
 * leaves alone when it is a named block, as it leaves the call: the output is the same.
 */
function runRewindCopyPasses(binaryen: Binaryen, module: Module, func: FunctionRef, passes: string[], saveCalls: ExpressionRef[]): void {
  let start = 0;
  passes.forEach((pass, i) => {
    if (pass !== 'merge-blocks') return;
    if (i > start) module.runPassesOnFunction(func, passes.slice(start, i));
    const parked = parkSaveBlocks(binaryen, module, saveCalls);
    module.runPassesOnFunction(func, [pass]);
    for (const { call, holder } of parked)
      accessor(binaryen, 'Call', 'setOperandAt')(call, 0, accessor(binaryen, 'If', 'getCondition')(holder));
    start = i + 1;
  });
  if (start < passes.length) module.runPassesOnFunction(func, passes.slice(start));
}

/** Puts each save's block (still a named block, under a call) in an `if` (see runRewindCopyPasses). */
function parkSaveBlocks(
  binaryen: Binaryen,
  module: Module,
  saveCalls: ExpressionRef[],
): Array<{ call: ExpressionRef; holder: ExpressionRef }> {
  const operand = accessor(binaryen, 'Call', 'getOperandAt');
  return saveCalls.flatMap((call) => {
    // What an earlier pass rewrote is left as it is: merge-blocks then sees it as it would have.
    if (kindOf(binaryen, call) !== 'Call') return [];
    const block = operand(call, 0);
    if (kindOf(binaryen, block) !== 'Block' || accessor<string | null>(binaryen, 'Block', 'getName')(block) === null) return [];
    const holder = module.if(block, module.i32.const(0), module.i32.const(0));
    accessor(binaryen, 'Call', 'setOperandAt')(call, 0, holder);
    return [{ call, holder }];
  });
}
