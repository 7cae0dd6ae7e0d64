// The `lunatic.instrument` custom section: what the instrumenter did to a module. Hosts read it
// to know which imports may suspend (the runtime through src/runtime/module-info.ts); the
// instrumenter reads it to refuse a second pass. The one encoder and decoder of its JSON. No Node
// modules: the browser bundle includes it.
import { customSections } from './binary.js';
import { InputError } from './errors.js';
import type { SectionOptions } from './options.js';

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
  /**
   * Every mutable global is exported as `lunatic_global_<i>` and nothing else holds state (docs/ABI.md,
   * "Process state"): a host may reset the instance for another process. Absent in older modules: false.
   */
  resettable?: boolean;
  /**
   * The module throws or catches (exception handling, counters only): a host ends its processes
   * without unwinding their stacks, which a catch_all would stop. Absent: false.
   */
  exceptions?: boolean;
  /** The remaining options the module was instrumented with. */
  options: SectionOptions;
}

export function encodeInstrumentInfo(info: InstrumentInfo): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(info));
}

export interface DecodeOptions {
  /** Accept any ABI version (to name the tool that instrumented a module, not to run it). */
  anyAbi?: boolean;
}

/** Decodes the section's payload; throws when it is not our JSON or, unless `anyAbi`, of another ABI. */
export function decodeInstrumentInfo(payload: ArrayBuffer | Uint8Array, { anyAbi = false }: DecodeOptions = {}): InstrumentInfo {
  let info: InstrumentInfo;
  try {
    info = JSON.parse(new TextDecoder().decode(payload)) as InstrumentInfo;
  } catch {
    throw new InputError(`has a ${SECTION_NAME} section that is not valid JSON; re-instrument the original module`);
  }
  if (typeof info !== 'object' || info === null || typeof info.abi !== 'number') {
    throw new InputError(`has a ${SECTION_NAME} section without an ABI version; re-instrument the original module`);
  }
  if (!anyAbi && info.abi !== ABI_VERSION) {
    throw new InputError(
      `was instrumented for ABI ${info.abi} (lunatic-instrument ${info.version}); this runtime knows ABI ${ABI_VERSION}: re-instrument it with this version`,
    );
  }
  return info;
}

/** The section's content, or undefined when the module was not instrumented. */
export function readInstrumentSection(bytes: Uint8Array, options: DecodeOptions = {}): InstrumentInfo | undefined {
  const [payload] = customSections(bytes, SECTION_NAME);
  return payload ? decodeInstrumentInfo(payload, options) : undefined;
}
