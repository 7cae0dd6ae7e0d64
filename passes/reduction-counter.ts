// Reduction counter injection: puts the checks decided by check-placement.ts into the code.
//
// A check is `lunatic_reductions -= charge; if (lunatic_reductions < 0) lunatic.yield()`.
// The counter is an exported mutable global the host refills (docs/ABI.md); `yield` is the
// import through which the host can preempt. Loop checks go first in the loop body, entry checks
// first in the function body, after-call checks right after the call (its result kept in a
// fresh local). Decrements (the same subtraction, no test) go right before their loop or call.
import { addLocal, type Binaryen, type ExpressionRef, type FunctionRef, type Module, untyped } from '../src/binaryen.js';
import type { FunctionPlan, Plan } from './check-placement.js';
import { definedFunctions, Walker } from './pass.js';

export const REDUCTIONS_GLOBAL = 'lunatic_reductions';
export const YIELD_MODULE = 'lunatic';
export const YIELD_BASE = 'yield';

export interface CheckCounts {
  loops: number;
  entries: number;
  afterCalls: number;
  /** Decrements without a check, charging cold stretches (not counted as checks). */
  decrements: number;
}

const MAX_CHARGE = 0x3fffffff;

class CheckBuilder {
  constructor(
    private readonly binaryen: Binaryen,
    private readonly module: Module,
    private readonly yieldName: string,
  ) {}

  decrement(charge: number): ExpressionRef {
    const { module, binaryen } = this;
    const amount = Math.min(MAX_CHARGE, Math.max(1, Math.ceil(charge)));
    return module.global.set(REDUCTIONS_GLOBAL, module.i32.sub(module.global.get(REDUCTIONS_GLOBAL, binaryen.i32), module.i32.const(amount)));
  }

  check(charge: number): ExpressionRef {
    const { module, binaryen } = this;
    return module.block(null, [
      this.decrement(charge),
      module.if(module.i32.lt_s(module.global.get(REDUCTIONS_GLOBAL, binaryen.i32), module.i32.const(0)), module.call(this.yieldName, [], binaryen.none)),
    ], binaryen.none);
  }
}

class CheckInjector extends Walker {
  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly func: FunctionRef,
    private readonly plan: FunctionPlan,
    private readonly checks: CheckBuilder,
  ) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    if (kind === 'Loop') this.checkLoop(expr);
    else if (this.plan.afterCallChecks.has(expr)) this.checkAfterCall(expr);
    // After the check, so a call's decrement goes before the whole call-and-check.
    const decrement = this.plan.decrements.get(expr);
    if (decrement !== undefined) this.decrementBefore(decrement);
  }

  private decrementBefore(charge: number): void {
    const current = this.currentExpression();
    this.replaceCurrent(this.module.block(null, [this.checks.decrement(charge), current], this.binaryen.getExpressionType(current)));
  }

  private checkLoop(loop: ExpressionRef): void {
    const charge = this.plan.loopChecks.get(loop);
    if (charge === undefined) return;
    const loopClass = untyped(this.binaryen)['Loop'] as { getBody(e: number): number; setBody(e: number, b: number): void };
    const body = loopClass.getBody(loop);
    loopClass.setBody(loop, this.module.block(null, [this.checks.check(charge), body], this.binaryen.getExpressionType(body)));
  }

  private checkAfterCall(call: ExpressionRef): void {
    const { binaryen, module } = this;
    const check = this.checks.check(this.plan.afterCallChecks.get(call)!);
    const type = binaryen.getExpressionType(call);
    if (type === binaryen.unreachable) return;
    if (type === binaryen.none) {
      this.replaceCurrent(module.block(null, [call, check], binaryen.none));
      return;
    }
    const local = addLocal(binaryen, this.func, type);
    this.replaceCurrent(module.block(null, [module.local.set(local, call), check, module.local.get(local, type)], type));
  }
}

/** A function name not used yet in the module. */
export function freshFunctionName(module: Module, base: string): string {
  let name = base;
  for (let i = 1; module.getFunction(name); i++) name = `${base}_${i}`;
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

export function injectReductionChecks(binaryen: Binaryen, module: Module, plan: Plan): CheckCounts {
  const checks = new CheckBuilder(binaryen, module, yieldImport(binaryen, module));
  module.addGlobal(REDUCTIONS_GLOBAL, binaryen.i32, true, module.i32.const(0));
  module.addGlobalExport(REDUCTIONS_GLOBAL, REDUCTIONS_GLOBAL);
  const counts: CheckCounts = { loops: 0, entries: 0, afterCalls: 0, decrements: 0 };
  const fn = untyped(binaryen).Function;
  for (const func of definedFunctions(binaryen, module)) {
    const functionPlan = plan.functions.get(binaryen.getFunctionInfo(func).name);
    if (!functionPlan) continue;
    new CheckInjector(binaryen, module, func, functionPlan, checks).walkFunction(func);
    counts.loops += functionPlan.loopChecks.size;
    counts.decrements += functionPlan.decrements.size;
    counts.afterCalls += functionPlan.afterCallChecks.size;
    if (functionPlan.entryCheck) {
      const body = fn.getBody(func);
      const charge = plan.entryCharges.get(functionPlan.name) ?? 1;
      fn.setBody(func, module.block(null, [checks.check(charge), body], binaryen.getExpressionType(body)));
      counts.entries++;
    }
  }
  return counts;
}
