// V8 flags for every Node process that runs wasm processes: the package's Node entry
// (src/index.ts) and `runProgram` (so `run`) apply them, once, before any module is compiled.
// They are process-wide: a program that imports the package gets them too.
//
// - Set, against a bug: Node 20's V8 (11.3) corrupts its heap when it marks concurrently while large
//   instrumented modules run and are compiled: the process dies with SIGSEGV (in a promise job,
//   or in a global load under the JS-to-wasm wrapper) or ends with its event loop empty and a
//   process that never finished (exit 13). `npm run bench:repeat -- --only quickjs` under CPU
//   load: 2 of 3 runs died, 3 of 3 with Liftoff only; with concurrent marking off, 0 of 6
//   (bench/RESULTS.md). Node 24's V8 (13.6) never did. Marking then runs on the main thread, in
//   small steps: wasm processes make little JS garbage, and instrumenting QuickJS took as long.
// - Not set, measured: V8 up to 11.3 (Node 20) gives a function past some size its mid tier's
//   simple register allocator, and instrumented interpreters cross that size (their optimized
//   dispatch loops spill and reload the loop's values at every turn). TurboFan's own allocator
//   for them (`--no-turbo-use-mid-tier-regalloc-for-huge-functions`) made QuickJS's default build
//   run 101-109 ms instead of 144-150 ms, but only once V8 had compiled it, which then takes
//   seconds on two cores: the bench's second runs of the default builds went from 4.6x to 13.4x,
//   first runs from 2.9x to 3.4x (bench/RESULTS.md). A long-running server on Node 20 may want it:
//   `node --no-turbo-use-mid-tier-regalloc-for-huge-functions`.
// - Set, for processes that live: every process has a memory of its own, and V8 counts each
//   memory's pages as external memory. By default every 64 MB more of it starts a full garbage
//   collection (reason "external memory pressure"), so holding many processes marked the whole
//   heap again every 500 spawns of a small C program: on Node 24, 10,000 JSPI processes waiting
//   in receive took 245 us a spawn, and 112 us with external memory counted in V8's global
//   limit instead, which grows with the heap (`--external-memory-accounted-in-global-limit`,
//   V8 13; bench/RESULTS.md). Node 20's V8 has no such flag; later V8s are untested and get
//   nothing (an unknown flag prints an error).
// A flag the command line already sets, either way, is left as the user put it.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { setEngineMemoryLimit } from '../memory-limit.js';

/** Each flag and the V8 major versions it is set on. */
const FLAGS: ReadonlyArray<{ flag: string; appliesTo: (major: number) => boolean }> = [
  // Node 24 has 13 and never crashed; Node 22's 12 is untested, so it gets it too
  { flag: '--no-concurrent-marking', appliesTo: (major) => major < 13 },
  { flag: '--external-memory-accounted-in-global-limit', appliesTo: (major) => major === 13 },
];

/**
 * The flags this package sets on a V8 of this version (`process.versions.v8`), less those the
 * command line (`execArgv`) sets either way. An unknown version gets none.
 */
export function engineFlags(v8Version: string, execArgv: readonly string[] = []): string[] {
  const major = Number.parseInt(v8Version, 10);
  if (Number.isNaN(major)) return [];
  const setByUser = new Set(execArgv.filter((arg) => arg.startsWith('--')).map(flagName));
  return FLAGS.filter(({ flag, appliesTo }) => appliesTo(major) && !setByUser.has(flagName(flag))).map(({ flag }) => flag);
}

/** A flag's name without its `--` or `--no-`, its value, and with `_` as `-`: the same flag either way. */
function flagName(flag: string): string {
  return flag
    .replace(/^--(no-)?/, '')
    .replace(/=.*$/, '')
    .replaceAll('_', '-');
}

const GiB = 2 ** 30;
const TiB = 2 ** 40;
/** Address space left to V8's own reservations (heap cages, code) and the rest of Node: about 4 TiB on Node 24, measured; twice that, for a margin. */
const ADDRESS_SPACE_KEPT = 8 * TiB;

/**
 * The wasm memories V8 of this version can give one OS process with `addressBits` of user
 * address space (src/runtime/memory-limit.ts): each reserves 8 GiB on V8 13, 10 GiB before (a
 * 2 GiB guard below it too). With the trap handler off, a memory reserves only its maximum: no
 * estimate then.
 */
export function wasmMemoryCapacity(v8Version: string, execArgv: readonly string[], addressBits: number): number {
  if (
    execArgv.some((arg) => flagName(arg) === 'wasm-trap-handler' && arg.startsWith('--no-')) ||
    execArgv.includes('--disable-wasm-trap-handler')
  )
    return Number.POSITIVE_INFINITY;
  const major = Number.parseInt(v8Version, 10);
  const reservation = major >= 13 ? 8 * GiB : 10 * GiB; // an unknown version: the larger
  return Math.max(0, Math.floor((2 ** addressBits - ADDRESS_SPACE_KEPT) / reservation));
}

/** Bits of user address space: from the stack's place in /proc/self/maps on Linux, else x64's 47. */
export function addressSpaceBits(maps?: string): number {
  let text = maps;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/maps', 'utf8');
    } catch {
      return 47;
    }
  }
  const stack = /^([0-9a-f]+)-([0-9a-f]+) .*\[stack\]$/m.exec(text);
  return stack ? Math.ceil(Math.log2(Number.parseInt(stack[2]!, 16))) : 47;
}

let applied: string[] | undefined;

/**
 * Sets this package's V8 flags, once per process (they are process-wide, worker threads
 * included), and the estimate of the wasm memories it may hold. Returns the flags.
 */
export function prepareEngine(): string[] {
  if (applied) return applied;
  applied = engineFlags(process.versions.v8, process.execArgv);
  for (const flag of applied) setFlagsFromString(flag);
  estimateMemoryLimit();
  return applied;
}

let estimated = false;

/**
 * Sets this realm's estimate of the wasm memories the OS process may hold, once (it reads
 * /proc/self/maps): a worker thread's realm needs its own; the flags are the process's.
 */
export function estimateMemoryLimit(): void {
  if (estimated) return;
  estimated = true;
  setEngineMemoryLimit(wasmMemoryCapacity(process.versions.v8, process.execArgv, addressSpaceBits()));
}
