// Inputs refused before binaryen reads them, from the raw bytes: malformed modules, components
// (binary.ts), refused features, modules instrumented already or already run through Asyncify,
// several memories with Asyncify, and inputs too large to instrument in the time the user allows.
// Each refusal is one InputError saying what is wrong and what to do; all of them together take
// milliseconds even on a 30 MB module, where binaryen would work for many minutes first.
import { memoryCount, refusedFeature, usesExceptionTags } from './binary.js';
import { InputError } from './errors.js';
import { type ModuleScan, scanModule } from './module-scan.js';
import { readInstrumentSection } from './section.js';

/** What binaryen's Asyncify leaves in a module: its runtime functions and its two globals. */
const ASYNCIFY_FUNCTIONS = [
  'asyncify_start_unwind',
  'asyncify_stop_unwind',
  'asyncify_start_rewind',
  'asyncify_stop_rewind',
  'asyncify_get_state',
];
const ASYNCIFY_GLOBALS = ['__asyncify_state', '__asyncify_data'];

/**
 * Instrumentation time per MB of code, used to refuse inputs that would take too long. Measured on
 * this project's machine (2 cores, Node 20): yosys (28 MB of C++, 34,000 functions) in 9-11
 * minutes, about 20-24 s per MB, and SQLite (1 MB) at 15 s: roughly linear since check placement
 * stopped growing with the product of a call cycle's calls and targets. Rounded up.
 */
export const SECONDS_PER_CODE_MB = 25;

export interface RefusalOptions {
  asyncify: boolean;
  /** Minutes the instrumentation may be estimated to take (0: no limit). */
  timeLimit: number;
}

/** How a module shows it already went through Asyncify, or undefined. */
export function asyncifyEvidence(scan: ModuleScan): string | undefined {
  const exported = scan.exports.find((name) => ASYNCIFY_FUNCTIONS.includes(name) || ASYNCIFY_GLOBALS.includes(name));
  if (exported) return `it exports ${exported}`;
  const imported = scan.imports.find((name) => ASYNCIFY_GLOBALS.some((global) => name.endsWith(`.${global}`)));
  if (imported) return `it imports ${imported}`;
  const named = [...scan.functionNames, ...scan.globalNames].find(
    (name) => ASYNCIFY_FUNCTIONS.includes(name) || ASYNCIFY_GLOBALS.includes(name),
  );
  return named ? `its name section has ${named}` : undefined;
}

/**
 * Why a module that throws or catches is not given Asyncify, and what to do. A frame resumed in a
 * catch cannot be re-entered (only a throw enters a catch), and C++ handlers print (fd_write may
 * suspend). The reduction checks alone follow exceptions (check-placement.ts).
 */
export const EXCEPTIONS_WITH_ASYNCIFY =
  'uses exception handling, which Asyncify cannot suspend (a resumed frame cannot re-enter a catch); instrument it with --no-asyncify and run it on a JSPI host (Node 24 or later, where `lunatic-instrument run` does so)';

/** Estimated minutes to instrument a module with this much code. */
export function estimatedMinutes(codeBytes: number): number {
  return ((codeBytes / 1e6) * SECONDS_PER_CODE_MB) / 60;
}

/** Throws the InputError of the first reason not to instrument this module. */
export function refuseEarly(bytes: Uint8Array, { asyncify, timeLimit }: RefusalOptions): void {
  const scan = scanModule(bytes); // also checks the header and that every section fits
  const refused = refusedFeature(bytes);
  if (refused) throw new InputError(`uses ${refused}, which lunatic-instrument does not support; rebuild without it`);
  const info = readInstrumentSection(bytes, { anyAbi: true });
  if (info) throw new InputError(`is already instrumented (by lunatic-instrument ${info.version}); instrument the original module instead`);
  const evidence = asyncifyEvidence(scan);
  if (evidence)
    throw new InputError(
      `already went through Asyncify (${evidence}), which cannot be applied twice; instrument the module as built before Asyncify (without wasm-opt --asyncify)`,
    );
  if (asyncify && usesExceptionTags(bytes)) throw new InputError(EXCEPTIONS_WITH_ASYNCIFY);
  if (asyncify && memoryCount(bytes) > 1)
    throw new InputError('has several memories; Asyncify here supports one, so instrument with --no-asyncify and run it on a JSPI host');
  const minutes = estimatedMinutes(scan.codeBytes);
  if (timeLimit > 0 && minutes > timeLimit) {
    const size = `${(scan.codeBytes / 1e6).toFixed(1)} MB of code in ${scan.definedFunctions} functions`;
    throw new InputError(
      `has ${size}: instrumenting it is estimated at ${Math.round(minutes)} minutes (${SECONDS_PER_CODE_MB} s per MB), over --time-limit ${timeLimit}; pass --time-limit 0 to go ahead anyway`,
    );
  }
}
