// Re-entry: a frame resumed in its rewind copy goes back to fast code at the next top of a
// loop (the two copies: passes/asyncify/asyncify-copies.ts).
//
// A resumed frame used to run the rest of its life in its rewind copy, whose guards and merges
// make V8's code for a large function several times slower (for a huge one, V8 falls back to its
// mid-tier register allocator). An interpreter's dispatch loop or a program's main loop does not
// return for most of the run, so after the first suspension the whole program ran there: QuickJS
// and SQLite 4-9x their own speed. Now some loops are *ways back* (waysBack): those that hold a
// call site and that the entry reaches through blocks, if arms and value blocks, and inside each,
// the loop that is most of it (an interpreter's dispatch loop sits inside the loop of its
// reduction check and the C loops around it):
//
// - The rewind copy, at the top of such a loop once the rewind is over (its `rewinding` flag is
//   clear), puts the locals live there in carry globals, sets the state to "re-entering at loop
//   n" (REWINDING + n: past the ABI's three states, never seen by the host) and returns.
// - Callers rewind such a function through `<name>$resume`, a small function that calls the
//   rewind copy and, when it comes back re-entering, calls the re-entry copy.
// - The re-entry copy (`<name>$reenter`) is the fast copy again, entered only re-entering: it
//   takes the locals back and goes to that loop's top, skipping every statement on the way (`at`
//   guards, one local test each, on the path only).
//
// The rewind copy's frame is then off the stack and the loop runs in fast code. The guards stay
// out of the fast copy itself, which every ordinary call runs: their merges cost V8's code for a
// huge function more than the guards' own tests (asyncify-copies.ts, addReentryCopy). A frame
// handed back pays them instead: a guard on the way to a nested loop runs once an iteration of
// the loops around it. With `--no-reentry-copies` the fast copy itself is guarded and entered
// re-entering (smaller output, every call paying for the guards).
import { accessor, type Binaryen, type ExpressionRef, type Module, paramGets, untyped, zeroOf } from '../ir/binaryen.js';
import { freshFunctionName, freshGlobalName } from '../ir/names.js';
import { blockChildren, childSlots, expressionCount, kindOf } from '../ir/walker.js';
import { steerIf, steerThrough } from './skip-statements.js';

/** Whether an expression is a call site that can unwind. */
type IsSite = (expr: ExpressionRef, kind: string) => boolean;

/**
 * What may stand between a function's entry and a way back: blocks, if arms, and the statements
 * that take a block's value (a body whose result the reduction counter's write-back keeps in a
 * local is one such block).
 */
const PATH = new Set(['Block', 'If', 'LocalSet', 'Drop']);

/** Every loop of a body, in the order a walk meets them: the same order in both copies. */
function loopsInOrder(binaryen: Binaryen, body: ExpressionRef, out: ExpressionRef[] = []): ExpressionRef[] {
  if (kindOf(binaryen, body) === 'Loop') out.push(body);
  for (const slot of childSlots(binaryen, body)) loopsInOrder(binaryen, slot.get(), out);
  return out;
}

function holdsSite(binaryen: Binaryen, expr: ExpressionRef, isSite: IsSite): boolean {
  if (isSite(expr, kindOf(binaryen, expr))) return true;
  return childSlots(binaryen, expr).some((slot) => holdsSite(binaryen, slot.get(), isSite));
}

/**
 * How much of a loop the loop inside it must be to be a way back too. The guards that lead to a
 * loop inside loops run at every turn of the loops around it; where the inner loop is most of
 * the outer one (an interpreter's dispatch loop inside the loops of its reduction check and of
 * the C code around it), the outer ones turn only when the inner one ends. A small loop inside a
 * large one (a loop in one case of the dispatch) would put guards on the hottest path of the
 * program; a frame resumed there hands back at the dispatch loop's next turn instead.
 */
const DOMINANT_SHARE = 0.5;

/** The loops holding a call site that `expr` reaches through PATH (an if through its arms), not looking inside them. */
function loopsReached(binaryen: Binaryen, expr: ExpressionRef, isSite: IsSite, out: ExpressionRef[] = []): ExpressionRef[] {
  const kind = kindOf(binaryen, expr);
  if (kind === 'Loop') {
    if (holdsSite(binaryen, expr, isSite)) out.push(expr);
    return out;
  }
  if (!PATH.has(kind)) return out;
  childSlots(binaryen, expr).forEach((slot, i) => {
    if (!(kind === 'If' && i === 0)) loopsReached(binaryen, slot.get(), isSite, out);
  });
  return out;
}

