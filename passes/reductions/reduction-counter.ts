// Reduction counter injection: puts the checks decided by check-placement.ts into the code.
//
// A check is `lunatic_reductions -= charge; if (lunatic_reductions < 0) lunatic.yield()`.
// The counter is an exported mutable global the host refills (docs/ABI.md); `yield` is the
// import through which the host can preempt. Entry checks go first in the function body,
// after-call checks right after the call (its result kept in a scratch local). Decrements (the
// same subtraction, no test) go right before their loop, call or `return`, on the taken side of
// a branch, or right after an `if` arm or a block's last child (check-placement.ts says which).
//
// Loop checks call `yield` outside the loop: the check at the top of the body branches out,
// `yield` is called, the charge is credited back and the loop is entered again from the top,
// which is where the check was. Same behaviour, but the loop itself holds no call that can
// suspend, so Asyncify leaves its body alone (it would otherwise guard every statement of every
// iteration with a test of its state) and only the rarely taken way around it is instrumented:
//
//   (block $done                         ;; omitted when the loop never falls through
//     (loop $again
//       (block $yield (br $done (loop $l (counter -= c) (br_if $yield (counter < 0)) body)))
//       (counter = lunatic_check_yield(counter, c)) (br $again)))
//
// Checks on a local copy yield through one small function, `lunatic_check_yield(counter, credit)`:
// it stores the counter, calls `lunatic.yield`, and returns `max(counter, 0) + credit`, the credit
// being what entering the loop again charges. Checks on the global itself (function entries,
// after calls outside loops: most of the checks of a large program) call `lunatic_yield_global()`,
// which takes and returns nothing: it yields and then floors the global at 0. Keeping that out of
// line keeps each check small (engines compile every check site, hot or not), and the loop makes
// progress even when the host does not refill the counter (a start function's `yield`, a host
// that only counts): the next check simply yields again.
//
// Inside a checked loop the counter is kept in a local (counter-regions.ts): read from the global
// when the outermost checked loop is entered (or on entry, in a function with an entry check and
// loop checks), written back before every call in it that can reach the counter (a check, a
// decrement, an import: the callee or the host then sees the current value) and read again
// after it, and written back on every way out of the loop (its end, branches to outer labels,
// returns). A hot loop then counts in a register instead of
// loading and storing the global on every iteration, and code outside loops pays nothing.
// A function that throws or catches has no region (a throw would skip the write-back, a catch
// would go on with a stale copy), and a function that throws counts as one that reaches the
// counter, so a region writes its copy back before calling it.
import {
  accessor,
  addLocal,
  type Binaryen,
  type ExpressionRef,
  type FunctionRef,
  type Module,
  scratchLocals,
  untyped,
} from '../ir/binaryen.js';
import { type CallGraph, callersOf, callTargets, isTailCall } from '../ir/call-graph.js';
import type { Pass, PassContext } from '../ir/context.js';
import type { FunctionPlan, Plan } from './check-placement.js';
import { type CounterRegion, counterRegions } from './counter-regions.js';
import { branchTargets, CALL_KINDS, childSlots, type Slot, Walker } from '../ir/walker.js';
import { definedFunctions } from '../ir/module.js';
import { freshFunctionName } from '../ir/names.js';

export const REDUCTIONS_GLOBAL = 'lunatic_reductions';
export const YIELD_MODULE = 'lunatic';
export const YIELD_BASE = 'yield';

export interface CheckCounts {
  loops: number;
  entries: number;
  afterCalls: number;
  /** Decrements without a check, charging cold stretches (not counted as checks). */
  decrements: number;
  /** Regions that keep the counter in a local (outermost checked loops, or whole bodies). */
  cachedCounters: number;
}

const MAX_CHARGE = 0x3fffffff;

function amount(charge: number): number {
  return Math.min(MAX_CHARGE, Math.max(1, Math.ceil(charge)));
}

