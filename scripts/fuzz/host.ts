// The host a fuzz module runs against, identical for the original and the instrumented module:
// binaryen's `fuzzing-support.*` imports (logging, calling exports back, sleep, throw), each
// call recorded as an event line, plus `lunatic.yield` for the instrumented side, and seeded
// values for imported globals. Our own
// semantics for these imports are fine as long as both sides get the same ones.
import type { ExportedFunction, ImportedGlobal } from './exports.js';
import { type Arguments, show } from './values.js';

/** Thrown by the host to stop a run that does too much; recorded like a trap, on both sides. */
export class HarnessLimit extends Error {
  constructor(what: string) {
    super(`harness limit: ${what}`);
    this.name = 'HarnessLimit';
  }
}

/** Generous for modules bounded by a hang limit of 100 per export; stops a runaway one. */
const MAX_EVENTS = 20_000;

/** How a thrown value is recorded: the trap message is the part that must match. */
export function describeError(error: unknown): string {
  if (error instanceof WebAssembly.RuntimeError) return `trap ${error.message}`;
  // No regular expression here: compiling one at the stack limit throws a SyntaxError instead.
  if (error instanceof RangeError && error.message.includes('call stack')) return 'stack overflow';
  if (error instanceof HarnessLimit) return error.message;
  if (error instanceof Error) return `${error.name} ${error.message}`;
  return `thrown ${show(error)}`;
}

export interface HostState {
  readonly events: string[];
  /** Host calls into wasm in progress: `lunatic.yield` may only suspend at depth 0. */
  nested: number;
}

export interface HostContext {
  state: HostState;
  functions: readonly ExportedFunction[];
  importedGlobals: readonly ImportedGlobal[];
  args: Arguments;
  /** The instance's export of that name (the host calls back into wasm through it). */
  exportNamed(name: string): (...args: unknown[]) => unknown;
  /** Handles `lunatic.yield`; may return a Promise to ask for a suspension. */
  onYield(): unknown;
}

export function record(state: HostState, line: string): void {
  if (state.events.length >= MAX_EVENTS) throw new HarnessLimit(`more than ${MAX_EVENTS} host calls`);
  state.events.push(line);
}

/** Calls export `index` of the original export list from the host, as the fuzzer's imports do. */
function callExport(context: HostContext, index: number): unknown {
  const target = context.functions[index >>> 0];
  if (!target) throw new RangeError(`no export number ${index}`);
  record(context.state, `call-export ${target.name}`);
  context.state.nested++;
  try {
    return context.exportNamed(target.name)(...context.args.for(target.params));
  } finally {
    context.state.nested--;
  }
}

function catching(context: HostContext, call: () => unknown): number {
  try {
    call();
    return 0;
  } catch (error) {
    record(context.state, `caught ${describeError(error)}`);
    return 1;
  }
}

function fuzzingSupport(context: HostContext, name: string): (...args: unknown[]) => unknown {
  const log = (...args: unknown[]) => record(context.state, `${name} ${args.map(show).join(' ')}`);
  switch (name) {
    case 'call-export':
      return (index) => void callExport(context, index as number);
    case 'call-export-catch':
      return (index) => catching(context, () => callExport(context, index as number));
    case 'call-ref':
      return (ref) => void (ref as () => unknown)();
    case 'call-ref-catch':
      return (ref) => catching(context, () => (ref as () => unknown)());
    case 'sleep':
      return (ms, id) => {
        log(ms, id);
        return id;
      };
    case 'throw':
      return (value) => {
        log(value);
        throw new Error('thrown by fuzzing-support.throw');
      };
    default:
      return log;
  }
}

type Host = (...args: unknown[]) => unknown;
export type HostImports = Record<string, Record<string, Host | WebAssembly.Global>>;

function functionImport(context: HostContext, module: string, name: string): Host {
  if (module === 'lunatic' && name === 'yield') return () => context.onYield();
  if (module === 'fuzzing-support') return fuzzingSupport(context, name);
  return (...args: unknown[]) => record(context.state, `${module}.${name} ${args.map(show).join(' ')}`);
}

/** An imported global gets a seeded value of its type (references: null). */
function globalImport(context: HostContext, global: ImportedGlobal): WebAssembly.Global {
  if (global.kind === 'ref' || global.kind === 'v128')
    throw new Error(`imports a global of a type JS cannot create (${global.module}.${global.name})`);
  const value = global.kind === 'funcref' ? 'anyfunc' : global.kind;
  return new WebAssembly.Global({ value, mutable: global.mutable } as WebAssembly.GlobalDescriptor, context.args.for([global.kind])[0]);
}

/** Imports for every function and global import of `module`; memories and tables are refused. */
export function hostImports(module: WebAssembly.Module, context: HostContext): HostImports {
  const imports: HostImports = {};
  for (const entry of WebAssembly.Module.imports(module)) {
    const global = context.importedGlobals.find((g) => g.module === entry.module && g.name === entry.name);
    let value: Host | WebAssembly.Global;
    if (entry.kind === 'function') value = functionImport(context, entry.module, entry.name);
    else if (entry.kind === 'global' && global) value = globalImport(context, global);
    else throw new Error(`imports a ${entry.kind} (${entry.module}.${entry.name}); the harness provides functions and globals only`);
    (imports[entry.module] ??= {})[entry.name] = value;
  }
  return imports;
}
