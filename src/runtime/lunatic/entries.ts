// Which functions can start a spawned process, read from the module bytes (the JS API cannot
// tell a function's type): exported functions `f()`, `f(i32)` or `f(i64)` (lunatic_spawn, by
// name), and the entries of table 0 holding a `(i64) -> ()` function (lunatic_spawn_fn, a
// function pointer), which a child reaches through the module's TABLE_ENTRY_EXPORT.
import { Reader, SECTION, sections, skipImportDescriptor } from '../../binary.js';

export type EntryParam = 'none' | 'i32' | 'i64';

/**
 * The export a process spawned by table index starts with: `(i32 index, i64 arg) -> ()`, calling
 * table entry `index` with `arg`. The guest defines it (include/lunatic.h, the Rust crate), so
 * the linker wraps it like every export of a command module (constructors before, stdio
 * flushed after). docs/ABI.md.
 */
export const TABLE_ENTRY_EXPORT = 'lunatic_run_table_entry';

const SECTION_FUNCTION = 3;
const SECTION_EXPORT = 7;
const SECTION_ELEMENT = 9;
const FUNC_TYPE = 0x60;
const EXPORT_FUNCTION = 0;
const IMPORT_FUNCTION = 0;
const I32 = 0x7f;
const I64 = 0x7e;
const OP_END = 0x0b;
const OP_I32_CONST = 0x41;
const OP_REF_FUNC = 0xd2;
const OP_REF_NULL = 0xd0;

/** A function type: its parameter and result value types (type bytes). */
interface Signature {
  params: number[];
  results: number[];
}

/** What the module says about its functions: their types (imports first), exports and table 0. */
interface ModuleFunctions {
  importedCount: number;
  signatures: Array<Signature | undefined>;
  exports: Map<string, number>;
  /** Table 0 as the element segments fill it: table index -> function index. */
  table: Map<number, number>;
}

function readTypes(reader: Reader): Array<Signature | undefined> {
  const types: Array<Signature | undefined> = [];
  for (let count = reader.u32(); count > 0; count--) {
    if (reader.byte() !== FUNC_TYPE) return types; // GC type groups: no entry of ours uses them
    const params = Array.from({ length: reader.u32() }, () => reader.byte());
    const results = Array.from({ length: reader.u32() }, () => reader.byte());
    types.push({ params, results });
  }
  return types;
}

/** The type indices of the imported functions, in order. */
function readImportedFunctionTypes(reader: Reader): number[] {
  const typeIndices: number[] = [];
  for (let count = reader.u32(); count > 0; count--) {
    reader.name();
    reader.name();
    const kind = reader.byte();
    if (kind === IMPORT_FUNCTION) typeIndices.push(reader.u32());
    else skipImportDescriptor(reader, kind);
  }
  return typeIndices;
}

function readExports(reader: Reader): Map<string, number> {
  const exports = new Map<string, number>();
  for (let count = reader.u32(); count > 0; count--) {
    const name = reader.name();
    const kind = reader.byte();
    const index = reader.u32();
    if (kind === EXPORT_FUNCTION) exports.set(name, index);
  }
  return exports;
}

/** A signed LEB128 of at most 32 bits. */
function readS32(reader: Reader): number {
  let result = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = reader.byte();
    result |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80 && shift < 35);
  return shift < 32 && byte & 0x40 ? result | (-1 << shift) : result;
}

/** A constant expression `i32.const N` (an offset), `ref.func F` or `ref.null T`; undefined for anything else. */
function readConstant(reader: Reader): { value: number | null } | undefined {
  const opcode = reader.byte();
  let value: number | null;
  if (opcode === OP_I32_CONST) value = readS32(reader);
  else if (opcode === OP_REF_FUNC) value = reader.u32();
  else if (opcode === OP_REF_NULL) {
    reader.byte();
    value = null;
  } else return undefined;
  return reader.byte() === OP_END ? { value } : undefined;
}