/** Where code reads and writes the counter: the global itself, or a local copy of it. */
class Counter {
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    /** The local holding the copy, or undefined to use the global directly. */
    private readonly local: number | undefined,
  ) {}

  get(): ExpressionRef {
    const { module, binaryen } = this;
    return this.local === undefined ? module.global.get(REDUCTIONS_GLOBAL, binaryen.i32) : module.local.get(this.local, binaryen.i32);
  }

  set(value: ExpressionRef): ExpressionRef {
    return this.local === undefined ? this.module.global.set(REDUCTIONS_GLOBAL, value) : this.module.local.set(this.local, value);
  }

  /** Sets the copy and yields the value (`local.tee`); undefined for the global, which has no tee. */
  tee(value: ExpressionRef): ExpressionRef | undefined {
    return this.local === undefined ? undefined : this.module.local.tee(this.local, value, this.binaryen.i32);
  }

  /** Whether there is a local copy to keep in step with the global. */
  get cached(): boolean {
    return this.local !== undefined;
  }

  /** Writes the copy back to the global (nothing when there is no copy). */
  store(): ExpressionRef[] {
    return this.local === undefined ? [] : [this.module.global.set(REDUCTIONS_GLOBAL, this.get())];
  }

  /** Refreshes the copy from the global (nothing when there is no copy). */
  load(): ExpressionRef[] {
    return this.local === undefined ? [] : [this.set(this.module.global.get(REDUCTIONS_GLOBAL, this.binaryen.i32))];
  }
}

/** Builds checks on a given counter (the global, or a region's local copy). */
class CheckBuilder {
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    /** The module's `lunatic_check_yield`. */
    private readonly yieldHelper: string,
    /** The module's `lunatic_yield_global`, for checks on the global itself. */
    private readonly globalYieldHelper: string,
  ) {}

  private labels = 0;

  decrement(counter: Counter, charge: number): ExpressionRef {
    return counter.set(this.charged(counter, charge));
  }

  /**
   * A check. `from` is what the charge is taken from when not the counter itself: after a call
   * in a region, the global read back into the copy, so the reload and the check are one step.
   */
  check(counter: Counter, charge: number, from?: ExpressionRef): ExpressionRef {
    const { statements, spent } = this.decrementAndTest(counter, charge, from);
    // On the global, a helper without operands or result: the smallest check, for the many of them.
    const yieldNow = counter.cached ? this.yieldThenCredit(counter, 0) : this.module.call(this.globalYieldHelper, [], this.binaryen.none);
    return this.module.block(null, [...statements, this.module.if(spent, yieldNow)], this.binaryen.none);
  }

  /** `loop` (whose body has no check yet) with a check at its top that yields outside it. */
  checkedLoop(counter: Counter, loop: ExpressionRef, charge: number): ExpressionRef {
    const { module, binaryen } = this;
    const id = this.labels++;
    const [done, again, yieldLabel] = ['done', 'again', 'yield'].map((role) => `lunatic_check$${role}$${id}`) as [string, string, string];
    const loopClass = untyped(binaryen).Loop as { getBody(e: number): number; setBody(e: number, b: number): void };
    const body = loopClass.getBody(loop);
    const { statements, spent } = this.decrementAndTest(counter, charge);
    loopClass.setBody(loop, module.block(null, [...statements, module.br(yieldLabel, spent), body], binaryen.getExpressionType(body)));
    const type = binaryen.getExpressionType(loop);
    const exited =
      type === binaryen.unreachable
        ? loop
        : type === binaryen.none
          ? module.block(null, [loop, module.br(done)], binaryen.none)
          : module.br(done, undefined, loop);
    const retry = module.loop(
      again,
      module.block(
        null,
        [module.block(yieldLabel, [exited], binaryen.none), this.yieldThenCredit(counter, amount(charge)), module.br(again)],
        binaryen.none,
      ),
    );
    return type === binaryen.unreachable ? retry : module.block(done, [retry], type);
  }

  private charged(counter: Counter, charge: number, from = counter.get()): ExpressionRef {
    return this.module.i32.add(from, this.module.i32.const(-amount(charge)));
  }

  /** The decrement and the test of what is left: one `local.tee` on a copy, a set then a get on the global. */
  private decrementAndTest(counter: Counter, charge: number, from?: ExpressionRef): { statements: ExpressionRef[]; spent: ExpressionRef } {
    const charged = this.charged(counter, charge, from);
    const tee = counter.tee(charged);
    const [statements, left] = tee ? [[], tee] : [[counter.set(charged)], counter.get()];
    return { statements, spent: this.module.i32.lt_s(left, this.module.i32.const(0)) };
  }

  private yieldThenCredit(counter: Counter, credit: number): ExpressionRef {
    const { module, binaryen } = this;
    return counter.set(module.call(this.yieldHelper, [counter.get(), module.i32.const(credit)], binaryen.i32));
  }
}

