// The `lunatic.instrument` custom section: what the instrumenter did to a module. Hosts read it
// to know which imports may suspend; the instrumenter reads it to refuse a second pass.
import { customSections } from './binary.js';

export const SECTION_NAME = 'lunatic.instrument';
export const ABI_VERSION = 1;

export interface InstrumentInfo {
  abi: number;
  tool: string;
  version: string;
  reductions: boolean;
  asyncify: boolean;
  /** `module.name` globs of the imports that may suspend (Asyncify import list). */
  blockingImports: string[];
  /** Most instructions executed between two reduction checks (0 without reductions)... */
  bound: number;
  /** ...plus this many per frame while returning from a recursion (0: returns are checked). */
  returnStretch: number;
  /** Pages at the top of memory 0 reserved for the host (0 without Asyncify). */
  reservedPages: number;
  /** The remaining options the module was instrumented with. */
  options: { optimize: number; checkLimit: number; checkReturns: boolean; unrollRecursion: boolean; unrollLoops: boolean; rewindCopies: boolean; singleCopyAbove: number | null; costModel: string };
}

export function encodeInstrumentInfo(info: InstrumentInfo): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(info));
}

/** The section's content, or undefined when the module was not instrumented. */
export function readInstrumentSection(bytes: Uint8Array): InstrumentInfo | undefined {
  const [payload] = customSections(bytes, SECTION_NAME);
  if (!payload) return undefined;
  return JSON.parse(new TextDecoder().decode(payload)) as InstrumentInfo;
}