function isWayBack(binaryen: Binaryen, loop: ExpressionRef): boolean {
  const type = binaryen.getExpressionType(loop);
  return accessor<string | null>(binaryen, 'Loop', 'getName')(loop) !== null && (type === binaryen.none || type === binaryen.unreachable);
}

/**
 * The ways back of a (lifted) body: the named loops with no value that hold a call site and that
 * the entry reaches through PATH (top loops), and inside each way back, the largest such loop it
 * reaches, when that is DOMINANT_SHARE of it. `loops` in the order a walk meets them, and each one's
 * ordinal in loopsInOrder (what finds them again in a copy of the body: loopsAt).
 */
export function waysBack(binaryen: Binaryen, body: ExpressionRef, isSite: IsSite): { loops: ExpressionRef[]; ordinals: number[] } {
  const order = new Map(loopsInOrder(binaryen, body).map((loop, i) => [loop, i]));
  const loops: ExpressionRef[] = [];
  const inside = (loop: ExpressionRef, size: number): void => {
    const candidates = loopsReached(binaryen, accessor(binaryen, 'Loop', 'getBody')(loop), isSite).filter((inner) =>
      isWayBack(binaryen, inner),
    );
    if (!candidates.length) return;
    const sizes = candidates.map((inner) => expressionCount(binaryen, inner));
    const largest = sizes.indexOf(Math.max(...sizes));
    if (sizes[largest]! < DOMINANT_SHARE * size) return;
    loops.push(candidates[largest]!);
    inside(candidates[largest]!, sizes[largest]!);
  };
  for (const loop of loopsReached(binaryen, body, isSite)) {
    if (!isWayBack(binaryen, loop)) continue;
    loops.push(loop);
    inside(loop, expressionCount(binaryen, loop));
  }
  return { loops, ordinals: loops.map((loop) => order.get(loop)!) };
}

/** The loops with these ordinals in a body (a copy of the one waysBack was given, untouched yet). */
export function loopsAt(binaryen: Binaryen, body: ExpressionRef, ordinals: readonly number[]): ExpressionRef[] {
  const loops = loopsInOrder(binaryen, body);
  return ordinals.map((i) => loops[i]!);
}

/**
 * The ABI's rewinding state. A frame handed back at way back n sets the state to REWINDING + n
 * (n from 1): above the ABI's states, and only until the copy it is handed back to is entered.
 */
const REWINDING = 2;

/** The carry globals, by type, shared by every function. */
export class CarryGlobals {
  private readonly byType = new Map<number, string[]>();

  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
  ) {}

  /** The k-th carry global of a type, added on first use. */
  global(type: number, k: number): string {
    const { module, binaryen } = this;
    let names = this.byType.get(type);
    if (!names) this.byType.set(type, (names = []));
    while (names.length <= k) {
      const name = freshGlobalName(
        module,
        `lunatic_asyncify_carry_${binaryen.expandType(type).map(typeName(binaryen)).join('')}_${names.length}`,
      );
      module.addGlobal(name, type, true, zeroOf(binaryen, module, type));
      names.push(name);
    }
    return names[k]!;
  }
}

function typeName(binaryen: Binaryen): (type: number) => string {
  return (type) => (type === binaryen.i32 ? 'i32' : type === binaryen.i64 ? 'i64' : type === binaryen.f32 ? 'f32' : 'f64');
}

/** One function's ways back: its loops, the locals live at each, and where they are carried. */
export class Reentry {
  /** Local -> carry global: every local live at some way back, numbered per type. */
  private readonly carry = new Map<number, string>();

