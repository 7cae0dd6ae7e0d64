// The calling process's memory as the WASI calls see it: bounds-checked reads and writes
// (a bad pointer is EFAULT, never a host exception), views made afresh on every access because
// the memory may have grown (and its old buffer detached) while a call was waiting.
import { IOVEC_SIZE } from './abi.js';
import { Errno, WasiError } from './errno.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface IoVec {
  pointer: number;
  length: number;
}

export class GuestMemory {
  constructor(private readonly memory: () => WebAssembly.Memory) {}

  /** A live view of `length` bytes at `pointer` (wasm passes both as signed i32). */
  bytes(pointer: number, length: number): Uint8Array {
    const start = pointer >>> 0;
    const size = length >>> 0;
    const buffer = this.memory().buffer;
    if (start + size > buffer.byteLength) throw new WasiError(Errno.FAULT, `${size} bytes at ${start} lie outside the process's memory`);
    return new Uint8Array(buffer, start, size);
  }

  private view(pointer: number, size: number): DataView {
    const bytes = this.bytes(pointer, size);
    return new DataView(bytes.buffer, bytes.byteOffset, size);
  }

  u8(pointer: number): number {
    return this.view(pointer, 1).getUint8(0);
  }
  u16(pointer: number): number {
    return this.view(pointer, 2).getUint16(0, true);
  }
  u32(pointer: number): number {
    return this.view(pointer, 4).getUint32(0, true);
  }
  u64(pointer: number): bigint {
    return this.view(pointer, 8).getBigUint64(0, true);
  }
  setU8(pointer: number, value: number): void {
    this.view(pointer, 1).setUint8(0, value);
  }
  setU16(pointer: number, value: number): void {
    this.view(pointer, 2).setUint16(0, value, true);
  }
  setU32(pointer: number, value: number): void {
    this.view(pointer, 4).setUint32(0, value, true);
  }
  setU64(pointer: number, value: bigint): void {
    this.view(pointer, 8).setBigUint64(0, BigInt.asUintN(64, value), true);
  }

  /** Zeroes `size` bytes: structs are written whole, padding included. */
  clear(pointer: number, size: number): void {
    this.bytes(pointer, size).fill(0);
  }

  string(pointer: number, length: number): string {
    try {
      return utf8.decode(this.bytes(pointer, length));
    } catch (error) {
      if (error instanceof WasiError) throw error;
      throw new WasiError(Errno.ILSEQ, 'a path is not valid UTF-8');
    }
  }

  /** The iovec array (ciovec for writes): `{ u32 buf, u32 len }` each, checked against memory. */
  iovecs(pointer: number, count: number): IoVec[] {
    const vectors: IoVec[] = [];
    for (let i = 0; i < count >>> 0; i++) {
      const at = (pointer >>> 0) + i * IOVEC_SIZE;
      const vector = { pointer: this.u32(at), length: this.u32(at + 4) };
      this.bytes(vector.pointer, vector.length);
      vectors.push(vector);
    }
    return vectors;
  }

  /** Copies what the iovecs point at into one new buffer (it outlives the call). */
  gather(vectors: IoVec[]): Uint8Array {
    const out = new Uint8Array(totalLength(vectors));
    let at = 0;
    for (const { pointer, length } of vectors) {
      out.set(this.bytes(pointer, length), at);
      at += length;
    }
    return out;
  }

  /** Spreads `data` over the iovecs in order; returns how many bytes were placed. */
  scatter(vectors: IoVec[], data: Uint8Array): number {
    let at = 0;
    for (const { pointer, length } of vectors) {
      if (at >= data.length) break;
      const count = Math.min(length, data.length - at);
      this.bytes(pointer, count).set(data.subarray(at, at + count));
      at += count;
    }
    return at;
  }
}

export function totalLength(vectors: IoVec[]): number {
  return vectors.reduce((sum, vector) => sum + vector.length, 0);
}
