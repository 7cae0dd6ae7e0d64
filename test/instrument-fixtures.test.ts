// Every C fixture, instrumented, behaves exactly like the original under plain node:wasi:
// byte-identical stdout and stderr, the same exit code (or the same trap), while the host's
// `lunatic.yield` fires in the long-running ones.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { cFixtures, runWasi, type WasiRunOptions } from './helpers/wasi-run.js';

/** Inputs that make each fixture do its work. */
const RUN_OPTIONS: Record<string, WasiRunOptions> = {
  args_env: { args: ['one', 'two words'], env: { LUNATIC_GREETING: 'hi', HOME: '/nowhere' } },
  cat: { stdin: 'line one\nline two\n\u00e9t\u00e9\n' },
  deep_pause: { stdin: 'pause here\n' },
};

/** Fixtures that loop or recurse long enough to exhaust several 10k slices. */
const LONG_RUNNING = ['spin', 'recursion', 'mutual', 'indirect', 'malloc_tree', 'nbody', 'sha256', 'deep_pause'];

const fixtures = cFixtures().map((path) => ({ name: basename(path, '.wasm'), path }));

describe('instrumented C fixtures under node:wasi', () => {
  for (const variant of [
    { label: 'reductions + asyncify', options: {} },
    { label: 'reductions only', options: { asyncify: false } },
  ]) {
    describe(variant.label, () => {
      for (const { name, path } of fixtures) {
        it(name, async () => {
          const original = readFileSync(path);
          const { binary, report } = await instrument(original, { fileName: name, ...variant.options });
          expect(WebAssembly.validate(binary as BufferSource)).toBe(true);
          const options = RUN_OPTIONS[name] ?? {};
          const [before, after] = await Promise.all([runWasi(original, options), runWasi(binary, options)]);
          expect(after.exitCode).toBe(before.exitCode);
          expect(after.stdout.toString('latin1')).toBe(before.stdout.toString('latin1'));
          if (before.trap) expect(after.trap).toBe(before.trap);
          else expect(after.stderr.toString('latin1')).toBe(before.stderr.toString('latin1'));
          if (LONG_RUNNING.includes(name)) expect(after.yields).toBeGreaterThan(3);
          expect(report.reductions!.bound).toBeGreaterThan(0);
        });
      }
    });
  }
});
