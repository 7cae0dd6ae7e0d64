// vitest's global setup, before any test file's process starts (they inherit this environment).
// Tests run without the instrument cache (src/instrument-cache.ts): every `run` of a module not
// instrumented yet instruments it in memory, as a first run does, and nothing is written to the
// home directory. test/instrument-cache.test.ts gives the cache a directory of its own.
export default function setup(): void {
  process.env.LUNATIC_CACHE_DIR = '';
}
