// Reading and writing modules as files: .wasm as is, .wat through wabt. Writes are atomic (a
// temporary file beside the target, then a rename), so a failure never leaves a half-written
// output and never touches an existing file.
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from './errors.js';
import { isWasmBinary } from './binary.js';
import { loadWabt } from './wabt.js';

/** wabt features for text in and out: everything it can parse, so the instrumenter decides. */
const ALL_TEXT_FEATURES = {
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  multi_value: true,
  tail_call: true,
  bulk_memory: true,
  reference_types: true,
  extended_const: true,
  relaxed_simd: true,
  threads: true,
  exceptions: true,
  memory64: true,
  gc: true,
  function_references: true,
};

/** node:crypto is loaded here, when a file is written, not imported: loading it is 3-8 ms of every start. */
const randomHex = (bytes: number) => process.getBuiltinModule('node:crypto').randomBytes(bytes).toString('hex');

const isText = (path: string) => path.endsWith('.wat') || path.endsWith('.wast');

function describeFsError(path: string, error: unknown, doing: string): InputError {
  const code = (error as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOENT: 'does not exist',
    EISDIR: 'is a directory, not a file',
    EACCES: 'is not accessible (permission denied)',
    EPERM: 'is not accessible (operation not permitted)',
    ENOTDIR: 'has a path component that is not a directory',
    ENOSPC: 'cannot be written: no space left on the device',
    EROFS: 'is on a read-only file system',
  };
  return new InputError(`${path}: cannot ${doing}: ${why[code ?? ''] ?? (error as Error).message}`);
}

/** Reads a .wasm or .wat file as wasm bytes. */
export async function readModuleFile(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw describeFsError(path, error, 'read input');
  }
  if (bytes.length === 0) throw new InputError(`${path} is empty; give a .wasm module or .wat text`);
  if (!isText(path) || isWasmBinary(bytes)) return bytes;
  return watToWasm(path, bytes);
}

async function watToWasm(path: string, text: Uint8Array): Promise<Uint8Array> {
  const wabt = await loadWabt();
  let module: ReturnType<typeof wabt.parseWat> | undefined;
  try {
    module = wabt.parseWat(basename(path), text, ALL_TEXT_FEATURES);
    module.resolveNames();
    module.validate();
    return module.toBinary({ write_debug_names: true }).buffer;
  } catch (error) {
    const lines = String((error as Error).message ?? error)
      .split('\n')
      .filter((l) => l.trim() && !/^(validate|parseWat) failed/.test(l));
    throw new InputError(`${path} is not valid WebAssembly text: ${(lines[0] ?? 'parse error').trim()}`);
  } finally {
    module?.destroy();
  }
}

async function wasmToWat(bytes: Uint8Array): Promise<Uint8Array> {
  const wabt = await loadWabt();
  const module = wabt.readWasm(bytes, { readDebugNames: true, ...ALL_TEXT_FEATURES });
  try {
    module.generateNames();
    module.applyNames();
    return new TextEncoder().encode(module.toText({ foldExprs: false, inlineExport: false }));
  } finally {
    module.destroy();
  }
}

/** Refuses an output that would replace the input (an input is never clobbered). */
export async function checkDistinctPaths(input: string, output: string): Promise<void> {
  if (resolve(input) === resolve(output)) throw new InputError(`${output}: the output would overwrite the input; choose another -o path`);
  try {
    const [a, b] = await Promise.all([stat(input), stat(output)]);
    if (a.ino === b.ino && a.dev === b.dev)
      throw new InputError(`${output}: the output is the input file under another name; choose another -o path`);
  } catch (error) {
    if (error instanceof InputError) throw error;
  }
}

/** Writes a file whole or not at all: a temporary file beside it, then a rename over `path`. */
export async function writeFileWhole(path: string, content: string | Uint8Array): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomHex(4)}.tmp`);
  try {
    await writeFile(temporary, content, { flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    // The temporary file may not exist (its directory may not either): that is not the error.
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Writes wasm bytes (or text for .wat) atomically. */
export async function writeModuleFile(path: string, bytes: Uint8Array): Promise<void> {
  const content = isText(path) ? await wasmToWat(bytes) : bytes;
  try {
    await writeFileWhole(path, content);
  } catch (error) {
    const missingDirectory = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw missingDirectory
      ? new InputError(`${path}: cannot write output: its directory does not exist`)
      : describeFsError(path, error, 'write output');
  }
}
