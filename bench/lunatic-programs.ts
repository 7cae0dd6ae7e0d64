// The C programs of bench/lunatic/ as the runtime benches use them: instrumented once per bench
// run for each backend (Asyncify, and counters only for JSPI), and the `key=value` figures they print.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instrument } from '../src/index.js';
import { benchDir, workDir } from './paths.js';

/** bench/lunatic/NAME.wasm instrumented for both backends, written under bench/.work/NAME/. */
export async function instrumentForBothBackends(name: string): Promise<{ asyncify: string; jspi: string }> {
  const dir = join(workDir, name);
  mkdirSync(dir, { recursive: true });
  const bytes = readFileSync(join(benchDir, 'lunatic', `${name}.wasm`));
  const asyncify = join(dir, `${name}.asyncify.wasm`);
  const jspi = join(dir, `${name}.jspi.wasm`);
  writeFileSync(asyncify, (await instrument(bytes)).binary);
  writeFileSync(jspi, (await instrument(bytes, { asyncify: false })).binary);
  return { asyncify, jspi };
}

/** The `key=value` numbers a program printed. */
export function figuresOf(stdout: string): Record<string, number> {
  return Object.fromEntries([...stdout.matchAll(/(\w+)=(-?[\d.]+)/g)].map(([, key, value]) => [key!, Number(value)]));
}
