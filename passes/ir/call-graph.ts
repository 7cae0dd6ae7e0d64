// The call graph of a module: who calls whom, directly, through tables (call_indirect) and
// through function references (call_ref), and its strongly connected components.
//
// Indirect calls are resolved by signature: a call_indirect of type (i32) -> i32 may reach any
// function of that type whose address is taken (listed in an element segment, named by ref.func,
// or exported, since a host can put exports into a table). Both the reduction counter (which
// functions can recurse) and the Asyncify pass (which functions can reach a blocking import) use
// this one graph.
import type { Binaryen, ExpressionRef, FunctionRef, Module } from './binaryen.js';
import { accessor } from './binaryen.js';
import { EXCEPTION_KINDS, Walker } from './walker.js';
import { definedFunctions, exportedFunctions } from './module.js';

export interface FunctionNode {
  name: string;
  ref: FunctionRef;
  /** `module.base` for imports, undefined for defined functions. */
  importName?: string;
  params: number;
  results: number;
  callees: Set<string>;
  /** Index of its strongly connected component; equal indexes recurse into each other. */
  scc: number;
  /** True when the function can call itself, directly or through others. */
  recursive: boolean;
  /** The function throws, rethrows or catches itself (legacy exception handling); undefined for imports. */
  exceptions?: boolean;
}

export interface CallGraph {
  nodes: Map<string, FunctionNode>;
  /** Functions that a call_indirect/call_ref of the given signature may reach (the same list at every call). */
  indirectTargets(params: number, results: number): readonly string[];
  /** Components in reverse topological order: callees before callers. */
  components: string[][];
  /** Functions a table, a reference or the host can call: exported, in an element segment, or named by ref.func. */
  addressTaken: ReadonlySet<string>;
}

/** The possible targets of one call expression, or undefined when it is not a call. */
export function callTargets(binaryen: Binaryen, graph: CallGraph, expr: ExpressionRef, kind: string): readonly string[] | undefined {
  switch (kind) {
    case 'Call':
      return [accessor<string>(binaryen, 'Call', 'getTarget')(expr)];
    case 'CallIndirect':
      return graph.indirectTargets(
        accessor(binaryen, 'CallIndirect', 'getParams')(expr),
        accessor(binaryen, 'CallIndirect', 'getResults')(expr),
      );
    case 'CallRef': {
      const target = accessor(binaryen, 'CallRef', 'getTarget')(expr);
      const heapType = binaryen.getHeapType(binaryen.getExpressionType(target));
      const sig = heapTypeSignature(binaryen, heapType);
      return sig ? graph.indirectTargets(sig.params, sig.results) : [...graph.addressTaken];
    }
    default:
      return undefined;
  }
}

/** Functions that can reach any of `sinks`, found by walking the callers backwards. */
export function callersOf(graph: CallGraph, sinks: Set<string>): Set<string> {
  const callers = new Map<string, string[]>();
  for (const node of graph.nodes.values()) {
    for (const callee of node.callees) {
      const list = callers.get(callee) ?? [];
      list.push(node.name);
      callers.set(callee, list);
    }
  }
  const reached = new Set<string>();
  const work = [...sinks];
  while (work.length) {
    for (const caller of callers.get(work.pop()!) ?? []) {
      if (!reached.has(caller)) {
        reached.add(caller);
        work.push(caller);
      }
    }
  }
  return reached;
}

/** Whether a call expression is a tail call (return_call*). */
export function isTailCall(binaryen: Binaryen, expr: ExpressionRef, kind: string): boolean {
  const isReturn = (binaryen as unknown as Record<string, Record<string, (e: number) => boolean>>)[kind]?.isReturn;
  return typeof isReturn === 'function' ? Boolean(isReturn(expr)) : false;
}

function heapTypeSignature(binaryen: Binaryen, heapType: number): { params: number; results: number } | undefined {
  const b = binaryen as unknown as Record<string, (h: number) => number>;
  const getParams = b._BinaryenSignatureTypeGetParams;
  const getResults = b._BinaryenSignatureTypeGetResults;
  if (typeof getParams !== 'function' || typeof getResults !== 'function') return undefined;
  return { params: getParams(heapType), results: getResults(heapType) };
}

class CallCollector extends Walker {
  readonly direct = new Set<string>();
  readonly signatures: Array<[number, number]> = [];
  readonly refFuncs = new Set<string>();
  readonly anyRef: boolean[] = [];
  exceptions = false;

