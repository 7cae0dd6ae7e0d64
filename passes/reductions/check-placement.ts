// Check placement: decides where reduction checks go so that preemption is guaranteed with few
// checks, and computes the guarantee (the bound). This is policy only; reduction-counter.ts
// injects what is decided here.
//
// The guarantee: between two consecutive checks (or between entering an export and its first
// check, or its last check and returning) at most `bound` instructions execute. Checks go:
//  - at the header of every loop that some branch targets (a loop nobody branches back to runs
//    once and is free), unless the loop is innermost and every path around it already passes a
//    check (a call into a checked function, an after-call check): fib's loop needs none; or it
//    is a counted loop (loop-bounds.ts) whose iterations together stay within the limit: it is
//    charged as straight-line code, all its iterations counted;
//  - at the entry of every function that is part of a call cycle (direct, mutual, through
//    call_indirect/call_ref resolved by signature, or tail calls);
//  - after a call that may return from a function of the caller's own cycle, only when the code
//    that follows the return, up to the next check or the function's end, is long (more than
//    RETURN_STRETCH_LIMIT) or the caller asked for checked returns. Otherwise that "return
//    stretch" is prepaid: the function's entry check charges it too, since every frame that
//    returns was entered through that check. Returning from a recursion of depth D then runs at
//    most `bound + D * returnStretch` instructions without a check: bounded by the engine's
//    stack depth rather than a constant, for half the checks of a call-heavy recursion (fib);
//  - at the entry of a function whose check-free prefix exceeds `limit`, and after calls to a
//    function whose check-free suffix exceeds it, so a deep acyclic call tree stays bounded.
//
// The analysis is an abstract interpretation over the structured control flow of each function,
// callees before callers (the call graph's components in reverse topological order). Its state
// is the most instructions executed since the function was entered with no check yet
// (`fromEntry`), since the last check (`fromCheck`), and since the last prepaid return
// (`fromReturn`); -Infinity means "no such path". While an innermost loop is tried without a
// header check, `fromHeader` counts from its header.
// Each function gets a summary: `open` (entry to return with no check), `pre` (entry to its
// first check) and `post` (last check to return).
//
// Charges: a check charges what arrives on its hot paths unpaid (`unpaid`: a loop's back edges,
// recursive calls, the call it follows), so the budget keeps meaning "about this many
// instructions". What arrives once from elsewhere (the code before a loop, a caller's code before
// calling a function that has checks) is charged by a plain decrement where it leaves, when it is
// worth the instructions (MIN_DECREMENT); charging it at the hot check would make every
// iteration pay for it.
// Where paths of different lengths join (an if's arms, the branches to a block's end or to a
// loop's header, a function's returns, the calls into a recursive function), charging the
// longest at the next check would charge every path for it: an interpreter's dispatch loop paid
// for its longest opcode at every turn, and QuickJS yielded some 60 times more often than its
// budget meant. So a join pays the excess of each much longer arrival (by BALANCE_MIN or more)
// with a decrement where that path comes from, and goes on charging the shortest: a path pays
// about what it runs, for at most one decrement per BALANCE_MIN instructions. Decrements never
// test, so the checks and the bound stay as they were, plus the decrements' own instructions.
// Exceptions (counters only): a `throw` or `rethrow` is a way out, and a try's catches are
// entered from every place in its body that may throw (each call, in the state the callee may
// throw from: its check-free prefix, one of its stretches between checks, or its way out; and
// each throw), joined without a place to pay, since a decrement would go before a catch's `pop`.
import { accessor, type Binaryen, type ExpressionRef, type Module, untyped } from '../ir/binaryen.js';
import { type CallGraph, callTargets, type FunctionNode, isTailCall } from '../ir/call-graph.js';
import type { Pass, PassContext } from '../ir/context.js';
import type { CostModel } from './cost-model.js';
import { type LoopPosition, tripBound } from '../ir/loop-bounds.js';
import { branchTargets, childExpressions, kindOf, Walker } from '../ir/walker.js';

const NONE = -Infinity;
/** Smaller cold stretches are left uncharged rather than paying a decrement for them. */
const MIN_DECREMENT = 32;
/** A join pays the excess of an arrival this much longer than its shortest one where it comes from. */
const BALANCE_MIN = 64;
/** Instructions of one decrement (get, const, add, set, and an `if` around it for a `br_if`): they count toward the bound. */
const DECREMENT_COST = 5;
/**
 * Longest return stretch prepaid at entry instead of checked after the call. With V8's default
 * stack (some 10,000-50,000 small frames) unwinding a recursion stays within a few million
 * instructions, a few milliseconds.
 */
const RETURN_STRETCH_LIMIT = 64;
/** Analyses of a recursive function that sort its calls into prepaid and checked, before all are checked. */
const MAX_PREPAID_ROUNDS = 4;
/** Stretches a state follows at once before the long ones are set aside (each shorter one began within the last RETURN_STRETCH_LIMIT instructions). */
const MAX_ORIGINS = 2 * RETURN_STRETCH_LIMIT;

/**
 * The return stretches still running, by the call each one follows: `fromReturn` split by origin,
 * kept only while a recursive function's calls are sorted into prepaid and checked ones. Few at
 * a time (a stretch ends at the next check), so a short list.
 */
type Origins = readonly (readonly [call: ExpressionRef, stretch: number])[];

