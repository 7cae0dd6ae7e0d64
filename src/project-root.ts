// The project root, for the tools that run from a checkout (benchmarks, scripts, the demo
// server), whether they run from their sources (vitest) or from dist/ (npm scripts).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest directory above `from` whose package.json is ours. */
export function findProjectRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'lunatic-instrument') return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the lunatic-instrument project root above ${from}`);
  }
}

export const projectRoot = findProjectRoot();
