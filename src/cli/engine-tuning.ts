// V8 tuning for one command. binaryen.js is some 10 MB of wasm; by default V8 compiles
// it quickly (Liftoff) and then again, optimized (TurboFan), on background threads. Measured on
// 2 cores, that second compilation does not pay off up to the largest bench inputs (0.93 MB of
// code, SQLite: 26-27 s with Liftoff only against 31-33 s; QuickJS and Eigen+JSON as fast or
// faster), and it costs 60-70 MiB of peak memory (bench/RESULTS.md). Past a few MB of code binaryen
// runs for many minutes, where optimized code should win: those inputs keep the default. The
// instrument command does this on its own; `run` only when asked (`--no-tier-up`), the flag being
// process-wide and the user's program running in the same process. The instrument command also
// keeps V8's heap small (memoryTuning).
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { codeBytes } from '../binary.js';
import { type ProgressListener, WRITING_PHASE } from '../../passes/ir/progress.js';
import { collectGarbage } from '../out-of-memory.js';

/** Below this much code, binaryen runs as fast on its Liftoff code as on its optimized code (about twice the largest measured). */
const QUICK_START_CODE_BYTES = 2 * 1024 * 1024;

/** Whether instrumenting this module is over before optimized code for binaryen would pay off. */
export function isQuickJob(module: Uint8Array): boolean {
  const size = codeBytes(module);
  return size !== undefined && size < QUICK_START_CODE_BYTES;
}

/**
 * Call before binaryen is loaded: its compilation follows the flags in force at that moment.
 * `--liftoff-only` alone, set while running, holds on Node 20 but not on Node 24 (see
 * BASELINE_CODE_ONLY), where binaryen so keeps its optimized code: with the whole set, QuickJS
 * took 10% longer to instrument there (7.4-7.6 s against 6.7-6.8 s) for 19% less peak memory.
 */
export function tuneEngineFor(module: Uint8Array): void {
  if (isQuickJob(module)) setFlagsFromString('--liftoff-only');
}

/**
 * V8's flags for wasm in its baseline code only. `--liftoff-only` alone is enough at start-up, where
 * V8 derives the other two from it; set while running (setFlagsFromString), it is not on Node 24,
 * which went on compiling optimized code.
 */
const BASELINE_CODE_ONLY = '--liftoff-only --no-wasm-tier-up --no-wasm-dynamic-tiering';

/**
 * Keeps every wasm module compiled from now on in V8's baseline code (Liftoff): `run --no-tier-up`.
 * A one-second command's optimized compiles cost more than they save, and Node waits at exit for
 * those still running; a long computation runs 1.5-2x slower without them (bench/RESULTS.md).
 */
export function keepBaselineCode(): void {
  setFlagsFromString(BASELINE_CODE_ONLY);
}

/**
 * The young generation's size (both semi-spaces) past which it stops growing. V8 doubles it, up
 * to two 16 MB semi-spaces, while much of what it holds survives, as our passes' analyses do. Its
 * largest size is fixed when the process starts (`--max-semi-space-size`), but the factor it grows
 * by is read at each growth. 8 MB: 22 MB less peak memory on QuickJS, for about 0.2 s more of
 * scavenges.
 */
const YOUNG_GENERATION_CAP = 8 * 1024 * 1024;

/**
 * A progress listener for one instrument command that holds V8's heap down, measured by the peak
 * memory of the whole command (bench/RESULTS.md): for a quick job it stops the young generation's
 * growth at YOUNG_GENERATION_CAP (checked at each step, well before the next doubling), and it
 * collects the garbage of the passes' analyses before binaryen writes the module out, where the
 * peak is: 10 MB less on QuickJS, for one full collection. A large job keeps the default young
 * generation: beside a heap of gigabytes 8 MB of it meant scavenges so frequent that yosys (28 MB
 * of code) took 11 minutes instead of 9, for no memory that shows at its 3 GB.
 */
export function memoryTuning(quick: boolean): ProgressListener {
  let capped = !quick;
  let collected = false;
  return (phase) => {
    if (!capped && (getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0) >= YOUNG_GENERATION_CAP) {
      setFlagsFromString('--semi-space-growth-factor=1');
      capped = true;
    }
    if (!collected && phase === WRITING_PHASE) {
      collectGarbage();
      collected = true;
    }
  };
}