  /**
   * `state`: the Asyncify state global; `ordinals`: the ways back (waysBack); `liveAt[i]`: the
   * locals live at the top of the i-th; `types`: the function's local types. A way back's number
   * is its index + 1.
   */
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    globals: CarryGlobals,
    private readonly state: string,
    /** The ways back in the body of the copy frames are handed back to. */
    private readonly loops: readonly ExpressionRef[],
    readonly ordinals: readonly number[],
    private readonly liveAt: ReadonlyArray<ReadonlySet<number>>,
    private readonly types: readonly number[],
  ) {
    const perType = new Map<number, number>();
    const carried = [...new Set(liveAt.flatMap((live) => [...live]))].sort((a, b) => a - b);
    for (const local of carried) {
      const type = types[local]!;
      const k = perType.get(type) ?? 0;
      perType.set(type, k + 1);
      this.carry.set(local, globals.global(type, k));
    }
  }

  /**
   * The rewind copy's hand-off at the top of each of its ways back (`loops`, by loopsAt, after
   * the copy is built): once `rewinding` is clear, carry the live locals, set the state to
   * re-entering there, and `leave` (a return of a zero).
   */
  addHandOffs(loops: readonly ExpressionRef[], rewinding: number, leave: () => ExpressionRef): void {
    const { module, binaryen } = this;
    loops.forEach((loop, i) => {
      const carried = [...this.liveAt[i]!].map((local) =>
        module.global.set(this.carry.get(local)!, module.local.get(local, this.types[local]!)),
      );
      const handOff = module.if(
        module.i32.eqz(module.local.get(rewinding, binaryen.i32)),
        module.block(null, [...carried, module.global.set(this.state, module.i32.const(REWINDING + i + 1)), leave()], binaryen.unreachable),
      );
      const body = accessor(binaryen, 'Loop', 'getBody')(loop);
      const withHandOff = module.block(null, [handOff, body], binaryen.getExpressionType(body));
      accessor<void>(binaryen, 'Loop', 'setBody')(loop, withHandOff);
    });
  }

  /**
   * The first statement of the copy a frame is handed back to (the re-entry copy, or the fast copy
   * itself without re-entry copies): entered re-entering, take the carried locals back, set `at`
   * to the way back's number and the state back to normal. `rewinding`: what to do when entered
   * while rewinding (an exported or address-taken fast copy: resume), if it can be.
   */
  entry(at: number, rewinding: ExpressionRef | undefined): ExpressionRef {
    const { module, binaryen } = this;
    const state = () => module.global.get(this.state, binaryen.i32);
    const taken = [...this.carry].map(([local, global]) => module.local.set(local, module.global.get(global, this.types[local]!)));
    const reentered = [
      module.local.set(at, module.i32.sub(state(), module.i32.const(REWINDING))),
      module.global.set(this.state, module.i32.const(0)),
      ...taken,
    ];
    const resumed = rewinding ? [module.if(module.i32.eq(state(), module.i32.const(REWINDING)), rewinding)] : [];
    return module.if(state(), module.block(null, [...resumed, ...reentered], binaryen.none));
  }

  /**
   * `<name>$resume`, what callers call to rewind the function: its rewind copy, then, if that
   * handed the frame back, `handedBackTo` (its re-entry copy, or its fast copy).
   */
  addResume(name: string, handedBackTo: string, rewindCopy: string, params: number, results: number): string {
    const { module, binaryen } = this;
    const args = () => paramGets(binaryen, module, params);
    const handedBack = module.i32.gt_u(module.global.get(this.state, binaryen.i32), module.i32.const(REWINDING));
    const result = binaryen.expandType(params).length;
    const rewound = module.call(rewindCopy, args(), results);
    const body =
      results === binaryen.none
        ? [rewound, module.if(module.i32.eqz(handedBack), module.return()), module.call(handedBackTo, args(), binaryen.none)]
        : [
            module.local.set(result, rewound),
            module.if(module.i32.eqz(handedBack), module.return(module.local.get(result, results))),
            module.return(module.call(handedBackTo, args(), results)),
          ];
    const resume = freshFunctionName(module, `${name}$resume`);
    const vars = results === binaryen.none ? [] : [results];
    module.addFunction(resume, params, results, vars, module.block(null, body, binaryen.getExpressionType(body.at(-1)!)));
    return resume;
  }

  /**
   * Guards the `body` of the copy a frame is handed back to (in place, where it can) so that with local `at` set to a way
   * back's number every statement before that loop is skipped and every if steers towards it;
   * `at` is cleared as the loop is entered.
   */
  guardPaths(body: ExpressionRef, at: number): ExpressionRef {
    const numbers = new Map(this.loops.map((loop, i) => [loop, i + 1]));
    return new PathGuards(this.binaryen, this.module, numbers, at).guard(body).expr;
  }
}

