// Runs one module the way the comparison needs: instantiate against the fuzz host, call every
// export of the original export list in order with seeded arguments, and observe everything a
// program can show: host calls, results, traps, exported globals and the final memory.
//
// Modes for an instrumented module: "refill" answers `lunatic.yield` by refilling the budget;
// "suspend" also unwinds and rewinds the whole stack at every yield, through the runtime's own
// Asyncify driver (src/runtime/suspend-asyncify.ts) with a host that resumes at once.
import { AsyncifySuspender } from '../../src/runtime/suspend-asyncify.js';
import { SUSPENDED } from '../../src/runtime/suspend.js';
import type { ModuleExports } from './exports.js';
import { describeError, HarnessLimit, type HostContext, hostImports, type HostState } from './host.js';
import { exposeMemory } from './memory-export.js';
import { Arguments, show } from './values.js';

export type RunMode = 'plain' | 'refill' | 'suspend';

export interface RunOptions {
  mode: RunMode;
  seed: number;
  /** Reduction budget per slice (instrumented modes). */
  slice: number;
}

export interface Observation {
  /** Host calls, then one line per export: its result or its trap. */
  events: string[];
  globals: string[];
  /** The program-visible memory (the reserved tail of an instrumented module left out). */
  memory: Uint8Array | undefined;
  yields: number;
  suspensions: number;
}

const PAGE_BYTES = 65536;
const MAX_YIELDS = 1_000_000;
const HANG_LIMIT_RESET = 'hangLimitInitializer';

type Exports = Record<string, unknown>;

function visibleMemory(exports: Exports, memoryExport: string | undefined): Uint8Array | undefined {
  const memory = memoryExport ? exports[memoryExport] : undefined;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  const reserved = exports.lunatic_reserved_pages instanceof WebAssembly.Global ? Number(exports.lunatic_reserved_pages.value) : 0;
  return new Uint8Array(memory.buffer, 0, memory.buffer.byteLength - reserved * PAGE_BYTES).slice();
}

function readGlobals(exports: Exports, names: readonly string[]): string[] {
  return names.map((name) => {
    const global = exports[name];
    try {
      return `${name}=${show((global as WebAssembly.Global).value)}`;
    } catch (error) {
      return `${name} unreadable (${describeError(error)})`;
    }
  });
}

export async function observe(original: Uint8Array, list: ModuleExports, options: RunOptions): Promise<Observation> {
  const { bytes, memoryExport } = exposeMemory(original);
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  const state: HostState = { events: [], nested: 0 };
  const observation: Observation = { events: state.events, globals: [], memory: undefined, yields: 0, suspensions: 0 };
  let exports: Exports = {};
  let parked: Promise<unknown> | undefined;
  const suspender =
    options.mode === 'suspend'
      ? new AsyncifySuspender({ park: (wait) => void (parked = wait as Promise<unknown>), abandon: (error) => Promise.reject(error) })
      : undefined;
  /** Runs an export of the suspending build, resuming each suspension as soon as its Promise settles. */
  const callSuspending = async (driver: AsyncifySuspender, name: string, args: unknown[]) => {
    let result = driver.start(name, args);
    while (result === SUSPENDED) {
      const wait = parked!;
      parked = undefined;
      result = driver.resume(
        await wait.then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
      );
    }
    return result;
  };
  let attached = false;
  const context: HostContext = {
    state,
    functions: list.functions,
    importedGlobals: list.importedGlobals,
    args: new Arguments(options.seed),
    exportNamed: (name) => exports[name] as (...args: unknown[]) => unknown,
    onYield: () => {
      if (++observation.yields > MAX_YIELDS) throw new HarnessLimit(`more than ${MAX_YIELDS} yields`);
      // A start function may yield before the host has the instance, hence cannot refill.
      const budget = exports.lunatic_reductions;
      if (budget instanceof WebAssembly.Global) budget.value = options.slice;
      if (!suspender || !attached || state.nested > 0) return undefined;
      observation.suspensions++;
      return Promise.resolve();
    },
  };
  const imports = hostImports(module, context);
  const plainYield = imports.lunatic?.yield;
  if (suspender && typeof plainYield === 'function') {
    // Only the yield may suspend; before attach (a start function) the driver is not ready yet.
    const suspending = suspender.wrapImport('lunatic.yield', plainYield, true) as (...args: unknown[]) => unknown;
    imports.lunatic!.yield = (...args: unknown[]) => (attached ? suspending(...args) : plainYield(...args));
  }
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
  } catch (error) {
    state.events.push(`instantiate ! ${describeError(error)}`);
    return observation;
  }
  exports = instance.exports as Exports;
  if (suspender) {
    suspender.attach(instance);
    attached = true;
  }
  // Older binaryen fuzzers export a hang-limit reset that their own harness calls before each export.
  const resetHangLimit = exports[HANG_LIMIT_RESET] as (() => void) | undefined;
  for (const fn of list.functions) {
    if (fn.name === HANG_LIMIT_RESET) continue;
    resetHangLimit?.();
    if (exports.lunatic_reductions instanceof WebAssembly.Global) exports.lunatic_reductions.value = options.slice;
    const args = context.args.for(fn.params);
    try {
      const result = suspender
        ? await callSuspending(suspender, fn.name, args)
        : (exports[fn.name] as (...a: unknown[]) => unknown)(...args);
      state.events.push(`${fn.name}(${args.map(show).join(' ')}) -> ${show(result)}`);
    } catch (error) {
      state.events.push(`${fn.name}(${args.map(show).join(' ')}) ! ${describeError(error)}`);
    }
  }
  observation.globals = readGlobals(exports, list.globals);
  observation.memory = visibleMemory(exports, memoryExport);
  return observation;
}
