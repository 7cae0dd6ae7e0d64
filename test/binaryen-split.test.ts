// The faster-starting copy of binaryen.js (src/binaryen-split.ts) that `npm run build` makes:
// it must be what loadBinaryen() uses, behave byte for byte like the package, and never be used
// when it came from another binaryen.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Binaryen } from '../passes/ir/binaryen.js';
import { importBinaryen, loadBinaryen } from '../src/binaryen.js';
import { GLUE_FILE, installedBinaryen, SOURCE_FILE, splitBinaryen, splitBinaryenUrl } from '../src/binaryen-split.js';
import { projectRoot } from './helpers/tools.js';

/** What the instrumenter asks of binaryen, on a real C program: Asyncify at -O2, then emit. */
function asyncifyAndEmit(binaryen: Binaryen, wasm: Uint8Array): Uint8Array {
  const module = binaryen.readBinary(wasm);
  try {
    binaryen.setPassArgument('asyncify-imports', 'wasi_snapshot_preview1.fd_read');
    binaryen.setOptimizeLevel(2);
    module.runPasses(['asyncify']);
    binaryen.setDebugInfo(true);
    return module.emitBinary();
  } finally {
    binaryen.clearPassArguments();
    binaryen.setDebugInfo(false);
    module.dispose();
  }
}

describe('the split copy of binaryen.js', () => {
  const installed = installedBinaryen();
  const url = splitBinaryenUrl(installed);

  it('is made by the build from the installed binaryen and is what loadBinaryen() imports', async () => {
    expect(url, 'npm run build should have written dist/binaryen/').toBeDefined();
    const glue = await readFile(new URL(url!), 'utf8');
    expect(glue.length).toBeLessThan(installed.bytes / 20); // the wasm literal is gone
    const split = ((await import(url!)) as { default: Binaryen }).default;
    expect(await loadBinaryen()).toBe(split);
  });

  it('gives the same bytes as the package on a real C program', async () => {
    const wasm = await readFile(join(projectRoot, 'fixtures/c/cat.wasm'));
    const split = await loadBinaryen();
    const original = ((await import('binaryen')) as { default: Binaryen }).default;
    expect(split).not.toBe(original);
    const fromSplit = asyncifyAndEmit(split, wasm);
    expect(fromSplit.length).toBeGreaterThan(wasm.length); // Asyncify did instrument
    expect(Buffer.from(fromSplit).equals(Buffer.from(asyncifyAndEmit(original, wasm)))).toBe(true);
  }, 60_000);
});

describe('splitBinaryen', () => {
  const magic = String.raw`\0asm\x01\0\0\0`;

  it('replaces the literal with a read of the wasm file beside the glue', () => {
    const { glue, wasm } = splitBinaryen(`var b;b??=dec(\`${magic}\`),go(b);`);
    expect(Array.from(wasm)).toEqual([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    expect(glue).toBe('var b;b??=process.getBuiltinModule("node:fs").readFileSync(new URL("./binaryen.wasm",import.meta.url)),go(b);');
  });

  it('refuses a file it does not recognise, so the build keeps the package', () => {
    expect(() => splitBinaryen('export default 1;')).toThrow('expected one embedded wasm module in binaryen.js, found 0');
    expect(() => splitBinaryen(`a(\`${magic}\`);b(\`${magic}\`);`)).toThrow('found 2');
    expect(() => splitBinaryen(`a(\`${magic}\${x}\`);`)).toThrow('is not one plain literal');
    expect(() => splitBinaryen(`a(\`${magic}\` + y);`)).toThrow('is not one plain literal');
    expect(() => splitBinaryen('a(`\\0asm\\x02`);')).toThrow('does not validate');
  });
});

describe('splitBinaryenUrl', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'binaryen-split-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('takes a copy only when it was made from this version and build of binaryen', async () => {
    const installed = { version: '132.0.0', bytes: 14_844_140 };
    expect(splitBinaryenUrl(installed, dir)).toBeUndefined(); // not made (or not finished)
    await writeFile(join(dir, SOURCE_FILE), JSON.stringify(installed));
    expect(splitBinaryenUrl(installed, dir)).toMatch(/^file:.*\/binaryen\.js$/);
    expect(splitBinaryenUrl({ ...installed, version: '133.0.0' }, dir)).toBeUndefined();
    expect(splitBinaryenUrl({ ...installed, bytes: installed.bytes + 1 }, dir)).toBeUndefined();
    await writeFile(join(dir, SOURCE_FILE), '{');
    expect(splitBinaryenUrl(installed, dir)).toBeUndefined();
  });

  it('falls back to the package when a copy that claims to match cannot be loaded', async () => {
    const installed = installedBinaryen();
    await writeFile(join(dir, SOURCE_FILE), JSON.stringify({ version: installed.version, bytes: installed.bytes }));
    await writeFile(join(dir, GLUE_FILE), 'throw new Error("binaryen.wasm was deleted");');
    const original = ((await import('binaryen')) as { default: Binaryen }).default;
    expect(await importBinaryen(dir)).toBe(original);
  });
});
