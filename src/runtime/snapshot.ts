// Snapshots of a hibernating process: its memory as it differs from the module's initial
// memory, in runs of 256-byte blocks, and its globals. A waiting C process has touched little of
// its memory (some data, the top of its stack, a little heap, the Asyncify data of its stack),
// so a snapshot is a few KiB where the instance held hundreds. Restoring writes the runs into an
// instance already reset to the initial state (vessel.ts).

import { SCAN_BLOCK_BYTES } from './memory-scan.js';

/** Bytes compared and stored as one: small enough that a few changed bytes cost little. */
const BLOCK_BYTES = SCAN_BLOCK_BYTES;
const BLOCK_WORDS = BLOCK_BYTES / 4;

export interface Snapshot {
  /** The memory's length in bytes (it may have grown past the initial one). */
  length: number;
  /** Start and end offsets of the runs that differ, in pairs. */
  runs: Uint32Array;
  /** The bytes of the runs, one after the other. */
  bytes: Uint8Array;
  globals: unknown[];
}

/**
 * A module's initial memory, with the blocks that are not zero (its data segments) found once.
 * Beyond `bytes` (the memory a fresh instance has) it is zero: a host may grow memory past it
 * before the process starts (the Asyncify reserved tail).
 */
export interface InitialMemory {
  bytes: Uint8Array;
  words: Int32Array;
  /** Start and end byte offsets of the runs of blocks that are zero, in pairs. */
  zeroRuns: number[];
  /** Start offsets of the blocks that are not. */
  dataBlocks: number[];
}

/** `bytes` (a fresh instance's memory, kept as it is: not copied) with its non-zero blocks found by `scanner`. */
export function initialMemory(bytes: Uint8Array, scanner: Scanner): InitialMemory {
  const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  const zeroRuns: number[] = [];
  const dataBlocks: number[] = [];
  let zeroFrom = 0;
  for (let at = scanner.nonzero(0, bytes.length); at < bytes.length; at = scanner.nonzero(at + BLOCK_BYTES, bytes.length)) {
    if (at > zeroFrom) zeroRuns.push(zeroFrom, at);
    dataBlocks.push(at);
    zeroFrom = at + BLOCK_BYTES;
  }
  if (bytes.length > zeroFrom) zeroRuns.push(zeroFrom, bytes.length);
  return { bytes, words, zeroRuns, dataBlocks };
}

/** Finds the non-zero blocks of a memory (memory-scan.ts). */
export interface Scanner {
  nonzero(from: number, to: number): number;
}

/**
 * Start offsets of the blocks of `memory` that differ from `initial` (beyond `initial`'s end:
 * from zero), in order, looking no further than `changedEnd` (the host knows nothing changed beyond).
 */
export function dirtyBlocks(memory: Uint8Array, initial: InitialMemory, scanner: Scanner, changedEnd = memory.length): number[] {
  const dirty: number[] = [];
  const words = new Int32Array(memory.buffer, memory.byteOffset, memory.length >>> 2);
  const limit = Math.min(memory.length, Math.ceil(changedEnd / BLOCK_BYTES) * BLOCK_BYTES);
  const scanZeros = (from: number, end: number) => {
    const to = Math.min(end, limit);
    for (let at = from < to ? scanner.nonzero(from, to) : to; at < to; at = scanner.nonzero(at + BLOCK_BYTES, to)) dirty.push(at);
  };
  // data blocks and zero runs in address order, so the blocks come out in order
  const { dataBlocks, zeroRuns } = initial;
  let data = 0;
  const compareDataBefore = (end: number) => {
    for (; data < dataBlocks.length && dataBlocks[data]! < end; data++) {
      if (blockDiffers(words, initial.words, dataBlocks[data]! >>> 2)) dirty.push(dataBlocks[data]!);
    }
  };
  for (let i = 0; i < zeroRuns.length; i += 2) {
    compareDataBefore(zeroRuns[i]!);
    scanZeros(zeroRuns[i]!, zeroRuns[i + 1]!);
  }
  compareDataBefore(Number.POSITIVE_INFINITY);
  if (memory.length > initial.bytes.length) scanZeros(initial.bytes.length, memory.length);
  return dirty;
}

/** The `dirty` blocks of `memory` (dirtyBlocks) and the globals' values. */
export function takeSnapshot(memory: Uint8Array, dirty: readonly number[], globals: readonly WebAssembly.Global[]): Snapshot {
  const runs: number[] = [];
  for (const start of dirty) {
    if (runs.length > 0 && runs[runs.length - 1] === start) runs[runs.length - 1] = start + BLOCK_BYTES;
    else runs.push(start, start + BLOCK_BYTES);
  }
  // one buffer for the runs and the bytes: an ArrayBuffer is the costly part of a small snapshot
  const buffer = new ArrayBuffer(runs.length * 4 + dirty.length * BLOCK_BYTES);
  const runTable = new Uint32Array(buffer, 0, runs.length);
  runTable.set(runs);
  const bytes = new Uint8Array(buffer, runs.length * 4);
  let at = 0;
  for (let i = 0; i < runs.length; i += 2) {
    bytes.set(memory.subarray(runs[i], runs[i + 1]), at);
    at += runs[i + 1]! - runs[i]!;
  }
  return { length: memory.length, runs: runTable, bytes, globals: globals.map((global) => global.value) };
}

/**
 * Writes the initial bytes back into the `dirty` blocks only: pages the process never touched
 * are never written, so they stay unmapped (no resident memory, no page fault).
 */
export function restoreInitial(memory: Uint8Array, initial: InitialMemory, dirty: readonly number[]): void {
  const initialBytes = initial.bytes;
  const end = initialBytes.length;
  for (const start of dirty) {
    if (start < end) memory.set(initialBytes.subarray(start, start + BLOCK_BYTES), start);
    else memory.fill(0, start, start + BLOCK_BYTES);
  }
}

function blockDiffers(words: Int32Array, initial: Int32Array, block: number): boolean {
  for (let i = block; i < block + BLOCK_WORDS; i++) if (words[i] !== initial[i]) return true;
  return false;
}

/** Writes the snapshot into `memory` (already holding the initial state, as long as the snapshot's) and sets the globals. */
export function restoreSnapshot(snapshot: Snapshot, memory: Uint8Array, globals: readonly WebAssembly.Global[]): void {
  const { runs, bytes } = snapshot;
  let at = 0;
  for (let i = 0; i < runs.length; i += 2) {
    const length = runs[i + 1]! - runs[i]!;
    memory.set(bytes.subarray(at, at + length), runs[i]);
    at += length;
  }
  for (let i = 0; i < globals.length; i++) globals[i]!.value = snapshot.globals[i];
}
