// A V8 bug of a Node version we support, worked around for every Node process that runs wasm
// processes: the package's Node entry (src/index.ts) and the `run` command apply it.
//
// Node 20's V8 (11.3) corrupts its heap when it marks concurrently while large instrumented
// modules run and are compiled: the process dies with SIGSEGV (in a promise job, or in a global
// load under the JS-to-wasm wrapper) or ends with its event loop empty and a process that never
// finished (exit 13). `npm run bench:repeat -- --only quickjs` under CPU load: 2 of 3 runs died,
// 3 of 3 with Liftoff only; with concurrent marking off, 0 of 6 (bench/RESULTS.md). Node 24's V8
// (13.6) never did. Marking then runs on the main thread, in small steps: wasm processes make
// little JS garbage, and instrumenting QuickJS took as long either way.
import { setFlagsFromString } from 'node:v8';

/** The first V8 major version not known to need it (Node 24 has 13; Node 22's 12 is untested, so it gets it too). */
const FIXED_IN_V8_MAJOR = 13;

/** Whether this V8 (`process.versions.v8`) needs concurrent marking turned off. */
export function needsMarkingWorkaround(v8Version: string): boolean {
  const major = Number.parseInt(v8Version, 10);
  return Number.isFinite(major) && major < FIXED_IN_V8_MAJOR;
}

let applied = false;

/**
 * Turns V8's concurrent marking off where it needs to be; once per process (the flag is
 * process-wide, worker threads included). Returns whether it is off.
 */
export function avoidEngineBugs(v8Version = process.versions.v8): boolean {
  if (applied || !needsMarkingWorkaround(v8Version)) return applied;
  setFlagsFromString('--no-concurrent-marking');
  applied = true;
  return true;
}
