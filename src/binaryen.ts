// The one place that loads binaryen.js.
// binaryen.js is ESM with a top-level await and takes a few tenths of a second to start even
// from the split copy the build makes (src/binaryen-split.ts; over a second from the package
// itself), so it is loaded lazily, once per process, and only by code paths that transform
// modules.
// The typed facade and the types live with the passes (passes/ir/binaryen.ts).
import type { Binaryen } from '../passes/ir/binaryen.js';
import { installedBinaryen, splitBinaryenUrl } from './binaryen-split.js';

let loading: Promise<Binaryen> | undefined;

/** binaryen.js from the split copy in `splitDir` when it is usable, else from its package. */
export async function importBinaryen(splitDir?: string): Promise<Binaryen> {
  const split = splitBinaryenUrl(installedBinaryen(), splitDir);
  if (split) {
    try {
      return ((await import(split)) as { default: Binaryen }).default;
    } catch {
      // a damaged copy (a file removed by hand): the package itself still works
    }
  }
  return (await import('binaryen')).default;
}

export function loadBinaryen(): Promise<Binaryen> {
  loading ??= importBinaryen();
  return loading;
}