class CheckInjector extends Walker {
  private readonly global: Counter;
  /** The local copy used inside every region of this function (regions never nest). */
  private readonly copy: Counter | undefined;
  /** The body before any change: the root of the region that spans the whole function, if any. */
  private readonly body: ExpressionRef;
  /** The local per value type that holds a call's result while the counter code after it runs. */
  private readonly scratch: (type: number) => number;

  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly func: FunctionRef,
    private readonly plan: FunctionPlan,
    private readonly checks: CheckBuilder,
    private readonly graph: CallGraph,
    /** Functions (and imports) that read or write the counter, directly or through callees. */
    private readonly counting: Set<string>,
    private readonly regions: Map<ExpressionRef, CounterRegion>,
  ) {
    super(binaryen, module);
    this.global = new Counter(binaryen, module, undefined);
    this.copy = regions.size ? new Counter(binaryen, module, addLocal(binaryen, func, binaryen.i32)) : undefined;
    this.body = untyped(binaryen).Function.getBody(func);
    this.scratch = scratchLocals(binaryen, func);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    const region = this.regions.get(expr);
    const counter = region ? this.copy! : this.global;
    if (kind === 'Loop') this.checkLoop(expr, counter);
    else if (CALL_KINDS.has(kind)) this.surroundCall(expr, kind, counter);
    else if (region && kind === 'Return') this.storeBeforeReturn(expr, counter);
    else if (kind === 'Break' || kind === 'Switch') this.prepareBranch(expr, kind, region, counter);
    const after = this.plan.decrementsAfter.get(expr);
    if (after !== undefined) this.decrementAfter(after, counter);
    // After the check, so a call's decrement goes before the whole call-and-check (a branch's is
    // on its taken side, prepareBranch).
    const decrement = this.plan.decrements.get(expr);
    if (decrement !== undefined && kind !== 'Break') this.decrementBefore(decrement, counter);
    if (region?.root === expr && expr !== this.body) this.enterRegion(counter);
  }

  /**
   * The function's prologue: the copy read when the whole body is a region, then the entry check
   * (on the copy in that case); the copy is written back when the body ends.
   */
  finish(entryCharge: number | undefined): void {
    const { binaryen, module } = this;
    const wholeBody = this.regions.get(this.body)?.root === this.body;
    const counter = wholeBody ? this.copy! : this.global;
    const prologue = [
      ...(wholeBody ? counter.load() : []),
      ...(entryCharge === undefined ? [] : [this.checks.check(counter, entryCharge)]),
    ];
    if (!prologue.length) return;
    const fn = untyped(binaryen).Function;
    const body = fn.getBody(this.func);
    fn.setBody(this.func, module.block(null, [...prologue, this.withAfter(body, counter.store())], binaryen.getExpressionType(body)));
  }

  /**
   * `expr` followed by `after`, keeping the value of `expr` in the function's scratch local of its
   * type. One per type is enough: it is set and read back with only `after` (counter code, which
   * keeps no value) in between, and an inner use within `expr` is read before `expr` sets it.
   * A fresh local per call site cost much more than the check itself: engines' baseline
   * compilers (V8's Liftoff) zero every local on each call and handle every local at every
   * control-flow merge, so a large function with hundreds of calls compiled and ran several
   * times slower (SQLite's parser: 45 locals became 423).
   */
  private withAfter(expr: ExpressionRef, after: ExpressionRef[]): ExpressionRef {
    const { binaryen, module } = this;
    const type = binaryen.getExpressionType(expr);
    if (!after.length || type === binaryen.unreachable) return expr;
    if (type === binaryen.none) return module.block(null, [expr, ...after], binaryen.none);
    const local = this.scratch(type);
    return module.block(null, [module.local.set(local, expr), ...after, module.local.get(local, type)], type);
  }

  /** The region root, now checked: the copy read before it and written back when it falls through. */
  private enterRegion(counter: Counter): void {
    const current = this.currentExpression();
    const entered = this.module.block(null, [...counter.load(), current], this.binaryen.getExpressionType(current));
    this.replaceCurrent(this.withAfter(entered, counter.store()));
  }

  private decrementBefore(charge: number, counter: Counter): void {
    const current = this.currentExpression();
    this.replaceCurrent(
      this.module.block(null, [this.checks.decrement(counter, charge), current], this.binaryen.getExpressionType(current)),
    );
  }

  private decrementAfter(charge: number, counter: Counter): void {
    this.replaceCurrent(this.withAfter(this.currentExpression(), [this.checks.decrement(counter, charge)]));
  }

  private checkLoop(loop: ExpressionRef, counter: Counter): void {
    const charge = this.plan.loopChecks.get(loop);
    if (charge !== undefined) this.replaceCurrent(this.checks.checkedLoop(counter, loop, charge));
  }

  /** Stores the counter before a call that can reach it and reloads it after; then the after-call check, if any. */
  private surroundCall(call: ExpressionRef, kind: string, counter: Counter): void {
    const charge = this.plan.afterCallChecks.get(call);
    const counts = counter.cached && this.callReachesCounter(call, kind);
    const reload = counts ? counter.load() : [];
    const after =
      charge === undefined
        ? reload
        : counts
          ? [this.checks.check(counter, charge, this.global.get())] // the reload taken into the check
          : [this.checks.check(counter, charge)];
    const store = counts ? counter.store() : [];
    const surrounded = this.withAfter(call, after);
    if (surrounded !== call || store.length)
      this.replaceCurrent(this.module.block(null, [...store, surrounded], this.binaryen.getExpressionType(surrounded)));
  }

  /** Whether the callee may read or write the counter; a tail call leaves the function, so it counts too. */
  private callReachesCounter(call: ExpressionRef, kind: string): boolean {
    const targets = callTargets(this.binaryen, this.graph, call, kind);
    return !targets || targets.some((name) => this.counting.has(name)) || isTailCall(this.binaryen, call, kind);
  }

  private storeBeforeReturn(ret: ExpressionRef, counter: Counter): void {
    const { binaryen, module } = this;
    const value = accessor(binaryen, 'Return', 'getValue')(ret);
    if (value) accessor(binaryen, 'Return', 'setValue')(ret, this.withAfter(value, counter.store()));
    else this.replaceCurrent(module.block(null, [...counter.store(), ret], binaryen.unreachable));
  }

  /**
   * What a branch does when taken: pays what its path brings more than the others joining it
   * (a decrement), and writes the copy back when it leaves the region.
   */
  private prepareBranch(branch: ExpressionRef, kind: string, region: CounterRegion | undefined, counter: Counter): void {
    const paid = kind === 'Break' ? this.plan.decrements.get(branch) : undefined;
    const leaves = region && !branchTargets(this.binaryen, branch, kind).every((name) => region.labels.has(name));
    const taken = [...(paid === undefined ? [] : [this.checks.decrement(counter, paid)]), ...(leaves ? counter.store() : [])];
    if (taken.length) this.whenTaken(branch, kind, taken);
  }

  /**
   * Runs `taken` right before the branch, only when it is taken. Its operands run first (they
   * may still count), kept in fresh locals; a `br_if` runs it inside an `if` on its condition, so
   * a loop's exit test costs nothing on the iterations that stay.
   */
  private whenTaken(branch: ExpressionRef, kind: string, taken: ExpressionRef[]): void {
    const { binaryen, module } = this;
    const slots = childSlots(binaryen, branch);
    // Dead code (an operand that never completes): the branch is never taken.
    if (slots.some((slot) => binaryen.getExpressionType(slot.get()) === binaryen.unreachable)) return;
    const condition = kind === 'Break' ? accessor<ExpressionRef>(binaryen, 'Break', 'getCondition')(branch) : 0;
    const operands = slots.filter((slot) => !condition || slot.get() !== condition);
    const spills = operands.map((slot) => this.spill(slot));
    const type = binaryen.getExpressionType(branch);
    if (!condition) {
      this.replaceCurrent(module.block(null, [...spills, ...taken, branch], binaryen.unreachable));
      return;
    }
    // br_if: the same branch made unconditional, taken inside an `if` on its condition.
    const name = accessor<string>(binaryen, 'Break', 'getName')(branch);
    const value = accessor<ExpressionRef>(binaryen, 'Break', 'getValue')(branch);
    const branchTaken = module.block(
      null,
      [...taken, module.br(name, undefined, value ? module.copyExpression(value) : undefined)],
      binaryen.unreachable,
    );
    const test = module.if(condition, branchTaken);
    this.replaceCurrent(module.block(null, [...spills, test, ...(value ? [value] : [])], type));
  }

  /** Evaluates the expression in `slot` into a fresh local, leaving a read of it in the slot. */
  private spill(slot: Slot): ExpressionRef {
    const { binaryen, module } = this;
    const expr = slot.get();
    const type = binaryen.getExpressionType(expr);
    const local = addLocal(binaryen, this.func, type);
    slot.set(module.local.get(local, type));
    return module.local.set(local, expr);
  }
}