interface State {
  fromEntry: number;
  fromCheck: number;
  fromReturn: number;
  fromHeader: number;
  /** Instructions not charged yet: since the last check or decrement, less what joins paid. */
  unpaid: number;
  /** `fromReturn` by call, when tracked (FunctionAnalysis.tracksOrigins). */
  origins?: Origins;
}

const UNREACHABLE: State = { fromEntry: NONE, fromCheck: NONE, fromReturn: NONE, fromHeader: NONE, unpaid: NONE };
const AFTER_CHECK: State = { ...UNREACHABLE, fromCheck: 0, unpaid: 0 };

// join and advance run for nearly every expression: plain literals, no generic field loop.
function join(a: State, b: State): State {
  return {
    fromEntry: Math.max(a.fromEntry, b.fromEntry),
    fromCheck: Math.max(a.fromCheck, b.fromCheck),
    fromReturn: Math.max(a.fromReturn, b.fromReturn),
    fromHeader: Math.max(a.fromHeader, b.fromHeader),
    unpaid: Math.max(a.unpaid, b.unpaid),
    origins: a.origins && b.origins ? joinOrigins(a.origins, b.origins) : (a.origins ?? b.origins),
  };
}

function advance(s: State, cost: number): State {
  return {
    fromEntry: s.fromEntry + cost,
    fromCheck: s.fromCheck + cost,
    fromReturn: s.fromReturn + cost,
    fromHeader: s.fromHeader + cost,
    unpaid: s.unpaid + cost,
    origins: s.origins && cost !== NONE ? s.origins.map(([call, stretch]) => [call, stretch + cost] as const) : undefined,
  };
}

function joinOrigins(a: Origins, b: Origins): Origins {
  const longest = new Map(a);
  for (const [call, stretch] of b) longest.set(call, Math.max(longest.get(call) ?? NONE, stretch));
  return [...longest];
}

/** What a check or a decrement takes for a state. */
function chargeOf(s: State): number {
  return Math.max(s.unpaid, 0);
}

/** Where a join's arrival can pay: right before an expression (a `br`, a `return`, a call) or right after one. */
interface PaySite {
  expr: ExpressionRef;
  after: boolean;
}

/** A path arriving at a join; without a site it cannot pay there (a `br_table`, an if without else). */
interface Arrival {
  state: State;
  site?: PaySite;
}

/** Whether an arrival can pay right after `expr`: its value, if any, waits in a scratch local meanwhile. */
function payableAfter(binaryen: Binaryen, expr: ExpressionRef): boolean {
  const type = binaryen.getExpressionType(expr);
  return type === binaryen.none || type === binaryen.i32 || type === binaryen.i64 || type === binaryen.f32 || type === binaryen.f64;
}

/**
 * Joins arrivals: each one longer than the shortest by BALANCE_MIN or more pays its excess
 * where it comes from. Never below an arrival that cannot pay. Returns the joined state and
 * the payments.
 */
function balance(arrivals: Arrival[]): { state: State; payments: { site: PaySite; amount: number }[] } {
  let shortest = Infinity;
  let unpayable = NONE;
  for (const { state, site } of arrivals) {
    if (state.unpaid !== NONE) shortest = Math.min(shortest, state.unpaid);
    if (!site) unpayable = Math.max(unpayable, state.unpaid);
  }
  const level = Math.max(shortest, unpayable);
  const payments: { site: PaySite; amount: number }[] = [];
  let state = UNREACHABLE;
  for (const { state: arrived, site } of arrivals) {
    const excess = arrived.unpaid - level;
    if (site && excess >= BALANCE_MIN) {
      payments.push({ site, amount: excess });
      state = join(state, { ...advance(arrived, DECREMENT_COST), unpaid: level });
    } else {
      state = join(state, arrived);
    }
  }
  return { state, payments };
}

function reachable(s: State): boolean {
  return s.fromEntry !== NONE || s.fromCheck !== NONE;
}

export interface Summary {
  open: number;
  pre: number;
  post: number;
  /** Most instructions left unpaid on returning (entry, last check or last decrement to return). */
  left: number;
}

export interface FunctionPlan {
  name: string;
  entryCheck: boolean;
  /** Check sites and their charges: loop expressions and call expressions. */
  loopChecks: Map<ExpressionRef, number>;
  afterCallChecks: Map<ExpressionRef, number>;
  /**
   * Decrements (no check) before loops and calls: the cold stretches that lead into a check; and
   * the excess of long paths paid before a `br`, `return` or call where they join shorter ones.
   */
  decrements: Map<ExpressionRef, number>;
  /** The same paid right after an expression: an if's arm, a block's last child. */
  decrementsAfter: Map<ExpressionRef, number>;
  summary: Summary;
  /** Longest check-to-check stretch seen inside this function. */
  bound: number;
  /** Longest stretch after a prepaid return (0: none), charged by the entry check. */
  returnStretch: number;
  /** What this function's calls into its own cycle bring to the entry checks they reach: one record per call. */
  cycleEntryArrivals: CycleCall[];
}

export interface Plan {
  functions: Map<string, FunctionPlan>;
  /** Charges of entry checks, filled from the call sites that reach them. */
  entryCharges: Map<string, number>;
  bound: number;
  /** Most instructions per frame when returning from a recursion, on top of `bound`. */
  returnStretch: number;
  limit: number;
}

