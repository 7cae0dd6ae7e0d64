// Reduction counter injection: puts the checks decided by check-placement.ts into the code.
//
// A check is `lunatic_reductions -= charge; if (lunatic_reductions < 0) lunatic.yield()`.
// The counter is an exported mutable global the host refills (docs/ABI.md); `yield` is the
// import through which the host can preempt. Entry checks go first in the function body,
// after-call checks right after the call (its result kept in a fresh local). Decrements (the
// same subtraction, no test) go right before their loop or call.
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
// Every check yields through one small function, `lunatic_check_yield(counter, credit)`: it
// stores the counter, calls `lunatic.yield`, and returns `max(counter, 0) + credit`, the credit
// being what entering the loop again charges. Keeping that out of line keeps each check small,
// and the loop makes progress even when the host does not refill the counter (a start
// function's `yield`, a host that only counts): the next check simply yields again.
//
// In a function with loop checks the counter is kept in a local: read from the global on entry,
// written back before every call that can reach the counter (a check, a decrement, an import:
// the callee or the host then sees the current value) and read again after it, and written back
// on every way out (returns, tail calls, the end of the body). A hot loop then counts in a
// register instead of loading and storing the global on every iteration.
import { accessor, addLocal, type Binaryen, type ExpressionRef, type FunctionRef, type Module, untyped } from '../src/binaryen.js';
import { type CallGraph, callersOf, callTargets, isTailCall } from './call-graph.js';
import type { FunctionPlan, Plan } from './check-placement.js';
import { CALL_KINDS, definedFunctions, Walker } from './pass.js';

export const REDUCTIONS_GLOBAL = 'lunatic_reductions';
export const YIELD_MODULE = 'lunatic';
export const YIELD_BASE = 'yield';

export interface CheckCounts {
  loops: number;
  entries: number;
  afterCalls: number;
  /** Decrements without a check, charging cold stretches (not counted as checks). */
  decrements: number;
  /** Functions that keep the counter in a local. */
  cachedCounters: number;
}

const MAX_CHARGE = 0x3fffffff;

function amount(charge: number): number {
  return Math.min(MAX_CHARGE, Math.max(1, Math.ceil(charge)));
}

/** Where a function reads and writes the counter: the global itself, or a local copy of it. */
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

/** Builds the checks of one function. */
class CheckBuilder {
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    /** The module's `lunatic_check_yield`. */
    private readonly yieldHelper: string,
    readonly counter: Counter,
  ) {}

  private labels = 0;

  decrement(charge: number): ExpressionRef {
    return this.add(-amount(charge));
  }

  check(charge: number): ExpressionRef {
    return this.module.block(null, [this.decrement(charge), this.module.if(this.spent(), this.yieldThenCredit(0))], this.binaryen.none);
  }

  /** `loop` (whose body has no check yet) with a check at its top that yields outside it. */
  checkedLoop(loop: ExpressionRef, charge: number): ExpressionRef {
    const { module, binaryen } = this;
    const id = this.labels++;
    const [done, again, yieldLabel] = ['done', 'again', 'yield'].map((role) => `lunatic_check$${role}$${id}`) as [string, string, string];
    const loopClass = untyped(binaryen)['Loop'] as { getBody(e: number): number; setBody(e: number, b: number): void };
    const body = loopClass.getBody(loop);
    loopClass.setBody(loop, module.block(null, [this.decrement(charge), module.br(yieldLabel, this.spent()), body], binaryen.getExpressionType(body)));
    const type = binaryen.getExpressionType(loop);
    const exited = type === binaryen.unreachable ? loop : type === binaryen.none ? module.block(null, [loop, module.br(done)], binaryen.none) : module.br(done, undefined, loop);
    const retry = module.loop(again, module.block(null, [module.block(yieldLabel, [exited], binaryen.none), this.yieldThenCredit(amount(charge)), module.br(again)], binaryen.none));
    return type === binaryen.unreachable ? retry : module.block(done, [retry], type);
  }

  private spent(): ExpressionRef {
    return this.module.i32.lt_s(this.counter.get(), this.module.i32.const(0));
  }

  private yieldThenCredit(credit: number): ExpressionRef {
    const { module, binaryen } = this;
    return this.counter.set(module.call(this.yieldHelper, [this.counter.get(), module.i32.const(credit)], binaryen.i32));
  }

  private add(delta: number): ExpressionRef {
    return this.counter.set(this.module.i32.add(this.counter.get(), this.module.i32.const(delta)));
  }
}

