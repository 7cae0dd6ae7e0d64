// What the refusals need to know about a module, read from its raw bytes in one pass over the
// section headers (no binaryen): its export and import names, the names its name section gives
// functions and globals, and the size of its code. On a 30 MB module this takes milliseconds,
// where binaryen's reading alone takes tens of seconds.
import { Reader, SECTION, type Section, sections, skipImportDescriptor } from './binary.js';

const EXPORT_SECTION = 7;
const NAME_SUBSECTION = { functions: 1, globals: 7 } as const;

export interface ModuleScan {
  exports: string[];
  /** `module.name` of every import. */
  imports: string[];
  /** Function and global names of the name section, if any. */
  functionNames: string[];
  globalNames: string[];
  /** Bytes of function bodies (the code section's payload). */
  codeBytes: number;
  definedFunctions: number;
}

function readExports(bytes: Uint8Array, section: Section): string[] {
  const reader = new Reader(bytes, section.payload, 'its export section');
  const names: string[] = [];
  for (let count = reader.u32(); count > 0; count--) {
    names.push(reader.name());
    reader.byte(); // kind
    reader.u32(); // index
  }
  return names;
}

function readImports(bytes: Uint8Array, section: Section): string[] {
  const reader = new Reader(bytes, section.payload, 'its import section');
  const names: string[] = [];
  for (let count = reader.u32(); count > 0; count--) {
    const module = reader.name();
    names.push(`${module}.${reader.name()}`);
    skipImportDescriptor(reader, reader.byte());
  }
  return names;
}

/** The names of one name-map subsection (index, name pairs). */
function readNameMap(reader: Reader, end: number): string[] {
  const names: string[] = [];
  for (let count = reader.u32(); count > 0 && reader.offset < end; count--) {
    reader.u32();
    names.push(reader.name());
  }
  return names;
}

/** Function and global names of a name section; a malformed one counts as none (it is only a hint). */
function readNameSection(bytes: Uint8Array, payload: number, end: number): { functions: string[]; globals: string[] } {
  const found = { functions: [] as string[], globals: [] as string[] };
  try {
    const reader = new Reader(bytes.subarray(0, end), payload);
    while (reader.offset < end) {
      const id = reader.byte();
      const size = reader.u32();
      const next = reader.offset + size;
      if (id === NAME_SUBSECTION.functions) found.functions = readNameMap(reader, next);
      else if (id === NAME_SUBSECTION.globals) found.globals = readNameMap(reader, next);
      reader.offset = next;
    }
  } catch {
    // keep what was read
  }
  return found;
}

export function scanModule(bytes: Uint8Array): ModuleScan {
  const scan: ModuleScan = { exports: [], imports: [], functionNames: [], globalNames: [], codeBytes: 0, definedFunctions: 0 };
  for (const section of sections(bytes)) {
    if (section.id === EXPORT_SECTION) scan.exports = readExports(bytes, section);
    else if (section.id === SECTION.import) scan.imports = readImports(bytes, section);
    else if (section.id === SECTION.code) {
      scan.codeBytes = section.end - section.payload;
      scan.definedFunctions = new Reader(bytes, section.payload, 'its code section').u32();
    } else if (section.id === SECTION.custom) {
      const reader = new Reader(bytes, section.payload);
      if (reader.name() !== 'name') continue;
      const names = readNameSection(bytes, reader.offset, section.end);
      scan.functionNames = names.functions;
      scan.globalNames = names.globals;
    }
  }
  return scan;
}