/** Names of the labels some branch targets, so loops that never iterate need no check. */
class BranchTargets extends Walker {
  readonly names = new Set<string>();

  protected visit(expr: ExpressionRef, kind: string): void {
    for (const name of branchTargets(this.binaryen, expr, kind)) this.names.add(name);
  }
}

/** Whether an expression contains a loop (only innermost loops are tried without a check). */
function holdsLoop(binaryen: Binaryen, expr: ExpressionRef): boolean {
  const kind = kindOf(binaryen, expr);
  return kind === 'Loop' || childExpressions(binaryen, expr, kind).some((child) => holdsLoop(binaryen, child));
}

/** A call into the caller's own cycle and the state it arrives with at the entry checks of its targets. */
interface CycleCall {
  call: ExpressionRef;
  state: State;
  /** The functions of the cycle it may enter: one list shared by every indirect call of a signature. */
  targets: readonly string[];
}

/** The branches that arrive at a label (a block's end, a loop's header). */
interface Label {
  arrivals: Arrival[];
}

function joined(arrivals: Arrival[]): State {
  return arrivals.reduce((state, a) => join(state, a.state), UNREACHABLE);
}

/** Analyzes one function given the summaries of everything it calls. */
class FunctionAnalysis {
  private readonly labels = new Map<string, Label[]>();
  private readonly targets: Set<string>;
  private summary: Summary = { open: NONE, pre: NONE, post: NONE, left: NONE };
  private bound = 0;
  private returnStretch = 0;
  private readonly loopChecks = new Map<ExpressionRef, number>();
  private readonly afterCallChecks = new Map<ExpressionRef, number>();
  private readonly decrements = new Map<ExpressionRef, number>();
  private readonly decrementsAfter = new Map<ExpressionRef, number>();
  private readonly cycleEntryArrivals: CycleCall[] = [];
  /** The ways out of the function, joined (and paid) when its analysis ends. */
  private readonly exits: Arrival[] = [];
  /** Calls into the function's own cycle, seen so far. */
  readonly recursiveCalls = new Set<ExpressionRef>();
  /** The longest return stretch after each prepaid call into the cycle, when origins are tracked. */
  readonly stretchAfter = new Map<ExpressionRef, number>();
  /** While trying a loop without a check, nothing is recorded. */
  private dryRun = false;
  /** The exceptions each enclosing try's body may throw, innermost last (tryCatch). */
  private readonly catching: Arrival[][] = [];
  /** The block child being analyzed and where it stands (a counted loop's start value). */
  private blockPosition: LoopPosition | undefined;
  private readonly body: ExpressionRef;
  private readonly params: number;

  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    private readonly graph: CallGraph,
    private readonly node: FunctionNode,
    private readonly context: PlanningContext,
    /** Which calls into the function's own cycle get their return prepaid rather than checked. */
    private readonly prepaidReturns: (call: ExpressionRef) => boolean,
    /** Whether to follow each prepaid return's stretch on its own (stretchAfter). */
    private readonly tracksOrigins = false,
  ) {
    this.targets = context.branchTargets(node);
    this.body = untyped(binaryen).Function.getBody(node.ref);
    this.params = binaryen.expandType(binaryen.getFunctionInfo(node.ref).params).length;
  }

  run(entryCheck: boolean): FunctionPlan {
    let state: State = { ...UNREACHABLE, fromEntry: 0, unpaid: 0 };
    if (entryCheck) {
      this.summary.pre = 0;
      state = AFTER_CHECK;
    }
    this.exit(this.expression(this.body, state), this.paySite(this.body, true));
    this.leave();
    return {
      name: this.node.name,
      entryCheck,
      loopChecks: this.loopChecks,
      afterCallChecks: this.afterCallChecks,
      decrements: this.decrements,
      decrementsAfter: this.decrementsAfter,
      summary: this.summary,
      bound: this.bound,
      returnStretch: this.returnStretch,
      cycleEntryArrivals: this.cycleEntryArrivals,
    };
  }

  /** A path reaches a check: it ends a stretch. */
  private arrive(s: State): void {
    if (this.dryRun) return;
    this.summary.pre = Math.max(this.summary.pre, s.fromEntry);
    this.bound = Math.max(this.bound, s.fromCheck);
    this.returnStretch = Math.max(this.returnStretch, s.fromReturn);
    this.endStretches(s);
  }

  private endStretches(s: State): void {
    for (const [call, stretch] of s.origins ?? []) this.stretchAfter.set(call, Math.max(this.stretchAfter.get(call) ?? 0, stretch));
  }

  /**
   * The stretches followed on, bounded: past MAX_ORIGINS, those already over the limit are recorded
   * as long (even while a loop is tried: at worst one check more) and followed no further. A
   * call_indirect that may also reach a function outside the cycle lets the stretches before it
   * run on, and a long run of such calls would otherwise make every state carry them all.
   */
  private stillShort(origins: Origins | undefined): Origins {
    if (!origins) return [];
    if (origins.length <= MAX_ORIGINS) return origins;
    this.endStretches({ ...UNREACHABLE, origins: origins.filter(([, stretch]) => stretch > RETURN_STRETCH_LIMIT) });
    return origins.filter(([, stretch]) => stretch <= RETURN_STRETCH_LIMIT);
  }

  /** A way out of the function; joined with the others when the analysis ends. */
  private exit(s: State, site?: PaySite): void {
    if (!this.dryRun) this.exits.push({ state: s, site });
  }

  /**
   * The function's ways out joined: the longer ones pay their excess before returning. The join
   * is field by field, so it holds the summary (payments' instructions included).
   */
  private leave(): void {
    const out = this.join(this.exits);
    this.summary.open = out.fromEntry;
    this.summary.post = Math.max(out.fromCheck, out.fromReturn);
    this.summary.left = out.unpaid;
    this.returnStretch = Math.max(this.returnStretch, out.fromReturn);
    this.endStretches(out);
  }

  /** Joins arrivals, recording what they pay (not while a loop is tried). */
  private join(arrivals: Arrival[]): State {
    const { state, payments } = balance(arrivals);
    this.record(payments);
    return state;
  }

  private record(payments: { site: PaySite; amount: number }[]): void {
    if (this.dryRun) return;
    for (const { site, amount } of payments) {
      const map = site.after ? this.decrementsAfter : this.decrements;
      map.set(site.expr, Math.max(map.get(site.expr) ?? 0, amount));
    }
  }

  /** Where a path that ends with `expr` can pay: after it only when its value fits a scratch local. */
  private paySite(expr: ExpressionRef | undefined, after: boolean): PaySite | undefined {
    if (!expr) return undefined;
    if (after && !payableAfter(this.binaryen, expr)) return undefined;
    return { expr, after };
  }

  private expression(expr: ExpressionRef, s: State): State {
    const kind = kindOf(this.binaryen, expr);
    switch (kind) {
      case 'Block':
        return this.block(expr, s);
      case 'Loop':
        return this.loop(expr, s);
      case 'If':
        return this.conditional(expr, s);
      case 'Break':
        return this.branch(expr, s);
      case 'Switch':
        return this.switchBranch(expr, s);
      case 'Return':
        this.exit(this.children(expr, s, kind), this.paySite(expr, false));
        return UNREACHABLE;
      case 'Unreachable':
        return UNREACHABLE;
      case 'Call':
      case 'CallIndirect':
      case 'CallRef':
        return this.call(expr, kind, this.children(expr, s, kind));
      case 'Try':
        return this.tryCatch(expr, s);
      case 'Throw':
      case 'Rethrow': {
        const thrown = this.children(expr, s, kind);
        this.throwFrom(thrown);
        this.exit(thrown, this.paySite(expr, false));
        return UNREACHABLE;
      }
      default:
        return this.children(expr, s, kind);
    }
  }

  /**
   * A `try`: its catches are entered from wherever its body may throw (a call, or a throw; the
   * states throwFrom collected), joined there with no place to pay: a decrement at a catch's
   * start would go before its `pop`. A delegating try passes its exceptions on to the enclosing
   * ones, which collected them too.
   */
  private tryCatch(expr: ExpressionRef, s: State): State {
    const b = this.binaryen;
    const body = accessor(b, 'Try', 'getBody')(expr);
    const throwing: Arrival[] = [];
    this.catching.push(throwing);
    let end: State;
    try {
      end = this.expression(body, s);
    } finally {
      this.catching.pop();
    }
    const catches = accessor(b, 'Try', 'getNumCatchBodies')(expr);
    if (!catches) return end;
    const caught = joined(throwing);
    const arrivals: Arrival[] = [{ state: end, site: this.paySite(body, true) }];
    for (let i = 0; i < catches; i++) arrivals.push({ state: this.expression(accessor(b, 'Try', 'getCatchBodyAt')(expr, i), caught) });
    return this.join(arrivals);
  }

  /** A place that may throw, in the state an exception leaves it with: every enclosing try of the function may catch it. */
  private throwFrom(s: State): void {
    if (!reachable(s)) return;
    for (const throwing of this.catching) throwing.push({ state: s });
  }

  /** Evaluates the children in order, then the expression itself. */
  private children(expr: ExpressionRef, s: State, kind: string): State {
    for (const child of childExpressions(this.binaryen, expr, kind)) s = this.expression(child, s);
    return advance(s, this.context.costs.cost(kind));
  }

  private withLabel(name: string | null, label: Label, body: () => State): State {
    if (!name) return body();
    const stack = this.labels.get(name) ?? [];
    stack.push(label);
    this.labels.set(name, stack);
    try {
      return body();
    } finally {
      stack.pop();
    }
  }

  private block(expr: ExpressionRef, s: State): State {
    const name = accessor<string | null>(this.binaryen, 'Block', 'getName')(expr);
    const label: Label = { arrivals: [] };
    let last: ExpressionRef | undefined;
    const end = this.withLabel(name, label, () => {
      let state = s;
      const siblings = childExpressions(this.binaryen, expr, 'Block');
      // One position per block, moved along (a nested block sets its own, so it is set again).
      const position: LoopPosition = { siblings, index: 0, functionStart: expr === this.body, params: this.params };
      siblings.forEach((child, index) => {
        position.index = index;
        this.blockPosition = position;
        state = this.expression(child, state);
      });
      last = siblings.at(-1);
      return state;
    });
    if (!label.arrivals.length) return end;
    return this.join([...label.arrivals, { state: end, site: this.paySite(last, true) }]);
  }

  private loop(expr: ExpressionRef, s: State): State {
    const name = accessor<string | null>(this.binaryen, 'Loop', 'getName')(expr);
    const body = accessor(this.binaryen, 'Loop', 'getBody')(expr);
    if (!name || !this.targets.has(name)) return this.expression(body, s);
    // Read before the body is analyzed, which moves the block position on.
    const here = this.blockPosition;
    const position: LoopPosition =
      here && here.siblings[here.index] === expr ? { ...here } : { siblings: [], index: 0, functionStart: false, params: 0 };
    const edges = this.backEdges(name, body, s);
    const header = edges && (edges.fromHeader === NONE ? join(s, edges) : this.countedLoopHeader(expr, position, edges, s));
    if (header) return this.withLabel(name, { arrivals: [] }, () => this.expression(body, header));
    if (reachable(s) && !this.dryRun) {
      this.arrive(s);
      this.chargeBefore(expr, chargeOf(s));
    }
    const label: Label = { arrivals: [] };
    const after = this.withLabel(name, label, () => this.expression(body, AFTER_CHECK));
    this.chargeLoop(expr, this.join(label.arrivals));
    return after;
  }

  /** Charges a cold stretch with a decrement before `expr`. */
  private chargeBefore(expr: ExpressionRef, amount: number): void {
    if (amount >= MIN_DECREMENT) this.decrements.set(expr, Math.max(this.decrements.get(expr) ?? 0, amount));
  }

  /**
   * For an innermost loop, what arrives at its header from inside (one iteration from `s`, not
   * recorded): `fromHeader` is its longest check-free iteration, NONE when every cycle already
   * passes a check. Undefined for a loop that holds loops.
   */
  private backEdges(name: string, body: ExpressionRef, s: State): State | undefined {
    if (this.context.holdsLoop(body)) return undefined;
    const dryRun = this.dryRun;
    this.dryRun = true;
    try {
      const label: Label = { arrivals: [] };
      this.withLabel(name, label, () => this.expression(body, { ...s, fromHeader: 0 }));
      return joined(label.arrivals);
    } finally {
      this.dryRun = dryRun;
    }
  }

  /**
   * For a counted loop whose iterations together fit in the limit, the state at its header on
   * the last of the most times it can be reached: after all iterations but one, each adding at
   * most the longest one (the body then adds the last). Undefined when the loop needs a header
   * check.
   */
  private countedLoopHeader(loop: ExpressionRef, position: LoopPosition, edges: State, s: State): State | undefined {
    const trips = tripBound(this.binaryen, this.module, loop, position);
    const iteration = edges.fromHeader;
    if (trips === undefined || trips * iteration > this.context.limit) return undefined;
    return { ...advance(s, (trips - 1) * iteration), fromHeader: s.fromHeader };
  }

  private chargeLoop(loop: ExpressionRef, s: State): void {
    if (!reachable(s) || this.dryRun) return;
    this.arrive(s);
    this.loopChecks.set(loop, Math.max(this.loopChecks.get(loop) ?? 0, chargeOf(s)));
  }

  private conditional(expr: ExpressionRef, s: State): State {
    const b = this.binaryen;
    const afterCondition = advance(this.expression(accessor(b, 'If', 'getCondition')(expr), s), this.context.costs.cost('If'));
    const ifTrueExpr = accessor(b, 'If', 'getIfTrue')(expr);
    const ifTrue = this.expression(ifTrueExpr, afterCondition);
    const ifFalseExpr = accessor(b, 'If', 'getIfFalse')(expr);
    const ifFalse = ifFalseExpr ? this.expression(ifFalseExpr, afterCondition) : afterCondition;
    return this.join([
      { state: ifTrue, site: this.paySite(ifTrueExpr, true) },
      { state: ifFalse, site: this.paySite(ifFalseExpr, true) },
    ]);
  }

  private sendTo(name: string, s: State, site?: PaySite): void {
    this.labels.get(name)?.at(-1)?.arrivals.push({ state: s, site });
  }

  private branch(expr: ExpressionRef, s: State): State {
    const after = this.children(expr, s, 'Break');
    const name = accessor<string>(this.binaryen, 'Break', 'getName')(expr);
    const conditional = accessor(this.binaryen, 'Break', 'getCondition')(expr);
    // A branch pays right before it, a `br_if` only when taken (reduction-counter.ts).
    const site = this.paySite(expr, false);
    if (!this.labels.get(name)?.length) this.exit(after, site);
    this.sendTo(name, after, site);
    return conditional ? after : UNREACHABLE;
  }

  private switchBranch(expr: ExpressionRef, s: State): State {
    const after = this.children(expr, s, 'Switch');
    for (const name of branchTargets(this.binaryen, expr, 'Switch')) {
      if (!this.labels.get(name)?.length) this.exit(after);
      this.sendTo(name, after);
    }
    return UNREACHABLE;
  }

  private call(expr: ExpressionRef, kind: string, s: State): State {
    const targets = callTargets(this.binaryen, this.graph, expr, kind) ?? [];
    const prepaid = this.prepaidReturns(expr);
    const callee = this.context.summarize(targets, this.node, prepaid);
    if (callee.recursiveTargets.length) this.recursiveCalls.add(expr);
    // What the caller brings to a callee with checks is paid: before the call when the checks
    // are elsewhere (or forgiven when short), by the entry check of a function of its own cycle.
    const brought = callee.reachesOtherChecks ? 0 : chargeOf(s);
    const carried = callee.summary.pre === NONE || s.unpaid === NONE ? s.unpaid : 0;
    if (callee.summary.pre !== NONE && !this.dryRun) {
      const arrival = advance(s, callee.summary.pre);
      this.arrive(arrival);
      // Its own entry check is first: other targets' prefixes are charged by their own checks.
      // Without origins: the entry's charge reads none, and joining them costs (chargeCycleEntries).
      if (callee.recursiveTargets.length)
        this.cycleEntryArrivals.push({
          call: expr,
          state: { ...arrival, unpaid: brought, origins: undefined },
          targets: callee.recursiveTargets,
        });
      if (callee.reachesOtherChecks) this.chargeBefore(expr, chargeOf(s));
    }
    const passed = advance(s, callee.summary.open);
    const returns = callee.recursiveTargets.length > 0 && prepaid;
    const after: State = {
      ...passed,
      fromCheck: Math.max(passed.fromCheck, callee.summary.post),
      // The callee's `return` itself runs on the way back: the first unit of the return stretch.
      fromReturn: returns ? Math.max(1, passed.fromReturn) : passed.fromReturn,
      origins: returns && this.tracksOrigins ? [...this.stillShort(passed.origins), [expr, 1]] : passed.origins,
      // The callee starts counting afresh; what it leaves unpaid adds to what the caller has not paid.
      unpaid: carried + callee.summary.left,
    };
    // Thrown from inside a callee: at most its check-free prefix after what came here, or one of
    // its stretches between checks (within the longest planned so far), or its way out.
    if (this.catching.length)
      this.throwFrom(
        join(advance(s, Math.max(callee.summary.pre, callee.summary.open)), {
          ...after,
          fromCheck: Math.max(after.fromCheck, this.context.longestStretch),
        }),
      );
    if (isTailCall(this.binaryen, expr, kind)) {
      this.exit(after);
      return UNREACHABLE;
    }
    if (!callee.needsCheckAfter || !reachable(after)) return after;
    if (!this.dryRun) {
      this.arrive(after);
      this.afterCallChecks.set(expr, chargeOf(after));
    }
    return AFTER_CHECK;
  }
}