/** The guards of guardPaths: the rewind copy's steering (skip-statements.ts), towards loops instead of call sites. */
class PathGuards {
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    /** Each way back's number. */
    private readonly numbers: ReadonlyMap<ExpressionRef, number>,
    private readonly at: number,
  ) {}

  /** `expr` guarded, with the range of loop numbers it holds, [first, end) (empty: first === end). */
  guard(expr: ExpressionRef): { expr: ExpressionRef; first: number; end: number } {
    const { binaryen } = this;
    const kind = kindOf(binaryen, expr);
    if (kind === 'Loop') return this.loop(expr);
    if (kind === 'Block') return this.block(expr);
    if (kind === 'If') return this.if(expr);
    if (PATH.has(kind)) return this.value(expr);
    return { expr, first: 0, end: 0 };
  }

  private get reentering(): ExpressionRef {
    return this.module.local.get(this.at, this.binaryen.i32);
  }

  private enters(first: number, end: number): ExpressionRef {
    const { module, binaryen } = this;
    return module.i32.lt_u(module.i32.sub(module.local.get(this.at, binaryen.i32), module.i32.const(first)), module.i32.const(end - first));
  }

  /** Statements before the one that holds the loop run only when not re-entering; from it on, all run. */
  private block(block: ExpressionRef): { expr: ExpressionRef; first: number; end: number } {
    const { module, binaryen } = this;
    const guarded = blockChildren(binaryen, block).map((child) => this.guard(child));
    const idle = () => module.i32.eqz(this.reentering);
    if (!steerThrough(binaryen, module, block, guarded, idle, (first, end) => this.enters(first, end)))
      return { expr: block, first: 0, end: 0 };
    untyped(binaryen).Expression.finalize(block);
    const held = guarded.filter((g) => g.end > g.first);
    return { expr: block, first: held[0]!.first, end: held.at(-1)!.end };
  }

  /**
   * A loop: its body guarded for the ways back inside it; a way back itself clears `at` when it
   * is the one re-entered (its number is the first of its range, those inside it follow).
   */
  private loop(loop: ExpressionRef): { expr: ExpressionRef; first: number; end: number } {
    const { module, binaryen } = this;
    const body = accessor(binaryen, 'Loop', 'getBody')(loop);
    const inside = this.guard(body);
    if (inside.expr !== body) accessor<void>(binaryen, 'Loop', 'setBody')(loop, inside.expr);
    if (inside.end > inside.first) untyped(binaryen).Expression.finalize(loop);
    const number = this.numbers.get(loop);
    if (number === undefined) return { expr: loop, first: inside.first, end: inside.end };
    const arrived = module.if(module.i32.eq(this.reentering, module.i32.const(number)), module.local.set(this.at, module.i32.const(0)));
    const entered = module.block(null, [arrived, loop], binaryen.getExpressionType(loop));
    return { expr: entered, first: number, end: inside.end > inside.first ? inside.end : number + 1 };
  }

  /** A local.set or drop of a block that holds the loop: the block is guarded. */
  private value(expr: ExpressionRef): { expr: ExpressionRef; first: number; end: number } {
    const [slot] = childSlots(this.binaryen, expr);
    if (!slot) return { expr, first: 0, end: 0 };
    const child = slot.get();
    const guarded = this.guard(child);
    if (guarded.expr !== child) slot.set(guarded.expr);
    if (guarded.end > guarded.first) untyped(this.binaryen).Expression.finalize(expr);
    return { expr, first: guarded.first, end: guarded.end };
  }

  /** While re-entering, an if takes the arm that holds the loop. */
  private if(expr: ExpressionRef): { expr: ExpressionRef; first: number; end: number } {
    const { module, binaryen } = this;
    const held = steerIf(
      binaryen,
      module,
      expr,
      (child) => this.guard(child),
      () => this.reentering,
      (first, end) => this.enters(first, end),
    );
    if (held.end > held.first) untyped(binaryen).Expression.finalize(expr);
    return { expr, ...held };
  }
}
