// A faster-starting copy of binaryen.js. The npm package is one 14 MB ES module whose 10 MB of
// wasm sits inside it as a string literal, which V8 scans when it parses the module and again
// when it compiles the function holding it: most of the start-up of every run, before binaryen
// does any work (bench/RESULTS.md). The build (scripts/split-binaryen.ts) writes the same module as two files, the
// JavaScript glue with the literal replaced by a read of the wasm file beside it, and the wasm
// itself; loadBinaryen() imports that copy when it was made from the binaryen installed now and
// the package itself otherwise. Nothing else in the glue changes, so both behave the same.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from './project-root.js';

export const SPLIT_DIR = join(projectRoot, 'dist', 'binaryen');
export const GLUE_FILE = 'binaryen.js';
export const WASM_FILE = 'binaryen.wasm';
/** Written last: its presence says the copy is whole; its content, which binaryen it came from. */
export const SOURCE_FILE = 'source.json';

/** Which installed binaryen a split copy was made from. */
export interface BinaryenSource {
  version: string;
  /** Size of the package's index.js: tells a changed build of the same version apart. */
  bytes: number;
}

export interface InstalledBinaryen extends BinaryenSource {
  path: string;
}

export function installedBinaryen(): InstalledBinaryen {
  const path = createRequire(import.meta.url).resolve('binaryen');
  const { version } = JSON.parse(readFileSync(join(dirname(path), 'package.json'), 'utf8')) as { version: string };
  return { path, version, bytes: statSync(path).size };
}

/** The glue's call that turns the embedded literal into bytes: `decoder(\`\0asm...\`)`. */
const EMBEDDED_WASM = /[\w$]+\(`\\0asm/g;

/** Where the template literal that opens at `open` (a backtick) closes, or -1 if it has substitutions. */
function templateEnd(source: string, open: number): number {
  for (let i = open + 1; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') i++;
    else if (ch === '$' && source[i + 1] === '{') return -1;
    else if (ch === '`') return i;
  }
  return -1;
}

/** Evaluates a template literal without substitutions (checked by templateEnd): no code runs. */
function literalBytes(literal: string): Uint8Array<ArrayBuffer> {
  const text = new Function(`return ${literal};`)() as string;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new Error(`the embedded wasm holds a character above 0xFF at ${i}`);
    bytes[i] = code;
  }
  return bytes;
}

/**
 * Splits binaryen.js's index.js into glue and wasm. Throws when the file does not have the one
 * embedded module this expects (another packaging of binaryen): the caller keeps the package.
 */
export function splitBinaryen(source: string): { glue: string; wasm: Uint8Array<ArrayBuffer> } {
  const calls = [...source.matchAll(EMBEDDED_WASM)];
  if (calls.length !== 1) throw new Error(`expected one embedded wasm module in binaryen.js, found ${calls.length}`);
  const call = calls[0]!;
  const open = call.index + call[0].length - '`\\0asm'.length;
  const close = templateEnd(source, open);
  if (close < 0 || source[close + 1] !== ')') throw new Error('the embedded wasm module of binaryen.js is not one plain literal');
  const wasm = literalBytes(source.slice(open, close + 1));
  if (!WebAssembly.validate(wasm)) throw new Error('the wasm embedded in binaryen.js does not validate');
  const read = `process.getBuiltinModule("node:fs").readFileSync(new URL(${JSON.stringify(`./${WASM_FILE}`)},import.meta.url))`;
  return { glue: source.slice(0, call.index) + read + source.slice(close + 2), wasm };
}

/** The split copy in `dir` if it was made from `installed`, else undefined. */
export function splitBinaryenUrl(installed: BinaryenSource, dir = SPLIT_DIR): string | undefined {
  const sourceFile = join(dir, SOURCE_FILE);
  if (!existsSync(sourceFile)) return undefined;
  try {
    const made = JSON.parse(readFileSync(sourceFile, 'utf8')) as Partial<BinaryenSource>;
    if (made.version !== installed.version || made.bytes !== installed.bytes) return undefined;
  } catch {
    return undefined;
  }
  return pathToFileURL(join(dir, GLUE_FILE)).href;
}
