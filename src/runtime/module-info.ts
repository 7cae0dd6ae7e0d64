// What a compiled module says about itself: its `lunatic.instrument` section (docs/ABI.md),
// decoded by src/section.ts.
import { decodeInstrumentInfo, type InstrumentInfo, SECTION_NAME } from '../section.js';

export type { InstrumentInfo };

const known = new WeakMap<WebAssembly.Module, InstrumentInfo | undefined>();

/**
 * The parsed section, undefined for a plain module; throws on an ABI this runtime does not know.
 * Read once per module: every process of a module asks.
 */
export function instrumentInfoOf(module: WebAssembly.Module): InstrumentInfo | undefined {
  if (known.has(module)) return known.get(module);
  const info = readInfo(module);
  known.set(module, info);
  return info;
}

function readInfo(module: WebAssembly.Module): InstrumentInfo | undefined {
  const [section] = WebAssembly.Module.customSections(module, SECTION_NAME);
  if (!section) return undefined;
  try {
    return decodeInstrumentInfo(section);
  } catch (error) {
    throw new Error(`the module ${(error as Error).message}`);
  }
}
