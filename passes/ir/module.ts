// What a module defines and exports, read once here for every pass: its own functions (imports
// excluded), its exports, and the functions the host can enter it by (exports and start).
import type { Binaryen, FunctionRef, Module } from './binaryen.js';

/** The functions a module defines (imports excluded), as refs. */
export function definedFunctions(binaryen: Binaryen, module: Module): FunctionRef[] {
  const funcs: FunctionRef[] = [];
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const func = module.getFunctionByIndex(i);
    if (!binaryen.getFunctionInfo(func).module) funcs.push(func);
  }
  return funcs;
}

/** Every export of the module (name, kind and the internal name it exports), in order. */
export function moduleExports(binaryen: Binaryen, module: Module): ReturnType<Binaryen['getExportInfo']>[] {
  return Array.from({ length: module.getNumExports() }, (_, i) => binaryen.getExportInfo(module.getExportByIndex(i)));
}

/** The internal names of the exported functions, in export order. */
export function exportedFunctions(binaryen: Binaryen, module: Module): string[] {
  return moduleExports(binaryen, module)
    .filter((info) => info.kind === binaryen.ExternalFunction)
    .map((info) => info.value);
}

/** The function a WASI command exports as `_start`, which a host calls once per run; undefined in a reactor. */
export function commandEntry(binaryen: Binaryen, module: Module): string | undefined {
  return moduleExports(binaryen, module).find((info) => info.kind === binaryen.ExternalFunction && info.name === '_start')?.value;
}

/** Where the host can enter the module: its exported functions, then its start function. */
export function entryPoints(binaryen: Binaryen, module: Module): string[] {
  const start = module.getStart();
  return [...exportedFunctions(binaryen, module), ...(start ? [binaryen.getFunctionInfo(start).name] : [])];
}