interface CalleeSummary {
  summary: Summary;
  /** Targets in the caller's own cycle: their entry check is on the hot path and charges this call. */
  recursiveTargets: readonly string[];
  /** Some target outside the cycle reaches a check: the caller's stretch is charged before the call. */
  reachesOtherChecks: boolean;
  /** The return must be checked: a long suffix, or a return from the caller's cycle not prepaid. */
  needsCheckAfter: boolean;
}

/** The targets of a call: those in the caller's own cycle, and what the others bring. */
interface TargetSplit {
  outside: Summary;
  /** Some target outside the cycle reaches a check. */
  reachesOtherChecks: boolean;
  /** Some target outside the cycle ends with a stretch longer than the limit. */
  longSuffix: boolean;
  cycle: string[];
}

const NO_SUMMARY: Summary = { open: NONE, pre: NONE, post: NONE, left: NONE };

function mergeSummaries(a: Summary, b: Summary): Summary {
  return { open: Math.max(a.open, b.open), pre: Math.max(a.pre, b.pre), post: Math.max(a.post, b.post), left: Math.max(a.left, b.left) };
}

/** What the analyses of all functions share: summaries so far and the options. */
class PlanningContext {
  readonly plans = new Map<string, FunctionPlan>();
  /** The longest check-to-check stretch of the plans made so far: what a callee may run between its checks before it throws. */
  longestStretch = 0;
  /** Current estimates of `post` and `left` for members of the component being analyzed. */
  readonly estimates = new Map<string, { post: number; left: number }>();
  /**
   * What the analyses of a function read again each time they run (a recursive function's
   * several tries, a component's rounds), read once: the code does not change while checks are
   * placed.
   */
  private readonly targetsByFunction = new Map<string, Set<string>>();
  private readonly loopHolders = new Map<ExpressionRef, boolean>();
  /** Splits of the shared target lists, by list and the caller's component. */
  private readonly splits = new Map<readonly string[], Map<number, TargetSplit>>();

  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    readonly graph: CallGraph,
    readonly costs: CostModel,
    readonly limit: number,
    readonly checkReturns: boolean,
  ) {}

  /** The labels some branch of the function targets. */
  branchTargets(node: FunctionNode): Set<string> {
    let names = this.targetsByFunction.get(node.name);
    if (!names) {
      const finder = new BranchTargets(this.binaryen, this.module);
      finder.walkFunction(node.ref);
      names = finder.names;
      this.targetsByFunction.set(node.name, names);
    }
    return names;
  }

  /** Whether a loop body holds a loop. */
  holdsLoop(body: ExpressionRef): boolean {
    let holds = this.loopHolders.get(body);
    if (holds === undefined) {
      holds = holdsLoop(this.binaryen, body);
      this.loopHolders.set(body, holds);
    }
    return holds;
  }

  /**
   * The targets of a call split into the caller's cycle and the rest, with what the rest bring.
   * Kept for the lists shared by every indirect call of a signature (thousands of names in a
   * large C++ program): the plans outside the caller's cycle are final by then.
   */
  private split(targets: readonly string[], caller: FunctionNode): TargetSplit {
    if (targets.length < 2) return this.splitTargets(targets, caller);
    let byCycle = this.splits.get(targets);
    if (!byCycle) this.splits.set(targets, (byCycle = new Map()));
    let split = byCycle.get(caller.scc);
    if (!split) byCycle.set(caller.scc, (split = this.splitTargets(targets, caller)));
    return split;
  }

  private splitTargets(targets: readonly string[], caller: FunctionNode): TargetSplit {
    const split: TargetSplit = { outside: NO_SUMMARY, reachesOtherChecks: false, longSuffix: false, cycle: [] };
    for (const name of targets) {
      const node = this.graph.nodes.get(name);
      if (!node) continue;
      if (node.importName !== undefined) {
        split.outside = mergeSummaries(split.outside, { open: 1, pre: NONE, post: NONE, left: 1 });
      } else if (node.scc === caller.scc) {
        split.cycle.push(name);
      } else {
        const plan = this.plans.get(name)!;
        split.outside = mergeSummaries(split.outside, plan.summary);
        if (plan.summary.pre !== NONE) split.reachesOtherChecks = true;
        if (plan.summary.post > this.limit) split.longSuffix = true;
      }
    }
    return split;
  }

  /** With `prepaidReturns`, returns from the caller's own cycle are left to the caller's return stretch. */
  summarize(targets: readonly string[], caller: FunctionNode, prepaidReturns: boolean): CalleeSummary {
    const { outside, reachesOtherChecks, longSuffix, cycle } = this.split(targets, caller);
    if (!cycle.length) return { summary: outside, recursiveTargets: cycle, reachesOtherChecks, needsCheckAfter: longSuffix };
    let post = NONE;
    let left = NONE;
    if (!prepaidReturns)
      for (const name of cycle) {
        const estimate = this.estimates.get(name);
        post = Math.max(post, estimate?.post ?? 0);
        left = Math.max(left, estimate?.left ?? 0);
      }
    return {
      summary: mergeSummaries(outside, { open: NONE, pre: 0, post, left }),
      recursiveTargets: cycle,
      reachesOtherChecks,
      needsCheckAfter: longSuffix || !prepaidReturns,
    };
  }
}

