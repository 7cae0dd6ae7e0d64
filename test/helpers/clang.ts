// Building C programs for the lunatic API at test time: clang for wasm32-wasi with
// include/lunatic.h on the include path, linked without `_start`, so each exported function can
// start a process (lunatic_spawn, Lunatic.start).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from './tools.js';

/** The module built from one C source file; the name section is kept, so traps name functions. */
export function compileLunaticC(clang: string, source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'lunatic-c-'));
  try {
    const [c, object, wasm] = ['program.c', 'program.o', 'program.wasm'].map((name) => join(dir, name)) as [string, string, string];
    writeFileSync(c, source);
    // Compile and link in two steps: given -O at link time, clang 14 runs any wasm-opt it finds
    // in PATH over the result, which drops the name section (fixtures/build.sh does the same).
    execFileSync(clang, ['--target=wasm32-wasi', '-O2', '-Wall', '-Werror', `-I${join(projectRoot, 'include')}`, '-c', c, '-o', object]);
    execFileSync(clang, ['--target=wasm32-wasi', '-nostartfiles', '-Wl,--no-entry', '-Wl,--strip-debug', object, '-o', wasm]);
    return readFileSync(wasm);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