/** `max(lunatic_reductions, 0)`: what the helpers leave after a yield the host did not refill. */
function flooredCounter(binaryen: Binaryen, module: Module): ExpressionRef {
  const counter = () => module.global.get(REDUCTIONS_GLOBAL, binaryen.i32);
  return module.select(module.i32.gt_s(counter(), module.i32.const(0)), counter(), module.i32.const(0));
}

/** Adds `lunatic_yield_global()`: yields, then takes a negative counter as 0 (the checks on the global). */
function addGlobalYieldHelper(binaryen: Binaryen, module: Module, yieldName: string): string {
  const name = freshFunctionName(module, 'lunatic_yield_global');
  const body = module.block(
    null,
    [module.call(yieldName, [], binaryen.none), module.global.set(REDUCTIONS_GLOBAL, flooredCounter(binaryen, module))],
    binaryen.none,
  );
  module.addFunction(name, binaryen.none, binaryen.none, [], body);
  return name;
}

/** Adds `lunatic_check_yield(counter, credit) -> max(counter after yield, 0) + credit`. */
function addYieldHelper(binaryen: Binaryen, module: Module, yieldName: string): string {
  const name = freshFunctionName(module, 'lunatic_check_yield');
  const floor = flooredCounter(binaryen, module);
  module.addFunction(
    name,
    binaryen.createType([binaryen.i32, binaryen.i32]),
    binaryen.i32,
    [],
    module.block(
      null,
      [
        module.global.set(REDUCTIONS_GLOBAL, module.local.get(0, binaryen.i32)),
        module.call(yieldName, [], binaryen.none),
        module.i32.add(floor, module.local.get(1, binaryen.i32)),
      ],
      binaryen.i32,
    ),
  );
  return name;
}