class CheckInjector extends Walker {
  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly func: FunctionRef,
    private readonly plan: FunctionPlan,
    private readonly checks: CheckBuilder,
    private readonly graph: CallGraph,
    /** Functions (and imports) that read or write the counter, directly or through callees. */
    private readonly counting: Set<string>,
  ) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    if (kind === 'Loop') this.checkLoop(expr);
    else if (CALL_KINDS.has(kind)) this.surroundCall(expr, kind);
    else if (kind === 'Return') this.storeBeforeReturn(expr);
    // After the check, so a call's decrement goes before the whole call-and-check.
    const decrement = this.plan.decrements.get(expr);
    if (decrement !== undefined) this.decrementBefore(decrement);
  }

  /** The function's new body: the counter copied in, the entry check, the body, the copy stored. */
  wrapBody(entryCharge: number | undefined): void {
    const { binaryen, module } = this;
    const fn = untyped(binaryen).Function;
    const body = fn.getBody(this.func);
    const prologue = [...this.checks.counter.load(), ...(entryCharge === undefined ? [] : [this.checks.check(entryCharge)])];
    if (!prologue.length) return;
    fn.setBody(this.func, module.block(null, [...prologue, this.withStore(body)], binaryen.getExpressionType(body)));
  }

  /** `expr`, then the counter stored, keeping the value of `expr`. */
  private withStore(expr: ExpressionRef): ExpressionRef {
    return this.withAfter(expr, this.checks.counter.store());
  }

  /** `expr` followed by `after`, keeping the value of `expr` (in a fresh local when it has one). */
  private withAfter(expr: ExpressionRef, after: ExpressionRef[]): ExpressionRef {
    const { binaryen, module } = this;
    const type = binaryen.getExpressionType(expr);
    if (!after.length || type === binaryen.unreachable) return expr;
    if (type === binaryen.none) return module.block(null, [expr, ...after], binaryen.none);
    const local = addLocal(binaryen, this.func, type);
    return module.block(null, [module.local.set(local, expr), ...after, module.local.get(local, type)], type);
  }

  private decrementBefore(charge: number): void {
    const current = this.currentExpression();
    this.replaceCurrent(this.module.block(null, [this.checks.decrement(charge), current], this.binaryen.getExpressionType(current)));
  }

  private checkLoop(loop: ExpressionRef): void {
    const charge = this.plan.loopChecks.get(loop);
    if (charge !== undefined) this.replaceCurrent(this.checks.checkedLoop(loop, charge));
  }

  /** Stores the counter before a call that can reach it and reloads it after; then the after-call check, if any. */
  private surroundCall(call: ExpressionRef, kind: string): void {
    const charge = this.plan.afterCallChecks.get(call);
    const counts = this.checks.counter.cached && this.callReachesCounter(call, kind);
    const after = [...(counts ? this.checks.counter.load() : []), ...(charge === undefined ? [] : [this.checks.check(charge)])];
    const store = counts ? this.checks.counter.store() : [];
    const surrounded = this.withAfter(call, after);
    if (surrounded !== call || store.length) this.replaceCurrent(this.module.block(null, [...store, surrounded], this.binaryen.getExpressionType(surrounded)));
  }

  /** Whether the callee may read or write the counter; a tail call leaves the function, so it counts too. */
  private callReachesCounter(call: ExpressionRef, kind: string): boolean {
    const targets = callTargets(this.binaryen, this.graph, call, kind);
    return !targets || targets.some((name) => this.counting.has(name)) || isTailCall(this.binaryen, call, kind);
  }

  private storeBeforeReturn(ret: ExpressionRef): void {
    const { binaryen, module } = this;
    const store = this.checks.counter.store();
    if (!store.length) return;
    const value = accessor(binaryen, 'Return', 'getValue')(ret);
    if (value) accessor(binaryen, 'Return', 'setValue')(ret, this.withStore(value));
    else this.replaceCurrent(module.block(null, [...store, ret], binaryen.unreachable));
  }
}

