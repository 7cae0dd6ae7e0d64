// A TypeScript entry point bundled into one ESM file for a child Node (the Node 24 that runs the
// JSPI tests cannot load our sources), in a fresh temporary directory that `remove` deletes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from './tools.js';

export interface ChildScript {
  path: string;
  remove(): void;
}

/** `entry` is relative to the project root; `external` packages are left for the child to import. */
export async function bundleForChild(entry: string, external: string[] = []): Promise<ChildScript> {
  const dir = mkdtempSync(join(tmpdir(), 'lunatic-child-'));
  const path = join(dir, `${basename(entry, '.ts')}.mjs`);
  await build({
    entryPoints: [join(projectRoot, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: path,
    external,
    logLevel: 'warning',
  });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