/** The internal name of the `lunatic.yield` import, adding the import when it is missing. */
function yieldImport(binaryen: Binaryen, module: Module): string {
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
    if (info.module === YIELD_MODULE && info.base === YIELD_BASE) return info.name;
  }
  const name = freshFunctionName(module, 'lunatic_yield');
  module.addFunctionImport(name, YIELD_MODULE, YIELD_BASE, binaryen.none, binaryen.none);
  return name;
}

/**
 * Imports, functions with a check or decrement, and everything that calls them; and functions
 * that throw, and their callers: a region writes its copy back before calling one, since an
 * exception leaves the region without passing its write-back.
 */
function countingFunctions(graph: CallGraph, plan: Plan): Set<string> {
  const sinks = new Set<string>();
  for (const node of graph.nodes.values()) {
    const p = plan.functions.get(node.name);
    const touches = p && (p.entryCheck || p.loopChecks.size || p.afterCallChecks.size || p.decrements.size || p.decrementsAfter.size);
    if (node.importName !== undefined || touches || node.exceptions) sinks.add(node.name);
  }
  return new Set([...sinks, ...callersOf(graph, sinks)]);
}

/** Carries out a check placement plan (passes/reductions/check-placement.ts). */
export const reductionCounter: Pass<{ plan: Plan }, CheckCounts> = {
  name: 'reduction-counter',
  run(context, { plan }) {
    const counts = injectReductionChecks(context, plan, context.callGraph());
    context.changed();
    return counts;
  },
};

