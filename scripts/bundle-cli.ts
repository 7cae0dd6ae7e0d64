// Bundles the command line (src/cli/main.ts, from the TypeScript sources) with yargs into one ESM
// file, dist/src/cli.bundle.js, which bin/lunatic-instrument.js loads when it is there (else the
// compiled modules). Why: every command first loaded some 90 modules one by one, yargs' among
// them, before it did anything; one file starts each `run` and `instrument` about 120 ms sooner
// (a hello-world `run` 0.51 -> 0.37 s, median of 7, 2 cores, Node 20). binaryen, wabt and the
// NATS client stay packages, loaded only when a command needs them (a module to instrument, a
// .wat file, a cluster). The file sits in dist/src/ beside run-program.js, whose URL of the
// workers' code is relative to itself. Run after tsc:
//   node dist/scripts/bundle-cli.js
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../src/project-root.js';
import type { Plugin } from 'esbuild';
import { bundleEsm, reportBundle } from './esbuild-bundle.js';

const cliEntry = join(projectRoot, 'src', 'cli', 'main.ts');
const lazyStringWidthModule = join(projectRoot, 'scripts', 'lazy-string-width.ts');

/** Every import of `string-width` gets lazy-string-width.ts instead, which loads the package when it needs it. */
const lazyStringWidth: Plugin = {
  name: 'lazy-string-width',
  setup(build) {
    build.onResolve({ filter: /^string-width$/ }, ({ importer }) =>
      importer === lazyStringWidthModule ? undefined : { path: lazyStringWidthModule },
    );
  },
};
export const cliBundle = join(projectRoot, 'dist', 'src', 'cli.bundle.js');

/** Writes the bundle (and its .map) and returns its size in bytes. */
export function bundleCli(outFile = cliBundle): Promise<number> {
  return bundleEsm(cliEntry, outFile, {
    platform: 'node',
    target: 'node20',
    // loaded when needed, from node_modules: binaryen alone would slow every start
    external: ['binaryen', 'wabt', '@nats-io/*'],
    plugins: [lazyStringWidth],
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) reportBundle('bundle-cli', cliBundle, bundleCli());
