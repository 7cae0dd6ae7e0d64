// Just enough of the wasm binary format to work on a module without loading binaryen: list its
// sections, find custom sections, and rewrite the memory limits. Every read is bounds-checked
// and reports a truncated or malformed module as an InputError naming the offset.
import { InputError } from './errors.js';

export const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const COMPONENT_LAYER = 1;
export const SECTION = { custom: 0, type: 1, import: 2, memory: 5, code: 10, tag: 13 } as const;
const IMPORT_KIND_TAG = 4;

export interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the payload (after the size). */
  payload: number;
  end: number;
}

export class Reader {
  /** `what` names a part of the module in messages, e.g. 'its target_features section'. */
  constructor(
    readonly bytes: Uint8Array,
    public offset = 0,
    private readonly what = '',
  ) {}

  private get subject(): string {
    return this.what ? `${this.what} ` : '';
  }

  byte(): number {
    if (this.offset >= this.bytes.length) throw new InputError(`${this.subject}is truncated at byte ${this.offset}`);
    return this.bytes[this.offset++]!;
  }

  /** An unsigned LEB128 of at most 64 bits, as a number (exact up to 2^53). */
  u32(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new InputError(`${this.subject}has a malformed LEB128 number at byte ${this.offset}`);
  }

  name(): string {
    const length = this.u32();
    const end = this.offset + length;
    if (end > this.bytes.length) throw new InputError(`${this.subject}is truncated: a name runs past the end (byte ${this.offset})`);
    const text = new TextDecoder().decode(this.bytes.subarray(this.offset, end));
    this.offset = end;
    return text;
  }
}

