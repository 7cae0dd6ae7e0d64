// Random valid modules from binaryen's own fuzzer: `wasm-opt <random bytes> -ttf`
// (translate-to-fuzz) turns seeded bytes into a valid module that logs through
// `fuzzing-support.*` imports and bounds its own loops and recursion with a hang limit.
//
// Two generators: npm's binaryen (`node_modules/binaryen/bin/wasm-opt`, version pinned by the
// lockfile, so a seed means the same module everywhere, but ~1 s of startup per module) and a
// native `wasm-opt` (Debian's binaryen 108: ~50x faster to start, but another version, so the
// same seed gives another module). Seeds are only comparable within one generator.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Random } from './random.js';

const run = promisify(execFile);

export type GeneratorName = 'npm' | 'native';

/** Which wasm features a generated module may use. */
export interface Profile {
  name: string;
  flags: string[];
}

/** What the instrumenter supports everywhere (no GC, threads, memory64: those it refuses; exceptions only without Asyncify). */
const CORE_FLAGS = [
  '--mvp-features',
  '--enable-sign-ext',
  '--enable-mutable-globals',
  '--enable-nontrapping-float-to-int',
  '--enable-bulk-memory',
  '--enable-multivalue',
];

export const PROFILES: readonly Profile[] = [
  { name: 'core', flags: CORE_FLAGS },
  // Tail calls and reference types stress the reduction counter's call graph (return_call,
  // call_indirect through several tables) and Asyncify's limits.
  { name: 'tail-ref', flags: [...CORE_FLAGS, '--enable-tail-call', '--enable-reference-types'] },
  // Vectors (v128) in locals, frames and globals; only when asked for (`--profile simd`), so the
  // seeds of the campaigns before it keep their modules.
  { name: 'simd', flags: [...CORE_FLAGS, '--enable-simd'] },
  // Throws and catches (legacy exception handling, counters only: the Asyncify variants refuse
  // them); only when asked for (`--profile eh --generator native`: npm's binaryen 132 generates
  // nothing with exceptions alone, and with reference types beside, types Node 20 cannot compile).
  { name: 'eh', flags: [...CORE_FLAGS, '--enable-exception-handling'] },
];

/** One seed in four uses the tail-call/reference-types profile, unless a profile is named. */
export function profileFor(seed: number, named?: string): Profile {
  if (named !== undefined) {
    const profile = PROFILES.find((p) => p.name === named);
    if (!profile) throw new Error(`unknown profile ${named}; one of: ${PROFILES.map((p) => p.name).join(', ')}`);
    return profile;
  }
  return new Random(seed, 1).below(4) === 3 ? PROFILES[1]! : PROFILES[0]!;
}

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (package.json) above scripts/fuzz');
    dir = parent;
  }
  return dir;
}

/** The command line that starts a generator, or undefined when it is not installed. */
export function generatorCommand(name: GeneratorName): string[] | undefined {
  if (name === 'npm') {
    const script = join(projectRoot(), 'node_modules', 'binaryen', 'bin', 'wasm-opt');
    return existsSync(script) ? [process.execPath, script] : undefined;
  }
  const native = process.env.LUNATIC_NATIVE_WASM_OPT ?? '/usr/bin/wasm-opt';
  return existsSync(native) ? [native] : undefined;
}

export interface GeneratedModule {
  seed: number;
  profile: string;
  bytes: Uint8Array;
}

/**
 * Generates the module of `seed`. The random input is 512 B to 8 KiB: translate-to-fuzz makes
 * bigger modules from more bytes, and small ones reduce (and run) faster.
 */
export async function generateModule(seed: number, command: string[], profileName?: string): Promise<GeneratedModule> {
  const random = new Random(seed, 0);
  const input = random.bytes(512 + random.below(7680));
  const profile = profileFor(seed, profileName);
  const dir = await mkdtemp(join(tmpdir(), 'lunatic-fuzz-'));
  try {
    const [exe, ...prefix] = command;
    await writeFile(join(dir, 'input.bin'), input);
    await run(exe!, [...prefix, join(dir, 'input.bin'), '-ttf', ...profile.flags, '-o', join(dir, 'out.wasm')], { timeout: 60_000 });
    return { seed, profile: profile.name, bytes: new Uint8Array(await readFile(join(dir, 'out.wasm'))) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