  protected visit(expr: ExpressionRef, kind: string): void {
    const b = this.binaryen;
    if (EXCEPTION_KINDS.has(kind)) this.exceptions = true;
    if (kind === 'Call') this.direct.add(accessor<string>(b, 'Call', 'getTarget')(expr));
    else if (kind === 'CallIndirect') {
      this.signatures.push([accessor(b, 'CallIndirect', 'getParams')(expr), accessor(b, 'CallIndirect', 'getResults')(expr)]);
    } else if (kind === 'CallRef') {
      const sig = heapTypeSignature(b, b.getHeapType(b.getExpressionType(accessor(b, 'CallRef', 'getTarget')(expr))));
      if (sig) this.signatures.push([sig.params, sig.results]);
      else this.anyRef.push(true);
    } else if (kind === 'RefFunc') this.refFuncs.add(b.getExpressionInfo(expr as never)['func' as never] as unknown as string);
  }
}

function addressTaken(binaryen: Binaryen, module: Module, refFuncs: Set<string>): Set<string> {
  const taken = new Set(refFuncs);
  for (let i = 0; i < module.getNumElementSegments(); i++) {
    const info = binaryen.getElementSegmentInfo(module.getElementSegmentByIndex(i));
    for (const name of info.data) taken.add(name);
  }
  for (const name of exportedFunctions(binaryen, module)) taken.add(name);
  return taken;
}

export function buildCallGraph(binaryen: Binaryen, module: Module): CallGraph {
  const nodes = new Map<string, FunctionNode>();
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const ref = module.getFunctionByIndex(i);
    const info = binaryen.getFunctionInfo(ref);
    nodes.set(info.name, {
      name: info.name,
      ref,
      params: info.params,
      results: info.results,
      callees: new Set(),
      scc: -1,
      recursive: false,
      ...(info.module ? { importName: `${info.module}.${info.base}` } : {}),
    });
  }
  const collected = new Map<string, CallCollector>();
  const refFuncs = new Set<string>();
  for (const func of definedFunctions(binaryen, module)) {
    const collector = new CallCollector(binaryen, module);
    collector.walkFunction(func);
    collected.set(binaryen.getFunctionInfo(func).name, collector);
    for (const name of collector.refFuncs) refFuncs.add(name);
  }
  const taken = addressTaken(binaryen, module, refFuncs);
  // One list per signature, made once: a large C++ program asks for the same few signatures at
  // every one of its many thousands of indirect calls, each list thousands of names long.
  const bySignature = new Map<string, readonly string[]>();
  const indirectTargets = (params: number, results: number): readonly string[] => {
    const key = `${params}:${results}`;
    let targets = bySignature.get(key);
    if (!targets) {
      targets = [...taken].filter((name) => {
        const node = nodes.get(name);
        return node !== undefined && node.params === params && node.results === results;
      });
      bySignature.set(key, targets);
    }
    return targets;
  };
  for (const [name, collector] of collected) {
    const node = nodes.get(name)!;
    node.exceptions = collector.exceptions;
    const callees = node.callees;
    for (const callee of collector.direct) callees.add(callee);
    for (const [params, results] of collector.signatures) for (const t of indirectTargets(params, results)) callees.add(t);
    if (collector.anyRef.length) for (const t of taken) callees.add(t);
  }
  const components = stronglyConnected(nodes);
  return { nodes, indirectTargets, components, addressTaken: taken };
}

/** Tarjan's algorithm, iterative (deep call chains must not overflow the JS stack). */
function stronglyConnected(nodes: Map<string, FunctionNode>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of nodes.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ name: string; callees: Iterator<string> }> = [];
    const enter = (name: string) => {
      index.set(name, counter);
      low.set(name, counter++);
      stack.push(name);
      onStack.add(name);
      work.push({ name, callees: nodes.get(name)!.callees.values() });
    };
    enter(root);
    while (work.length) {
      const frame = work[work.length - 1]!;
      const next = frame.callees.next();
      if (!next.done) {
        const callee = next.value;
        if (!nodes.has(callee)) continue;
        if (!index.has(callee)) enter(callee);
        else if (onStack.has(callee)) low.set(frame.name, Math.min(low.get(frame.name)!, index.get(callee)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.name;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.name)!));
      }
      if (low.get(frame.name) === index.get(frame.name)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.name);
        const id = components.length;
        for (const m of component) {
          const node = nodes.get(m)!;
          node.scc = id;
          node.recursive = component.length > 1 || node.callees.has(m);
        }
        components.push(component);
      }
    }
  }
  return components;
}
