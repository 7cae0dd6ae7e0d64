// Function names for trap reports, read from the module's `name` custom section. V8 prints
// `wasm-function[N]` for functions it has no name for; with this table the report shows the
// name wherever the module carries one, and the index otherwise.

const FUNCTION_NAMES_SUBSECTION = 1;

/** A little LEB128 reader over one custom section. */
class Reader {
  offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.bytes[this.offset++];
      if (byte === undefined) throw new RangeError('truncated name section');
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }

  string(): string {
    const length = this.u32();
    const text = new TextDecoder().decode(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return text;
  }
}

function readFunctionNames(section: Uint8Array): Map<number, string> {
  const names = new Map<number, string>();
  const reader = new Reader(section);
  while (!reader.done) {
    const id = reader.u32();
    const size = reader.u32();
    const end = reader.offset + size;
    if (id === FUNCTION_NAMES_SUBSECTION) {
      for (let count = reader.u32(); count > 0; count--) {
        const index = reader.u32();
        names.set(index, reader.string());
      }
    }
    reader.offset = end;
  }
  return names;
}

/**
 * A name binaryen gave a function the input left unnamed: its number among the defined functions,
 * with the suffix of a copy the instrumenter made (`2$rewind` is a copy of defined function 2).
 */
const NUMBERED = /^(\d+)(\$.*)?$/;

/**
 * Names the copies of an unnamed function as V8 names the function itself, `wasm-function[N]`
 * with N its index in this module (the defined functions keep their order; imports come first),
 * so that a report can tell a copy's frame from its function's and show both alike.
 */
function numberedAsV8Does(names: Map<number, string>, module: WebAssembly.Module): Map<number, string> {
  const imports = WebAssembly.Module.imports(module).filter((entry) => entry.kind === 'function').length;
  for (const [index, name] of names) {
    const numbered = NUMBERED.exec(name);
    if (numbered) names.set(index, `wasm-function[${imports + Number(numbered[1])}]${numbered[2] ?? ''}`);
  }
  return names;
}

const cache = new WeakMap<WebAssembly.Module, Map<number, string>>();

/** Function index -> name, from the name section (empty when there is none or it is malformed). */
export function functionNames(module: WebAssembly.Module): Map<number, string> {
  let names = cache.get(module);
  if (!names) {
    const [section] = WebAssembly.Module.customSections(module, 'name');
    try {
      names = section ? numberedAsV8Does(readFunctionNames(new Uint8Array(section)), module) : new Map();
    } catch {
      names = new Map();
    }
    cache.set(module, names);
  }
  return names;
}
