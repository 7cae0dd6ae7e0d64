// V8 tuning for one instrument command. binaryen.js is some 10 MB of wasm; by default V8 compiles
// it quickly (Liftoff) and then again, optimized (TurboFan), on background threads. A small module
// is instrumented before the optimized code pays off, so that second compilation is pure cost in
// time and peak memory. A large module runs binaryen long enough to need the optimized code. Only the instrument command may do this: the flag is process-wide, and
// `run` executes the user's program in the same process.
import { setFlagsFromString } from 'node:v8';
import { SECTION, sections } from '../binary.js';

/** Below this much code, binaryen finishes before optimized compilation of itself pays off. */
const QUICK_START_CODE_BYTES = 128 * 1024;

/** Bytes of the module's code section (undefined: malformed, which instrument() reports). */
export function codeBytes(module: Uint8Array): number | undefined {
  try {
    const code = sections(module).find((section) => section.id === SECTION.code);
    return code ? code.end - code.payload : 0;
  } catch {
    return undefined; // malformed: instrument() reports it, with the file name
  }
}

/** Whether instrumenting this module is over before optimized code for binaryen would pay off. */
export function isQuickJob(module: Uint8Array): boolean {
  const size = codeBytes(module);
  return size !== undefined && size < QUICK_START_CODE_BYTES;
}

/** Call before binaryen is loaded: its compilation follows the flags in force at that moment. */
export function tuneEngineFor(module: Uint8Array): void {
  if (isQuickJob(module)) setFlagsFromString('--liftoff-only');
}