export interface PlacementOptions {
  costs: CostModel;
  /** Longest check-free stretch tolerated before adding entry/after-call checks. */
  limit: number;
  /** Functions the host can call: their prefixes and suffixes count toward the bound. */
  entryPoints: string[];
  /** Check after every return from a recursive call, for a bound independent of stack depth. */
  checkReturns: boolean;
}

/** Where the checks go and the bound they give: the plan the reduction counter carries out. */
export const checkPlacement: Pass<Omit<PlacementOptions, 'entryPoints'>, Plan> = {
  name: 'check-placement',
  run: (context, options) => placeChecks(context, context.callGraph(), { ...options, entryPoints: context.entryPoints() }),
};

function placeChecks({ binaryen, module, progress }: PassContext, graph: CallGraph, options: PlacementOptions): Plan {
  const context = new PlanningContext(binaryen, module, graph, options.costs, options.limit, options.checkReturns);
  const defined = [...graph.nodes.values()].filter((n) => n.importName === undefined).length;
  progress.phase('placing checks', defined);
  for (const component of graph.components) {
    const members = component.map((name) => graph.nodes.get(name)!).filter((n) => n.importName === undefined);
    if (members.length) planComponent(binaryen, module, context, members);
    progress.step(members.length);
  }
  const entryCharges = chargeCycleEntries(context.plans);
  let bound = 0;
  let returnStretch = 0;
  for (const plan of context.plans.values()) {
    bound = Math.max(bound, plan.bound);
    returnStretch = Math.max(returnStretch, plan.returnStretch);
  }
  for (const plan of context.plans.values()) {
    // Prepaid: every frame that will run this stretch was entered through the entry check.
    if (plan.returnStretch > 0) entryCharges.set(plan.name, (entryCharges.get(plan.name) ?? 0) + plan.returnStretch);
  }
  for (const name of options.entryPoints) {
    const summary = context.plans.get(name)?.summary;
    if (summary) bound = Math.max(bound, summary.open, summary.pre, summary.post);
  }
  return { functions: context.plans, entryCharges, bound, returnStretch, limit: options.limit };
}

