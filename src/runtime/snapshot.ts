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

const NO_OFFSETS = new Uint32Array(0);

/** Start offsets of blocks, in address order, in a buffer kept from one scan to the next. */
export class BlockList {
  /** Empty until the first push: every vessel has a list, and a process that lives long never fills it. */
  private offsets = NO_OFFSETS;
  length = 0;

  at(index: number): number {
    return this.offsets[index]!;
  }

  push(offset: number): void {
    if (this.length === this.offsets.length) {
      const grown = new Uint32Array(Math.max(64, this.length * 2));
      grown.set(this.offsets);
      this.offsets = grown;
    }
    this.offsets[this.length++] = offset;
  }
}

/**
 * Start offsets of the blocks of `memory` (`words`: the same as an Int32Array) that differ from
 * `initial` (beyond `initial`'s end: from zero), in order, into `dirty` (emptied first), looking
 * no further than `changedEnd` (the host knows nothing changed beyond). Allocates nothing once
 * `dirty` has grown: a pooled instance runs it at every process's end.
 */
export function dirtyBlocks(
  memory: Uint8Array,
  words: Int32Array,
  initial: InitialMemory,
  scanner: Scanner,
  changedEnd = memory.length,
  dirty = new BlockList(),
): BlockList {
  dirty.length = 0;
  const limit = Math.min(memory.length, Math.ceil(changedEnd / BLOCK_BYTES) * BLOCK_BYTES);
  // data blocks and zero runs in address order, so the blocks come out in order
  const { zeroRuns } = initial;
  let data = 0;
  for (let i = 0; i < zeroRuns.length; i += 2) {
    data = pushChangedData(dirty, words, initial, data, zeroRuns[i]!);
    pushNonzero(dirty, scanner, zeroRuns[i]!, Math.min(zeroRuns[i + 1]!, limit));
  }
  pushChangedData(dirty, words, initial, data, Number.POSITIVE_INFINITY);
  if (memory.length > initial.bytes.length) pushNonzero(dirty, scanner, initial.bytes.length, limit);
  return dirty;
}

/** Pushes the blocks from `from` to `to` that are not zero. */
function pushNonzero(dirty: BlockList, scanner: Scanner, from: number, to: number): void {
  for (let at = from < to ? scanner.nonzero(from, to) : to; at < to; at = scanner.nonzero(at + BLOCK_BYTES, to)) dirty.push(at);
}

/** Pushes the data blocks from the `data`th up to `end` that changed; returns the index of the first one left. */
function pushChangedData(dirty: BlockList, words: Int32Array, initial: InitialMemory, data: number, end: number): number {
  const { dataBlocks } = initial;
  for (; data < dataBlocks.length && dataBlocks[data]! < end; data++) {
    if (blockDiffers(words, initial.words, dataBlocks[data]! >>> 2)) dirty.push(dataBlocks[data]!);
  }
  return data;
}

/** The `dirty` blocks of `memory` (dirtyBlocks) and the globals' values. */
export function takeSnapshot(memory: Uint8Array, dirty: BlockList, globals: readonly WebAssembly.Global[]): Snapshot {
  const runs: number[] = [];
  for (let i = 0; i < dirty.length; i++) {
    const start = dirty.at(i);
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
 * Writes the initial words back into the `dirty` blocks only: pages the process never touched
 * are never written (the scan only read them: on a kernel with a shared zero page that allocates
 * nothing). Word by word, not `set` from a subarray: nothing to allocate per block.
 */
export function restoreInitial(words: Int32Array, initial: InitialMemory, dirty: BlockList): void {
  const initialWords = initial.words;
  const end = initialWords.length;
  for (let block = 0; block < dirty.length; block++) {
    const first = dirty.at(block) >>> 2;
    if (first < end) for (let i = first; i < first + BLOCK_WORDS; i++) words[i] = initialWords[i]!;
    else words.fill(0, first, first + BLOCK_WORDS);
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
