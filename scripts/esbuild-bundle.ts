// What the build's bundle steps share (bundle-browser.ts, bundle-thread-worker.ts): one esbuild
// call to an ESM file with its source map, and running a step as a script of the build.
import { stat } from 'node:fs/promises';
import { type BuildOptions, build } from 'esbuild';

/** Bundles `entry` with the step's own `options` into `outFile` (and its .map); returns its size in bytes. */
export async function bundleEsm(entry: string, outFile: string, options: BuildOptions): Promise<number> {
  await build({ entryPoints: [entry], outfile: outFile, bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning', ...options });
  return (await stat(outFile)).size;
}

/** Runs a step as a script: one line with the bundle's size, or one line naming what failed and exit code 1. */
export function reportBundle(step: string, outFile: string, bundled: Promise<number>): void {
  bundled.then(
    (bytes) => process.stdout.write(`bundled ${outFile} (${Math.round(bytes / 1024)} KiB)\n`),
    (error: Error) => {
      process.stderr.write(`${step}: ${error.message.split('\n')[0]}\n`);
      process.exit(1);
    },
  );
}