/**
 * The charge of each recursive function's entry check: what the calls from its own cycle bring
 * unpaid, balanced like any join: a call that brings much more than the least pays the excess
 * right before it (its instructions added to the caller's stretches). Only the plans kept
 * count: the analyses tried and dropped on the way charged nothing.
 */
function chargeCycleEntries(plans: Map<string, FunctionPlan>): Map<string, number> {
  const charges = new Map<string, number>();
  for (const { callees, calls } of arrivalGroups(plans)) {
    const bySite = new Map(calls.map((call): [PaySite, PlannedCall] => [{ expr: call.call.call, after: false }, call]));
    const { state, payments } = balance([...bySite].map(([site, { call }]) => ({ state: call.state, site })));
    for (const { site, amount } of payments) {
      const { plan, call } = bySite.get(site)!;
      plan.decrements.set(site.expr, Math.max(plan.decrements.get(site.expr) ?? 0, amount));
      plan.bound = Math.max(plan.bound, call.state.fromCheck + DECREMENT_COST);
      plan.returnStretch = Math.max(plan.returnStretch, call.state.fromReturn + DECREMENT_COST);
    }
    for (const callee of callees) charges.set(callee, chargeOf(state));
  }
  return charges;
}

/** A call into a cycle and the plan it belongs to. */
interface PlannedCall {
  plan: FunctionPlan;
  call: CycleCall;
}

