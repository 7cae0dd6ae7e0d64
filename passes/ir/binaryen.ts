// The typed facade over the parts of binaryen.js its typings miss, and the types every pass
// shares. binaryen.js itself is loaded by src/binaryen.ts; the passes receive it in their context
// (passes/ir/context.ts) and never load it.
import type BinaryenNamespace from 'binaryen';

export type Binaryen = typeof BinaryenNamespace;
export type Module = BinaryenNamespace.Module;
export type ExpressionRef = number;
export type FunctionRef = number;

/**
 * The runtime wrapper classes (binaryen.Block, binaryen.Loop, ...) and raw C entry points that
 * `index.d.ts` does not declare. Kept as one narrow interface so the untyped surface is small.
 */
interface Untyped {
  Function: {
    getBody(func: FunctionRef): ExpressionRef;
    setBody(func: FunctionRef, body: ExpressionRef): void;
    getNumVars(func: FunctionRef): number;
    getVar(func: FunctionRef, index: number): number;
    getParams(func: FunctionRef): number;
  };
  /** Recomputes an expression's type from its children (after they were replaced). */
  Expression: { finalize(expr: ExpressionRef): void };
  _BinaryenFunctionAddVar(func: FunctionRef, type: number): number;
  getExceptionMessage?(error: unknown): string;
  [wrapper: string]: unknown;
}

export function untyped(binaryen: Binaryen): Untyped {
  return binaryen as unknown as Untyped;
}

/** A static accessor of a wrapper class, e.g. accessor(b, 'If', 'getCondition'). */
export function accessor<R = number>(binaryen: Binaryen, wrapper: string, method: string): (...args: number[]) => R {
  const cls = untyped(binaryen)[wrapper] as Record<string, (...args: number[]) => R> | undefined;
  const fn = cls?.[method];
  if (typeof fn !== 'function') throw new Error(`binaryen.${wrapper}.${method} is missing from this binaryen build`);
  return fn;
}

/** Adds a local of `type` to `func` and returns its index. */
export function addLocal(binaryen: Binaryen, func: FunctionRef, type: number): number {
  return untyped(binaryen)._BinaryenFunctionAddVar(func, type);
}

/**
 * A function's scratch locals, one per type, added on first use: for values held across code
 * that keeps none of its own (an unwind test, the counter's code after a call). Engines' baseline
 * compilers handle every local at every merge, so a local per use costs far more than it saves.
 */
export function scratchLocals(binaryen: Binaryen, func: FunctionRef): (type: number) => number {
  const scratch = new Map<number, number>();
  return (type) => {
    let local = scratch.get(type);
    if (local === undefined) scratch.set(type, (local = addLocal(binaryen, func, type)));
    return local;
  };
}

/** The types of a function's params and locals, by local index. */
export function localTypes(binaryen: Binaryen, func: FunctionRef): number[] {
  const fn = untyped(binaryen).Function;
  const vars = Array.from({ length: fn.getNumVars(func) }, (_, i) => fn.getVar(func, i));
  return [...binaryen.expandType(binaryen.getFunctionInfo(func).params), ...vars];
}

/** A `local.get` of each parameter of a function whose params type is `params`: its own arguments, to pass on. */
export function paramGets(binaryen: Binaryen, module: Module, params: number): ExpressionRef[] {
  return binaryen.expandType(params).map((type, i) => module.local.get(i, type));
}

/** The zero of a numeric (or vector) type: what a fresh local of that type holds. */
export function zeroOf(binaryen: Binaryen, module: Module, type: number): ExpressionRef {
  if (isTuple(binaryen, type)) return module.tuple.make(binaryen.expandType(type).map((part) => zeroOf(binaryen, module, part)));
  if (type === binaryen.i32) return module.i32.const(0);
  if (type === binaryen.i64) return (module.i64.const as unknown as (value: bigint) => ExpressionRef)(0n);
  if (type === binaryen.f32) return module.f32.const(0);
  if (type === binaryen.f64) return module.f64.const(0);
  return module.v128.const(new Array<number>(16).fill(0));
}

/** Whether a type is a tuple (several values: a multivalue result, or a local binaryen reads one into). */
export function isTuple(binaryen: Binaryen, type: number): boolean {
  return binaryen.expandType(type).length > 1;
}

/** Whether a value of this type is a number (or vector) that a plain local can hold and save. */
export function isNumericType(binaryen: Binaryen, type: number): boolean {
  return [binaryen.i32, binaryen.i64, binaryen.f32, binaryen.f64, binaryen.v128].includes(type);
}

/** Whether a type is a number (or vector), or a tuple of them (each element one): no references. */
export function allNumeric(binaryen: Binaryen, type: number): boolean {
  return binaryen.expandType(type).every((part) => isNumericType(binaryen, part));
}

/** binaryen's fatal errors arrive as opaque C++ exceptions (numbers); decode them when possible. */
export function binaryenMessage(binaryen: Binaryen, error: unknown): string {
  if (error instanceof Error) return error.message;
  const decode = untyped(binaryen).getExceptionMessage;
  if (typeof decode === 'function') {
    try {
      return String(decode(error));
    } catch {
      // fall through to the generic text
    }
  }
  return String(error);
}
