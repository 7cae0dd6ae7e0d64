// Compares what the original module did with what its instrumented version did, and says
// precisely where they first part: the n-th host call or export result, a global, the memory
// size, or the first differing memory byte.
//
// The engine's stack limit is not part of a program's meaning: instrumented frames differ in
// size (and V8's tiers differ from each other), so a recursion may overflow at another depth.
// When the first difference is a stack overflow on either side, the runs are inconclusive
// ("stack limit"), not a mismatch; everything up to that point still had to match.
import type { Observation } from './execute.js';

export interface Difference {
  what: 'events' | 'globals' | 'memory size' | 'memory' | 'stack limit';
  detail: string;
}

/** How an overflow shows in an event line: classified, or inside another error raised at the limit. */
const STACK_OVERFLOW = ['stack overflow', 'Maximum call stack size exceeded'];

const clip = (text: string | undefined) =>
  text === undefined ? '(nothing)' : JSON.stringify(text.length > 160 ? `${text.slice(0, 160)}...` : text);

function firstLineDifference(what: Difference['what'], expected: readonly string[], actual: readonly string[]): Difference | undefined {
  const length = Math.max(expected.length, actual.length);
  for (let i = 0; i < length; i++) {
    if (expected[i] === actual[i]) continue;
    const overflow = [expected[i], actual[i]].some((line) => STACK_OVERFLOW.some((sign) => line?.includes(sign)));
    return { what: overflow ? 'stack limit' : what, detail: `#${i}: expected ${clip(expected[i])}, got ${clip(actual[i])}` };
  }
  return undefined;
}

const NO_MEMORY = new Uint8Array(0);

/** Whether `bytes[at, at + size)` holds a NaN of that size (little-endian). */
function isNaNAt(bytes: Uint8Array, at: number, size: 4 | 8): boolean {
  if (at < 0 || at + size > bytes.length) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, size);
  return Number.isNaN(size === 4 ? view.getFloat32(0, true) : view.getFloat64(0, true));
}

/**
 * Whether byte `i` lies in a float both sides stored as a NaN: its payload may differ (wasm lets
 * an operation give any NaN, and binaryen's optimizer may fold one to the canonical NaN, fuzz
 * seed 720716). An integer store of NaN bit patterns that differ is forgiven too: the price of
 * not knowing how the bytes were written.
 */
function inStoredNaNs(expected: Uint8Array, actual: Uint8Array, i: number): boolean {
  for (const size of [4, 8] as const)
    for (let at = i - size + 1; at <= i; at++) if (isNaNAt(expected, at, size) && isNaNAt(actual, at, size)) return true;
  return false;
}

/**
 * No memory and an empty one look the same to a program: Asyncify gives a module without
 * memory one that is all reserved tail.
 */
function memoryDifference(expectedMemory: Uint8Array | undefined, actualMemory: Uint8Array | undefined): Difference | undefined {
  const expected = expectedMemory ?? NO_MEMORY;
  const actual = actualMemory ?? NO_MEMORY;
  if (expected.length !== actual.length)
    return { what: 'memory size', detail: `expected ${expected.length / 65536} pages, got ${actual.length / 65536}` };
  let first = -1;
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] === actual[i] || inStoredNaNs(expected, actual, i)) continue;
    if (first < 0) first = i;
    count++;
  }
  if (first < 0) return undefined;
  return { what: 'memory', detail: `${count} bytes differ, the first at ${first}: expected ${expected[first]}, got ${actual[first]}` };
}

export function compare(expected: Observation, actual: Observation): Difference | undefined {
  return (
    firstLineDifference('events', expected.events, actual.events) ??
    firstLineDifference('globals', expected.globals, actual.globals) ??
    memoryDifference(expected.memory, actual.memory)
  );
}
