// Third-party packages for the benchmark, fetched by name from the npm registry with `npm pack`
// into bench/.work/ at bench time (once; never committed).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { workDir } from './paths.js';

/** The unpacked `package/` directory of an npm package; throws with a one-line reason when it cannot be had. */
export function npmPackage(spec: string, cacheName: string): string {
  const dir = join(workDir, cacheName);
  const unpacked = join(dir, 'package');
  if (existsSync(join(unpacked, 'package.json'))) return unpacked;
  mkdirSync(dir, { recursive: true });
  try {
    const tarball = execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--silent'], {
      encoding: 'utf8',
      timeout: 300_000,
    }).trim();
    execFileSync('tar', ['xzf', join(dir, tarball.split('\n').pop()!), '-C', dir]);
  } catch (error) {
    throw new Error(`could not fetch ${spec} with npm pack: ${(error as Error).message.split('\n')[0]}`);
  }
  return unpacked;
}
