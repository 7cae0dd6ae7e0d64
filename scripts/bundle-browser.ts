// Bundles the browser entry point (src/browser/index.ts, from the TypeScript sources) into one
// ESM file for pages: dist/browser/lunatic-runtime.js, with its source map. Run after tsc:
//   node dist/scripts/bundle-browser.js [OUT_FILE]
// test/browser.test.ts calls bundleBrowserRuntime() to bundle the current sources itself.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { projectRoot } from '../src/project-root.js';

export const browserEntry = join(projectRoot, 'src', 'browser', 'index.ts');
export const browserBundle = join(projectRoot, 'dist', 'browser', 'lunatic-runtime.js');

/** Writes the bundle (and OUT_FILE.map) and returns its size in bytes. */
export async function bundleBrowserRuntime(outFile = browserBundle): Promise<number> {
  await build({
    entryPoints: [browserEntry],
    outfile: outFile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true, // also renames locals called `process`, so a grep finds only the Node global
    sourcemap: true,
    logLevel: 'warning',
  });
  return (await stat(outFile)).size;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outFile = process.argv[2] ?? browserBundle;
  bundleBrowserRuntime(outFile).then(
    (bytes) => process.stdout.write(`bundled ${outFile} (${Math.round(bytes / 1024)} KiB)\n`),
    (error: Error) => {
      process.stderr.write(`bundle-browser: ${error.message.split('\n')[0]}\n`);
      process.exit(1);
    },
  );
}
