// Deciding a module's wasm features deliberately. binaryen reads a module as MVP unless it has
// a target_features section, and enabling every feature makes it emit encodings engines reject
// (Node 20: "unknown import kind 0x7e"). So: features we refuse are found in the binary itself
// (src/binary.ts refusedFeature, checked before binaryen loads); a module that declares its features (clang, rustc and wasm-ld do
// when any beyond the MVP is on) is taken at its word; otherwise we find the smallest supported set it validates with.
import type { Binaryen, Module } from '../passes/ir/binaryen.js';
import { InputError } from './errors.js';

/** Features we instrument: the toolchains' target_features name and binaryen's flags. */
const SUPPORTED: Array<[string, (b: Binaryen) => number]> = [
  ['mutable-globals', (b) => b.Features.MutableGlobals],
  ['nontrapping-fptoint', (b) => b.Features.NontrappingFPToInt],
  ['sign-ext', (b) => b.Features.SignExt],
  ['simd128', (b) => b.Features.SIMD128],
  ['multivalue', (b) => b.Features.Multivalue],
  ['tail-call', (b) => b.Features.TailCall],
  ['bulk-memory', (b) => b.Features.BulkMemory | b.Features.BulkMemoryOpt],
  ['reference-types', (b) => b.Features.ReferenceTypes],
  ['extended-const', (b) => b.Features.ExtendedConst],
  ['relaxed-simd', (b) => b.Features.RelaxedSIMD],
  // Only without Asyncify (src/refusals.ts turns several memories away with it): counters alone
  // never touch memory.
  ['multimemory', (b) => b.Features.MultiMemory],
  // Only without Asyncify too (src/refusals.ts, src/instrument.ts), and legacy instructions only
  // (passes/ir/walker.ts).
  ['exception-handling', (b) => b.Features.ExceptionHandling],
];

export function featureFlags(binaryen: Binaryen, names: readonly string[]): number {
  return SUPPORTED.filter(([name]) => names.includes(name)).reduce((acc, [, flag]) => acc | flag(binaryen), 0);
}

/**
 * Runs binaryen's validator with its printing silenced (it writes every error to stdout) and
 * returns its first complaint, or undefined when the module is valid.
 */
export function validationError(module: Module, features: number): string | undefined {
  module.setFeatures(features);
  const printed: string[] = [];
  const out = process.stdout.write;
  const err = process.stderr.write;
  const capture = ((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  let valid: number | boolean;
  try {
    valid = module.validate();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  if (valid) return undefined;
  const first =
    printed
      .join('')
      .split('\n')
      .find((line) => line.includes('error')) ?? 'validation failed';
  return first
    .replace(/^\[wasm-validator error[^\]]*\]\s*/, '')
    .replace(/,\s*on\s*$/, '')
    .trim();
}

export interface DetectedFeatures {
  flags: number;
  /** target_features names, for the report. */
  names: string[];
}

/** The features to give binaryen for this module (refused features were turned away before). */
export function detectFeatures(binaryen: Binaryen, module: Module, declared: readonly string[]): DetectedFeatures {
  const supportedDeclared = SUPPORTED.map(([name]) => name).filter((name) => declared.includes(name));
  if (declared.length && validationError(module, featureFlags(binaryen, supportedDeclared)) === undefined) {
    return { flags: featureFlags(binaryen, supportedDeclared), names: supportedDeclared };
  }
  // Most such modules are MVP (Debian's clang 14 writes no target_features then): one validation,
  // not one per feature (QuickJS: 54 ms instead of 287)
  if (validationError(module, 0) === undefined) return { flags: 0, names: [] };
  const enabled = SUPPORTED.map(([name]) => name);
  const error = validationError(module, featureFlags(binaryen, enabled));
  if (error !== undefined) throw new InputError(`is not a valid WebAssembly module: ${error}`);
  for (const [name] of SUPPORTED) {
    const without = enabled.filter((n) => n !== name);
    if (validationError(module, featureFlags(binaryen, without)) === undefined) enabled.splice(enabled.indexOf(name), 1);
  }
  return { flags: featureFlags(binaryen, enabled), names: enabled };
}
