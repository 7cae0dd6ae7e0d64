// Bundles the entry of worker threads (src/runtime/node/thread-worker.ts, from the TypeScript
// sources) into one ESM file beside its compiled module: dist/src/runtime/node/thread-worker.bundle.js.
// Why: a worker loads its code afresh, and the 70-odd modules of its graph took 60-85 ms to load
// on a worker thread, one file 18-24 ms (2 cores, Node 20); a program on N threads starts N - 1
// workers while its first processes run. runProgram uses the bundle when it is there, else the
// compiled modules. Run after tsc:
//   node dist/scripts/bundle-thread-worker.js
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../src/project-root.js';
import { bundleEsm, reportBundle } from './esbuild-bundle.js';

const workerEntry = join(projectRoot, 'src', 'runtime', 'node', 'thread-worker.ts');
const workerBundle = join(projectRoot, 'dist', 'src', 'runtime', 'node', 'thread-worker.bundle.js');

/** Writes the bundle (and its .map) and returns its size in bytes. */
export async function bundleThreadWorker(outFile = workerBundle): Promise<number> {
  const bytes = await bundleEsm(workerEntry, outFile, {
    platform: 'node',
    target: 'node20',
    packages: 'external', // npm packages load from node_modules, as they do for the modules
  });
  // A module that finds files from its own URL would look beside the bundle instead.
  if ((await readFile(outFile, 'utf8')).includes('import.meta'))
    throw new Error(`${workerEntry} reaches code that uses import.meta, which a bundle moves: keep it out of the worker's graph`);
  return bytes;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) reportBundle('bundle-thread-worker', workerBundle, bundleThreadWorker());
