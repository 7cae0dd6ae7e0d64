// Which exported functions can start a spawned process, and how to pass them the spawn
// argument: `f()`, `f(i32)` or `f(i64)`. The JS API cannot tell a function's type, so this
// reads the type, import, function and export sections of the module bytes.
import { Reader, SECTION, sections } from '../../binary.js';

export type EntryParam = 'none' | 'i32' | 'i64';

const SECTION_FUNCTION = 3;
const SECTION_EXPORT = 7;
const FUNC_TYPE = 0x60;
const VALTYPES: Record<number, EntryParam> = { 0x7f: 'i32', 0x7e: 'i64' };
const EXPORT_FUNCTION = 0;

/** Function types as lists of parameter kinds; undefined for anything but one i32/i64 or none. */
function readTypes(reader: Reader): Array<EntryParam | undefined> {
  const types: Array<EntryParam | undefined> = [];
  for (let count = reader.u32(); count > 0; count--) {
    if (reader.byte() !== FUNC_TYPE) return types; // GC type groups: no entry of ours uses them
    const params = Array.from({ length: reader.u32() }, () => reader.byte());
    for (let results = reader.u32(); results > 0; results--) reader.byte();
    types.push(params.length === 0 ? 'none' : params.length === 1 ? VALTYPES[params[0]!] : undefined);
  }
  return types;
}

/** Exported function name -> how it takes the spawn argument (only usable entries are listed). */
export function entryParams(bytes: Uint8Array, module: WebAssembly.Module): Map<string, EntryParam> {
  const importedFunctions = WebAssembly.Module.imports(module).filter((entry) => entry.kind === 'function').length;
  let types: Array<EntryParam | undefined> = [];
  let functionTypes: number[] = [];
  const entries = new Map<string, EntryParam>();
  for (const section of sections(bytes)) {
    const reader = new Reader(bytes, section.payload);
    if (section.id === SECTION.type) types = readTypes(reader);
    else if (section.id === SECTION_FUNCTION) functionTypes = Array.from({ length: reader.u32() }, () => reader.u32());
    else if (section.id === SECTION_EXPORT) {
      for (let count = reader.u32(); count > 0; count--) {
        const name = reader.name();
        const kind = reader.byte();
        const index = reader.u32();
        if (kind !== EXPORT_FUNCTION || index < importedFunctions) continue;
        const param = types[functionTypes[index - importedFunctions]!];
        if (param) entries.set(name, param);
      }
    }
  }
  return entries;
}

/** The spawn argument as the entry function takes it. */
export function entryArgs(param: EntryParam, arg: bigint): unknown[] {
  if (param === 'none') return [];
  return param === 'i64' ? [BigInt.asIntN(64, arg)] : [Number(BigInt.asIntN(32, arg))];
}