/** A function name not used yet in the module. */
export function freshFunctionName(module: Module, base: string): string {
  let name = base;
  for (let i = 1; module.getFunction(name); i++) name = `${base}_${i}`;
  return name;
}

/** Adds `lunatic_check_yield(counter, credit) -> max(counter after yield, 0) + credit`. */
function addYieldHelper(binaryen: Binaryen, module: Module, yieldName: string): string {
  const name = freshFunctionName(module, 'lunatic_check_yield');
  const counter = () => module.global.get(REDUCTIONS_GLOBAL, binaryen.i32);
  const floor = module.select(module.i32.gt_s(counter(), module.i32.const(0)), counter(), module.i32.const(0));
  module.addFunction(name, binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.i32, [], module.block(null, [
    module.global.set(REDUCTIONS_GLOBAL, module.local.get(0, binaryen.i32)),
    module.call(yieldName, [], binaryen.none),
    module.i32.add(floor, module.local.get(1, binaryen.i32)),
  ], binaryen.i32));
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

/** Imports, functions with a check or decrement, and everything that calls them. */
function countingFunctions(graph: CallGraph, plan: Plan): Set<string> {
  const sinks = new Set<string>();
  for (const node of graph.nodes.values()) {
    const p = plan.functions.get(node.name);
    const touches = p && (p.entryCheck || p.loopChecks.size || p.afterCallChecks.size || p.decrements.size);
    if (node.importName !== undefined || touches) sinks.add(node.name);
  }
  return new Set([...sinks, ...callersOf(graph, sinks)]);
}

export function injectReductionChecks(binaryen: Binaryen, module: Module, plan: Plan, graph: CallGraph): CheckCounts {
  const counting = countingFunctions(graph, plan);
  module.addGlobal(REDUCTIONS_GLOBAL, binaryen.i32, true, module.i32.const(0));
  module.addGlobalExport(REDUCTIONS_GLOBAL, REDUCTIONS_GLOBAL);
  const yieldHelper = addYieldHelper(binaryen, module, yieldImport(binaryen, module));
  const counts: CheckCounts = { loops: 0, entries: 0, afterCalls: 0, decrements: 0, cachedCounters: 0 };
  for (const func of definedFunctions(binaryen, module)) {
    const functionPlan = plan.functions.get(binaryen.getFunctionInfo(func).name);
    if (!functionPlan) continue;
    // Worth a local only where a loop counts: elsewhere the loads and stores around calls would
    // cost more than the one check they save.
    const cached = functionPlan.loopChecks.size > 0;
    const counter = new Counter(binaryen, module, cached ? addLocal(binaryen, func, binaryen.i32) : undefined);
    const injector = new CheckInjector(binaryen, module, func, functionPlan, new CheckBuilder(binaryen, module, yieldHelper, counter), graph, counting);
    injector.walkFunction(func);
    injector.wrapBody(functionPlan.entryCheck ? plan.entryCharges.get(functionPlan.name) ?? 1 : undefined);
    counts.loops += functionPlan.loopChecks.size;
    counts.decrements += functionPlan.decrements.size;
    counts.afterCalls += functionPlan.afterCallChecks.size;
    if (functionPlan.entryCheck) counts.entries++;
    if (cached) counts.cachedCounters++;
  }
  return counts;
}