/**
 * The functions entered from their own cycle, grouped by the calls that arrive at them: those
 * named by the same target lists share their arrivals, so they are balanced once. In a large
 * C++ program thousands of virtual functions are reached only through the indirect calls of
 * their signature; one record per call and target was millions of records.
 */
function arrivalGroups(plans: Map<string, FunctionPlan>): { callees: string[]; calls: PlannedCall[] }[] {
  const callsByList = new Map<readonly string[], PlannedCall[]>();
  for (const plan of plans.values())
    for (const call of plan.cycleEntryArrivals) {
      let calls = callsByList.get(call.targets);
      if (!calls) callsByList.set(call.targets, (calls = []));
      calls.push({ plan, call });
    }
  const listsOf = new Map<string, number[]>();
  const lists = [...callsByList.values()];
  [...callsByList.keys()].forEach((targets, index) => {
    for (const name of targets) {
      let named = listsOf.get(name);
      if (!named) listsOf.set(name, (named = []));
      named.push(index);
    }
  });
  const groups = new Map<string, { callees: string[]; calls: PlannedCall[] }>();
  for (const [callee, indexes] of listsOf) {
    const key = indexes.join(',');
    const group = groups.get(key);
    if (group) group.callees.push(callee);
    else groups.set(key, { callees: [callee], calls: indexes.flatMap((index) => lists[index]!) });
  }
  return [...groups.values()];
}

