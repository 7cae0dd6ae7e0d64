// What the harness calls, provides and compares in a module: its exported functions with their
// signatures (the JS API does not reflect types on Node 20, and i64 needs BigInt arguments),
// its imported globals (newer fuzzers import some) and its exported globals. Read once from
// the original module with binaryen.js.
import type { Binaryen } from '../../passes/ir/binaryen.js';
import { loadBinaryen } from '../../src/binaryen.js';

export type ValueKind = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'externref' | 'funcref' | 'ref';

export interface ExportedFunction {
  name: string;
  params: ValueKind[];
}

export interface ImportedGlobal {
  module: string;
  name: string;
  kind: ValueKind;
  mutable: boolean;
}

export interface ModuleExports {
  /** In export order: `fuzzing-support.call-export` indexes this list. */
  functions: ExportedFunction[];
  globals: string[];
  importedGlobals: ImportedGlobal[];
}

function kindOf(binaryen: Binaryen, type: number): ValueKind {
  if (type === binaryen.i32) return 'i32';
  if (type === binaryen.i64) return 'i64';
  if (type === binaryen.f32) return 'f32';
  if (type === binaryen.f64) return 'f64';
  if (type === binaryen.v128) return 'v128';
  if (type === binaryen.externref) return 'externref';
  if (type === binaryen.funcref) return 'funcref';
  return 'ref';
}

export async function readExports(bytes: Uint8Array): Promise<ModuleExports> {
  const binaryen = await loadBinaryen();
  const module = binaryen.readBinary(bytes);
  try {
    const result: ModuleExports = { functions: [], globals: [], importedGlobals: [] };
    for (let i = 0; i < module.getNumGlobals(); i++) {
      const info = binaryen.getGlobalInfo(module.getGlobalByIndex(i));
      if (info.module)
        result.importedGlobals.push({
          module: info.module,
          name: info.base ?? '',
          kind: kindOf(binaryen, info.type),
          mutable: info.mutable,
        });
    }
    for (let i = 0; i < module.getNumExports(); i++) {
      const info = binaryen.getExportInfo(module.getExportByIndex(i));
      if (info.kind === binaryen.ExternalGlobal) result.globals.push(info.name);
      if (info.kind !== binaryen.ExternalFunction) continue;
      const fn = binaryen.getFunctionInfo(module.getFunction(info.value));
      result.functions.push({ name: info.name, params: binaryen.expandType(fn.params).map((t) => kindOf(binaryen, t)) });
    }
    return result;
  } finally {
    module.dispose();
  }
}
