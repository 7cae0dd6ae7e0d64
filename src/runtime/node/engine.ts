// V8 flags for every Node process that runs wasm processes: the package's Node entry
// (src/index.ts) and `runProgram` (so `run`) apply them, once, before any module is compiled.
//
// - A bug: Node 20's V8 (11.3) corrupts its heap when it marks concurrently while large
//   instrumented modules run and are compiled: the process dies with SIGSEGV (in a promise job,
//   or in a global load under the JS-to-wasm wrapper) or ends with its event loop empty and a
//   process that never finished (exit 13). `npm run bench:repeat -- --only quickjs` under CPU
//   load: 2 of 3 runs died, 3 of 3 with Liftoff only; with concurrent marking off, 0 of 6
//   (bench/RESULTS.md). Node 24's V8 (13.6) never did. Marking then runs on the main thread, in
//   small steps: wasm processes make little JS garbage, and instrumenting QuickJS took as long.
// - A tuning: V8 up to 11.3 (Node 20) gives a function past some size the fast, simple register
//   allocator of its mid tier rather than TurboFan's own, and instrumented interpreters cross that
//   line (the counter and the fast copy's tests make their dispatch functions larger): their
//   optimized code then spills and reloads the loop's values at every turn. With TurboFan's
//   allocator for all functions, the later runs of QuickJS's default build took 101-109 ms
//   against 144-150 ms, counters only 88-91 against 102-104 (the uninstrumented program 75-78
//   either way), SQLite's 17-18% less; V8 compiles the largest functions more slowly, so a first
//   run is 5-25% longer and compilation peaks higher (bench/RESULTS.md). Later V8s dropped that
//   allocator (Node 24 does not know the flag).
// A flag the command line already sets, either way, is left as the user put it.
import { setFlagsFromString } from 'node:v8';

interface EngineSetting {
  /** The flag as set, e.g. `--no-concurrent-marking`. */
  flag: string;
  /** Whether a V8 of this major and minor version needs it (and knows it). */
  appliesTo(major: number, minor: number): boolean;
}

/** The first V8 major version not known to need it (Node 24 has 13; Node 22's 12 is untested, so it gets it too). */
const MARKING_FIXED_IN_MAJOR = 13;

const SETTINGS: readonly EngineSetting[] = [
  { flag: '--no-concurrent-marking', appliesTo: (major) => major < MARKING_FIXED_IN_MAJOR },
  {
    flag: '--no-turbo-use-mid-tier-regalloc-for-huge-functions',
    // Verified on 11.3 (Node 20); V8 12 and later reject the flag as unknown.
    appliesTo: (major, minor) => major < 11 || (major === 11 && minor <= 3),
  },
];

/**
 * The flags this package sets on a V8 of this version (`process.versions.v8`), less those the
 * command line (`execArgv`) sets either way.
 */
export function engineFlags(v8Version: string, execArgv: readonly string[] = []): string[] {
  const [major, minor] = v8Version.split('.').map((part) => Number.parseInt(part, 10)) as [number, number];
  if (!(Number.isFinite(major) && Number.isFinite(minor))) return [];
  const chosen = new Set(execArgv.filter((arg) => arg.startsWith('--')).map(flagName));
  return SETTINGS.filter((setting) => setting.appliesTo(major, minor) && !chosen.has(flagName(setting.flag))).map(
    (setting) => setting.flag,
  );
}

/** A flag's name without its `--` or `--no-`, its value, and with `_` as `-`: the same flag either way. */
function flagName(flag: string): string {
  return flag
    .replace(/^--(no-)?/, '')
    .replace(/=.*$/, '')
    .replaceAll('_', '-');
}

let applied: string[] | undefined;

/** Sets this package's V8 flags, once per process (they are process-wide, worker threads included). Returns them. */
export function prepareEngine(): string[] {
  if (applied) return applied;
  applied = engineFlags(process.versions.v8, process.execArgv);
  for (const flag of applied) setFlagsFromString(flag);
  return applied;
}
