// Makes memory 0 visible to the harness. Fuzzer modules rarely export their memory, and a
// module instrumented without Asyncify does not either, yet the final memory bytes are what
// the comparison needs most. Editing the export section at byte level (rather than a binaryen
// round trip) leaves the code under test byte for byte as it was.
import { encodeU32, memoryCount, Reader, sections } from '../../src/binary.js';

const EXPORT_SECTION = 7;
/** Sections that must come after the export section (start, element, code, data, data count). */
const AFTER_EXPORTS = new Set([8, 9, 10, 11, 12]);
const MEMORY_KIND = 2;
const HARNESS_NAME = 'lunatic_fuzz_memory';

export interface MemoryAccess {
  bytes: Uint8Array;
  /** The export under which memory 0 can be read, or undefined when the module has no memory. */
  memoryExport: string | undefined;
}

interface ExportEntry {
  name: string;
  kind: number;
  index: number;
}

function readEntries(bytes: Uint8Array, payload: number): ExportEntry[] {
  const reader = new Reader(bytes, payload);
  const entries: ExportEntry[] = [];
  for (let count = reader.u32(); count > 0; count--) {
    entries.push({ name: reader.name(), kind: reader.byte(), index: reader.u32() });
  }
  return entries;
}

function encodeEntries(entries: ExportEntry[]): number[] {
  const out = encodeU32(entries.length);
  for (const entry of entries) {
    const name = new TextEncoder().encode(entry.name);
    out.push(...encodeU32(name.length), ...name, entry.kind, ...encodeU32(entry.index));
  }
  return out;
}

function splice(bytes: Uint8Array, start: number, end: number, insert: number[]): Uint8Array {
  const out = new Uint8Array(bytes.length - (end - start) + insert.length);
  out.set(bytes.subarray(0, start), 0);
  out.set(insert, start);
  out.set(bytes.subarray(end), start + insert.length);
  return out;
}

/** The module with memory 0 exported (unchanged if it already is), and the export's name. */
export function exposeMemory(bytes: Uint8Array): MemoryAccess {
  if (memoryCount(bytes) === 0) return { bytes, memoryExport: undefined };
  const all = sections(bytes);
  const existing = all.find((s) => s.id === EXPORT_SECTION);
  const entries = existing ? readEntries(bytes, existing.payload) : [];
  const exported = entries.find((e) => e.kind === MEMORY_KIND && e.index === 0);
  if (exported) return { bytes, memoryExport: exported.name };
  const payload = encodeEntries([...entries, { name: HARNESS_NAME, kind: MEMORY_KIND, index: 0 }]);
  const section = [EXPORT_SECTION, ...encodeU32(payload.length), ...payload];
  if (existing) return { bytes: splice(bytes, existing.start, existing.end, section), memoryExport: HARNESS_NAME };
  const before = all.find((s) => AFTER_EXPORTS.has(s.id));
  const at = before?.start ?? bytes.length;
  return { bytes: splice(bytes, at, at, section), memoryExport: HARNESS_NAME };
}
