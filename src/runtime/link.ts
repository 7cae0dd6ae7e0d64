// Linking a process: the import object for one instance, from the host modules' namespaces.
// Only what the module imports is wrapped (each through the suspension backend, blocking or
// not by the module's globs), and a host function that never waits is given as it is; a missing
// import is named in one clear error.
import { matchesAny } from '../blocking-imports.js';
import { neverWaits } from './pending.js';
import type { Suspender } from './suspend.js';
import type { HostFunction, Imports } from './types.js';

/** A module import that no host module provides. */
export class LinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

/** Later namespaces override earlier ones, name by name. */
export function mergeImports(all: Imports[]): Imports {
  const merged: Imports = {};
  for (const imports of all) {
    for (const [namespace, functions] of Object.entries(imports)) merged[namespace] = { ...merged[namespace], ...functions };
  }
  return merged;
}

interface ImportSlot {
  namespace: string;
  name: string;
  kind: string;
  qualifiedName: string;
  blocking: boolean;
}

/** A module's imports with their blocking flags, worked out once per module and set of globs (every spawn links). */
const slotCache = new WeakMap<WebAssembly.Module, { globs: string; slots: ImportSlot[] }>();

function importSlots(module: WebAssembly.Module, blockingGlobs: readonly string[]): ImportSlot[] {
  const globs = blockingGlobs.join('\n');
  const cached = slotCache.get(module);
  if (cached?.globs === globs) return cached.slots;
  const slots = WebAssembly.Module.imports(module).map(({ module: namespace, name, kind }) => {
    const qualifiedName = `${namespace}.${name}`;
    return { namespace, name, kind, qualifiedName, blocking: matchesAny(qualifiedName, blockingGlobs) };
  });
  slotCache.set(module, { globs, slots });
  return slots;
}

export function linkImports(
  module: WebAssembly.Module,
  provided: Imports,
  suspender: Suspender,
  blockingGlobs: readonly string[],
): WebAssembly.Imports {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const { namespace, name, kind, qualifiedName, blocking } of importSlots(module, blockingGlobs)) {
    const value: unknown = provided[namespace]?.[name];
    if (value === undefined) throw new LinkError(`the module imports ${kind} ${qualifiedName}, which no host module provides`);
    // a function that never waits needs no backend around it (it never suspends, nor calls wasm)
    const bare = kind !== 'function' || (neverWaits(value) && !suspender.wrapsEveryImport);
    const linked = bare ? value : suspender.wrapImport(qualifiedName, value as HostFunction, blocking);
    (imports[namespace] ??= {})[name] = linked;
  }
  return imports as WebAssembly.Imports;
}