export function encodeU32(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

export function isWasmBinary(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && WASM_MAGIC.every((b, i) => bytes[i] === b);
}

/** The sections of a module, checking the header and that each section fits in the file. */
export function sections(bytes: Uint8Array): Section[] {
  if (!isWasmBinary(bytes)) throw new InputError('is not a WebAssembly module (bad magic number)');
  if (bytes.length < 8) throw new InputError('is truncated inside the 8-byte header');
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  // The component model keeps the magic and puts a layer of 1 in the high half of the version.
  if (bytes[6] === COMPONENT_LAYER && bytes[7] === 0)
    throw new InputError(
      'is a component (WebAssembly component model), not a core module; instrument the core module it was made from (e.g. the wasm32-wasip1 build before `wasm-tools component new`)',
    );
  if (version !== 1) throw new InputError(`has WebAssembly version ${version >>> 0}; only version 1 modules are supported`);
  const reader = new Reader(bytes, 8);
  const found: Section[] = [];
  while (reader.offset < bytes.length) {
    const start = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const payload = reader.offset;
    const end = payload + size;
    if (end > bytes.length)
      throw new InputError(`is truncated: section ${id} at byte ${start} claims ${size} bytes but only ${bytes.length - payload} remain`);
    found.push({ id, start, payload, end });
    reader.offset = end;
  }
  return found;
}

/** Bytes of the module's code section (undefined: malformed, which the caller reports). */
export function codeBytes(module: Uint8Array): number | undefined {
  try {
    const code = sections(module).find((section) => section.id === SECTION.code);
    return code ? code.end - code.payload : 0;
  } catch {
    return undefined;
  }
}

/** The payloads of the custom sections called `name`. */
export function customSections(bytes: Uint8Array, name: string): Uint8Array[] {
  const found: Uint8Array[] = [];
  for (const section of sections(bytes)) {
    if (section.id !== SECTION.custom) continue;
    const reader = new Reader(bytes, section.payload);
    if (reader.name() === name) found.push(bytes.subarray(reader.offset, section.end));
  }
  return found;
}

/** Names of all custom sections, in order. */
export function customSectionNames(bytes: Uint8Array): string[] {
  return sections(bytes)
    .filter((s) => s.id === SECTION.custom)
    .map((s) => new Reader(bytes, s.payload).name());
}

interface Limits {
  flags: number;
  initial: number;
  maximum?: number;
}

function readLimits(reader: Reader): Limits {
  const flags = reader.byte();
  const initial = reader.u32();
  return flags & 1 ? { flags, initial, maximum: reader.u32() } : { flags, initial };
}

function encodeLimits(limits: Limits): number[] {
  return [limits.flags, ...encodeU32(limits.initial), ...(limits.maximum === undefined ? [] : encodeU32(limits.maximum))];
}

/** Skips one import descriptor after its module and field names. */
export function skipImportDescriptor(reader: Reader, kind: number): void {
  switch (kind) {
    case 0:
      reader.u32();
      return; // function: type index
    case 1:
      reader.byte();
      readLimits(reader);
      return; // table: reftype, limits
    case 2:
      readLimits(reader);
      return;
    case 3:
      reader.byte();
      reader.byte();
      return; // global: valtype, mutability
    case IMPORT_KIND_TAG:
      reader.byte();
      reader.u32();
      return; // tag: attribute, type index
    default:
      throw new InputError(`has an import of unknown kind ${kind} at byte ${reader.offset - 1}`);
  }
}

/** Where memory 0's limits are: in the import section or in the memory section. */
function findMemoryLimits(bytes: Uint8Array): { section: Section; at: number } | undefined {
  for (const section of sections(bytes)) {
    const reader = new Reader(bytes, section.payload);
    if (section.id === SECTION.import) {
      const count = reader.u32();
      for (let i = 0; i < count; i++) {
        reader.name();
        reader.name();
        const kind = reader.byte();
        if (kind === 2) return { section, at: reader.offset };
        skipImportDescriptor(reader, kind);
      }
    } else if (section.id === SECTION.memory && reader.u32() > 0) {
      return { section, at: reader.offset };
    }
  }
  return undefined;
}

/**
 * Returns a copy of the module with memory 0's initial and maximum sizes raised by `pages`
 * (the maximum capped at the wasm32 limit of 65536 pages).
 */
export function raiseMemoryLimits(bytes: Uint8Array, pages: number): Uint8Array {
  const place = findMemoryLimits(bytes);
  if (!place) return bytes;
  const reader = new Reader(bytes, place.at);
  const limits = readLimits(reader);
  const raised: Limits = { ...limits, initial: limits.initial + pages };
  if (limits.maximum !== undefined) raised.maximum = Math.min(65536, limits.maximum + pages);
  const { section } = place;
  const payload = [...bytes.subarray(section.payload, place.at), ...encodeLimits(raised), ...bytes.subarray(reader.offset, section.end)];
  const out = [...encodeU32(payload.length)];
  const result = new Uint8Array(section.start + 1 + out.length + payload.length + (bytes.length - section.end));
  result.set(bytes.subarray(0, section.start + 1), 0);
  result.set(out, section.start + 1);
  result.set(payload, section.start + 1 + out.length);
  result.set(bytes.subarray(section.end), section.start + 1 + out.length + payload.length);
  return result;
}

/** Names of the features a `target_features` section declares as used (`+name`). */
export function declaredFeatures(bytes: Uint8Array): string[] {
  const [payload] = customSections(bytes, 'target_features');
  if (!payload) return [];
  const reader = new Reader(payload, 0, 'its target_features section');
  const names: string[] = [];
  for (let count = reader.u32(); count > 0; count--) {
    const prefix = reader.byte();
    const name = reader.name();
    if (prefix === 0x2b /* + */) names.push(name);
  }
  return names;
}

/** How many memories a module defines or imports. */
export function memoryCount(bytes: Uint8Array): number {
  return memoryLimitFlags(bytes).length;
}

const LIMITS_SHARED = 0x02;
const LIMITS_64 = 0x04;
const FUNC_TYPE_FORM = 0x60;

/** Memory limit flags of every memory, defined or imported. */
function memoryLimitFlags(bytes: Uint8Array): number[] {
  const flags: number[] = [];
  for (const section of sections(bytes)) {
    const reader = new Reader(bytes, section.payload);
    if (section.id === SECTION.memory) {
      for (let n = reader.u32(); n > 0; n--) flags.push(readLimits(reader).flags);
      // A corrupt count shows as a malformed module, not as many (or shared) memories.
      if (reader.offset > section.end)
        throw new InputError(`has a malformed memory section: its entries run past its end (byte ${section.end})`);
    } else if (section.id === SECTION.import) {
      for (let n = reader.u32(); n > 0; n--) {
        reader.name();
        reader.name();
        const kind = reader.byte();
        if (kind === 2) flags.push(readLimits(reader).flags);
        else skipImportDescriptor(reader, kind);
      }
    }
  }
  return flags;
}

/** Whether the module defines or imports an exception tag: it throws or catches by tag (exception handling). */
export function usesExceptionTags(bytes: Uint8Array): boolean {
  for (const section of sections(bytes)) {
    if (section.id === SECTION.tag) return true;
    if (section.id !== SECTION.import) continue;
    const reader = new Reader(bytes, section.payload);
    for (let n = reader.u32(); n > 0; n--) {
      reader.name();
      reader.name();
      const kind = reader.byte();
      if (kind === IMPORT_KIND_TAG) return true;
      skipImportDescriptor(reader, kind);
    }
  }
  return false;
}

/**
 * The first feature the module uses that we refuse, described for a user, found in the binary
 * itself: shared or 64-bit memories, and non-function (GC) types.
 */
export function refusedFeature(bytes: Uint8Array): string | undefined {
  const flags = memoryLimitFlags(bytes);
  if (flags.some((f) => f & LIMITS_SHARED)) return 'threads/shared memory (a suspended process cannot share its memory safely)';
  if (flags.some((f) => f & LIMITS_64)) return 'memory64 (64-bit memories)';
  for (const section of sections(bytes)) {
    if (section.id === SECTION.type) {
      const reader = new Reader(bytes, section.payload);
      if (reader.u32() > 0 && reader.byte() !== FUNC_TYPE_FORM) return 'garbage collection or typed function references (GC types)';
    }
  }
  return undefined;
}