/**
 * Table 0 as the active element segments fill it at instantiation. Reading stops at the first
 * segment it cannot follow (an offset from a global: position-independent code), so the table
 * entries listed are those known for certain.
 */
function readTable(reader: Reader): Map<number, number> {
  const table = new Map<number, number>();
  for (let count = reader.u32(); count > 0; count--) {
    const flags = reader.u32();
    const active = (flags & 1) === 0;
    const tableIndex = active && flags & 2 ? reader.u32() : 0;
    const offset = active ? readConstant(reader) : { value: 0 };
    if (offset === undefined || offset.value === null) return table;
    if (flags & 3) reader.byte(); // element kind or reference type
    const items = reader.u32();
    for (let i = 0; i < items; i++) {
      const item = flags & 4 ? readConstant(reader) : { value: reader.u32() };
      if (item === undefined) return table;
      if (!active || tableIndex !== 0) continue;
      if (item.value === null) table.delete(offset.value + i);
      else table.set(offset.value + i, item.value);
    }
  }
  return table;
}

function readModuleFunctions(bytes: Uint8Array): ModuleFunctions {
  let types: Array<Signature | undefined> = [];
  let importedTypes: number[] = [];
  let definedTypes: number[] = [];
  let exports = new Map<string, number>();
  let table = new Map<number, number>();
  for (const section of sections(bytes)) {
    const reader = new Reader(bytes, section.payload);
    if (section.id === SECTION.type) types = readTypes(reader);
    else if (section.id === SECTION.import) importedTypes = readImportedFunctionTypes(reader);
    else if (section.id === SECTION_FUNCTION) definedTypes = Array.from({ length: reader.u32() }, () => reader.u32());
    else if (section.id === SECTION_EXPORT) exports = readExports(reader);
    else if (section.id === SECTION_ELEMENT) table = readTable(reader);
  }
  const signatures = [...importedTypes, ...definedTypes].map((type) => types[type]);
  return { importedCount: importedTypes.length, signatures, exports, table };
}

function entryParamOf(signature: Signature | undefined): EntryParam | undefined {
  if (!signature || signature.params.length > 1) return undefined;
  const [param] = signature.params;
  return param === undefined ? 'none' : param === I32 ? 'i32' : param === I64 ? 'i64' : undefined;
}

const isSignature = (signature: Signature | undefined, params: number[]) =>
  signature !== undefined &&
  signature.results.length === 0 &&
  signature.params.length === params.length &&
  params.every((type, i) => signature.params[i] === type);

export interface SpawnableFunctions {
  /** Exported function name -> how it takes the spawn argument (only usable entries are listed). */
  entries: Map<string, EntryParam>;
  /** Indices of table 0 holding a `(i64) -> ()` function; undefined when the module lacks TABLE_ENTRY_EXPORT. */
  tableEntries: Set<number> | undefined;
}

export function spawnableFunctions(bytes: Uint8Array): SpawnableFunctions {
  const { importedCount, signatures, exports, table } = readModuleFunctions(bytes);
  const entries = new Map<string, EntryParam>();
  for (const [name, index] of exports) {
    const param = index < importedCount ? undefined : entryParamOf(signatures[index]);
    if (param) entries.set(name, param);
  }
  const trampoline = exports.get(TABLE_ENTRY_EXPORT);
  if (trampoline === undefined || !isSignature(signatures[trampoline], [I32, I64])) return { entries, tableEntries: undefined };
  const tableEntries = new Set<number>();
  for (const [slot, index] of table) if (isSignature(signatures[index], [I64])) tableEntries.add(slot);
  return { entries, tableEntries };
}

/** The spawn argument as the entry function takes it. */
export function entryArgs(param: EntryParam, arg: bigint): unknown[] {
  if (param === 'none') return [];
  return param === 'i64' ? [BigInt.asIntN(64, arg)] : [Number(BigInt.asIntN(32, arg))];
}