function injectReductionChecks({ binaryen, module, progress }: PassContext, plan: Plan, graph: CallGraph): CheckCounts {
  const counting = countingFunctions(graph, plan);
  module.addGlobal(REDUCTIONS_GLOBAL, binaryen.i32, true, module.i32.const(0));
  module.addGlobalExport(REDUCTIONS_GLOBAL, REDUCTIONS_GLOBAL);
  const yieldName = yieldImport(binaryen, module);
  const yieldHelper = addYieldHelper(binaryen, module, yieldName);
  const counts: CheckCounts = { loops: 0, entries: 0, afterCalls: 0, decrements: 0, cachedCounters: 0 };
  const checks = new CheckBuilder(binaryen, module, yieldHelper, addGlobalYieldHelper(binaryen, module, yieldName));
  const functions = definedFunctions(binaryen, module);
  progress.phase('adding checks', functions.length);
  for (const func of functions) {
    progress.step();
    const functionPlan = plan.functions.get(binaryen.getFunctionInfo(func).name);
    if (!functionPlan) continue;
    // A function that throws or catches keeps the counter in the global: a throw would leave a
    // region without its write-back, and a catch would go on with a copy older than what the
    // callee that threw has charged.
    const regions = graph.nodes.get(functionPlan.name)?.exceptions
      ? new Map<ExpressionRef, CounterRegion>()
      : counterRegions(binaryen, func, functionPlan.loopChecks, functionPlan.entryCheck);
    const injector = new CheckInjector(binaryen, module, func, functionPlan, checks, graph, counting, regions);
    injector.walkFunction(func);
    injector.finish(functionPlan.entryCheck ? (plan.entryCharges.get(functionPlan.name) ?? 1) : undefined);
    counts.loops += functionPlan.loopChecks.size;
    counts.decrements += functionPlan.decrements.size + functionPlan.decrementsAfter.size;
    counts.afterCalls += functionPlan.afterCallChecks.size;
    if (functionPlan.entryCheck) counts.entries++;
    counts.cachedCounters += new Set([...regions.values()].map((region) => region.root)).size;
  }
  return counts;
}
