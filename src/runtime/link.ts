// Linking a process: the import object for one instance, from the host modules' namespaces.
// Only what the module imports is wrapped (each through the suspension backend, blocking or
// not by the module's globs); a missing import is named in one clear error.
import { matchesAny } from '../blocking-imports.js';
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

export function linkImports(module: WebAssembly.Module, provided: Imports, suspender: Suspender, blockingGlobs: readonly string[]): WebAssembly.Imports {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const { module: namespace, name, kind } of WebAssembly.Module.imports(module)) {
    const qualifiedName = `${namespace}.${name}`;
    const value: unknown = provided[namespace]?.[name];
    if (value === undefined) throw new LinkError(`the module imports ${kind} ${qualifiedName}, which no host module provides`);
    const linked = kind === 'function' ? suspender.wrapImport(qualifiedName, value as HostFunction, matchesAny(qualifiedName, blockingGlobs)) : value;
    (imports[namespace] ??= {})[name] = linked;
  }
  return imports as WebAssembly.Imports;
}