/**
 * Analyzes the functions of one component until their `post` and `left` estimates settle. A
 * function is analyzed again only when the estimate of one of its callees changed since its last
 * analysis: nothing else it reads changes (plans outside the component are final), so the plans
 * are those of analyzing every member each round, at a fraction of the work in a large
 * component (28,730 of yosys's 34,000 functions are one, through its indirect calls).
 */
function planComponent(binaryen: Binaryen, module: Module, context: PlanningContext, members: FunctionNode[]): void {
  let clock = 0;
  const changedAt = new Map<string, number>();
  const analyzedAt = new Map<string, number>();
  const calleeChangedSince = (node: FunctionNode, time: number): boolean => {
    for (const callee of node.callees) if ((changedAt.get(callee) ?? -1) > time) return true;
    return false;
  };
  for (let round = 0; round <= members.length; round++) {
    let changed = false;
    for (const node of members) {
      const last = analyzedAt.get(node.name);
      if (last !== undefined && !calleeChangedSince(node, last)) continue;
      analyzedAt.set(node.name, clock);
      const plan = planFunction(binaryen, module, context, node);
      context.plans.set(node.name, plan);
      context.longestStretch = Math.max(context.longestStretch, plan.bound);
      const { post, left } = plan.summary;
      const estimate = context.estimates.get(node.name);
      if (estimate?.post !== post || estimate.left !== left) {
        context.estimates.set(node.name, { post, left });
        changedAt.set(node.name, ++clock);
        changed = true;
      }
    }
    if (!changed) return;
  }
}

/** A new analysis of one function, given which returns from its own cycle are prepaid. */
type AnalysisOf = (prepaidReturns: (call: ExpressionRef) => boolean, tracksOrigins?: boolean) => FunctionAnalysis;

function planFunction(binaryen: Binaryen, module: Module, context: PlanningContext, node: FunctionNode): FunctionPlan {
  const analysis: AnalysisOf = (prepaidReturns, tracksOrigins) =>
    new FunctionAnalysis(binaryen, module, context.graph, node, context, prepaidReturns, tracksOrigins);
  if (node.recursive) return context.checkReturns ? analysis(() => false).run(true) : planRecursive(analysis);
  const plan = analysis(() => false).run(false);
  return plan.summary.pre > context.limit || plan.summary.open > context.limit ? analysis(() => false).run(true) : plan;
}

/**
 * A recursive function: every return from its own cycle prepaid when all the stretches after
 * them are short; otherwise only the calls followed by a long stretch are checked after. An
 * analysis follows each call's stretch on its own (a stretch ends at the next check, so they
 * hardly depend on one another) and the calls found long are checked in the next one. Not quite
 * independent: a check after a call can leave a loop without its header check, through which a
 * stretch then runs on; so again, a few times, then every call is checked. release() in a
 * binary-tree walk keeps its first call prepaid and checks the second, after which free() runs;
 * QuickJS's interpreter keeps most of its several hundred calls prepaid.
 */
function planRecursive(analysis: AnalysisOf): FunctionPlan {
  let tried = analysis(() => true, true);
  let prepaid: Set<ExpressionRef> | undefined;
  for (let round = 0; round < MAX_PREPAID_ROUNDS; round++) {
    const plan = tried.run(true);
    if (plan.returnStretch <= RETURN_STRETCH_LIMIT) return plan;
    prepaid ??= new Set(tried.recursiveCalls);
    const before = prepaid.size;
    for (const [call, stretch] of tried.stretchAfter) if (stretch > RETURN_STRETCH_LIMIT) prepaid.delete(call);
    if (prepaid.size === before) break;
    const kept = prepaid;
    tried = analysis((call) => kept.has(call), true);
  }
  return analysis(() => false).run(true);
}
