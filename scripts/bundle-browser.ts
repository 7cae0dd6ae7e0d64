// Bundles the browser entry point (src/browser/index.ts, from the TypeScript sources) into one
// ESM file for pages: dist/browser/lunatic-runtime.js, with its source map. Run after tsc:
//   node dist/scripts/bundle-browser.js [OUT_FILE]
// test/browser.test.ts calls bundleBrowserRuntime() to bundle the current sources itself.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../src/project-root.js';
import { bundleEsm, reportBundle } from './esbuild-bundle.js';

export const browserEntry = join(projectRoot, 'src', 'browser', 'index.ts');
export const browserBundle = join(projectRoot, 'dist', 'browser', 'lunatic-runtime.js');

/** Writes the bundle (and OUT_FILE.map) and returns its size in bytes. */
export function bundleBrowserRuntime(outFile = browserBundle): Promise<number> {
  return bundleEsm(browserEntry, outFile, {
    platform: 'browser',
    target: 'es2022',
    minify: true, // also renames locals called `process`, so a grep finds only the Node global
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outFile = process.argv[2] ?? browserBundle;
  reportBundle('bundle-browser', outFile, bundleBrowserRuntime(outFile));
}
