// Process state: makes the whole state of an instance reachable from the host, so a runtime can
// reset a finished process's instance to the module's initial state for the next process (an
// instance pool) and save a waiting process as memory + globals (hibernation). docs/ABI.md,
// "Process state".
//
// Memory 0 is exported already (the reserved tail). What a host cannot reach are the module's
// own mutable globals (the C stack pointer, Asyncify's state): each is exported as
// `lunatic_global_<i>`, in the order of the module's globals (a vector global is not: JavaScript
// cannot read its value). The module is *resettable* when that is all its state: no imported
// mutable global, no mutable vector (v128) global, one memory of its own (not shared), no table
// the host cannot see or that the code changes (table.set, table.grow), no passive data segment
// the code drops (data.drop) and no start function. Exports do not slow V8's accesses to a
// module's own globals. Runs last, after every pass that adds globals. No options.
import type { Binaryen, ExpressionRef, Module } from '../ir/binaryen.js';
import type { NoOptions, Pass } from '../ir/context.js';
import { definedFunctions, moduleExports } from '../ir/module.js';
import { Walker } from '../ir/walker.js';

export const STATE_GLOBAL_PREFIX = 'lunatic_global_';

export interface ProcessState {
  /** Every piece of state is exported: a host may reset and restore instances. */
  resettable: boolean;
  /** How many mutable globals were exported. */
  globals: number;
  /** Why not resettable, for the report. */
  reason?: string;
}

const STATEFUL_KINDS = new Set(['TableSet', 'TableGrow', 'DataDrop']);

/** Finds the first instruction that changes a table or drops a data segment. */
class StatefulCodeFinder extends Walker {
  found: string | undefined;

  protected visit(_expr: ExpressionRef, kind: string): void {
    if (STATEFUL_KINDS.has(kind)) this.found ??= kind;
  }
}

function unresettableReason(binaryen: Binaryen, module: Module): string | undefined {
  if (module.getStart()) return 'it has a start function';
  if (!module.hasMemory()) return 'it has no memory';
  const memory = module.getMemoryInfo();
  if (memory.module) return 'its memory is imported';
  if (memory.shared) return 'its memory is shared';
  for (let i = 0; i < module.getNumGlobals(); i++) {
    const global = binaryen.getGlobalInfo(module.getGlobalByIndex(i));
    if (global.module && global.mutable) return `it imports the mutable global ${global.module}.${global.base}`;
    if (global.mutable && global.type === binaryen.v128) return `its mutable global ${global.name} is a vector, which a host cannot read`;
  }
  for (let i = 0; i < module.getNumTables(); i++) {
    if (binaryen.getTableInfo(module.getTableByIndex(i)).module) return 'it imports a table';
  }
  if (moduleExports(binaryen, module).some((info) => info.kind === binaryen.ExternalTable)) return 'it exports a table';
  const finder = new StatefulCodeFinder(binaryen, module);
  for (const func of definedFunctions(binaryen, module)) {
    finder.walkFunction(func);
    if (finder.found) return `its code uses ${finder.found}`;
  }
  return undefined;
}

export const processState: Pass<NoOptions, ProcessState> = {
  name: 'process-state',
  run({ binaryen, module }) {
    let globals = 0;
    for (let i = 0; i < module.getNumGlobals(); i++) {
      const global = binaryen.getGlobalInfo(module.getGlobalByIndex(i));
      // A vector's value cannot be read from JavaScript (the module is then not resettable).
      if (global.module || !global.mutable || global.type === binaryen.v128) continue;
      module.addGlobalExport(global.name, `${STATE_GLOBAL_PREFIX}${globals++}`);
    }
    const reason = unresettableReason(binaryen, module);
    return reason ? { resettable: false, globals, reason } : { resettable: true, globals };
  },
};
