// Reading and writing the calling process's linear memory for the lunatic API, with bounds
// checks: a bad pointer or length from wasm is an INVAL error code, never a host exception.
// Views are made afresh on every access because the memory may have grown since (the Memory
// object itself stays the same, so it is looked up once).
import { Errno, LunaticError } from './errno.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class GuestMemory {
  private cached: WebAssembly.Memory | undefined;

  constructor(private readonly memory: () => WebAssembly.Memory) {}

  /** A live view of `length` bytes at `pointer` (wasm passes both as signed i32). */
  view(pointer: number, length: number): Uint8Array {
    const start = pointer >>> 0;
    const size = length >>> 0;
    const buffer = (this.cached ??= this.memory()).buffer;
    if (start + size > buffer.byteLength) throw new LunaticError(Errno.INVAL, `${size} bytes at ${start} lie outside the process's memory`);
    return new Uint8Array(buffer, start, size);
  }

  /** A copy, for data that outlives the call (messages, socket writes). */
  copy(pointer: number, length: number): Uint8Array {
    return this.view(pointer, length).slice();
  }

  string(pointer: number, length: number): string {
    try {
      return utf8.decode(this.view(pointer, length));
    } catch (error) {
      if (error instanceof LunaticError) throw error;
      throw new LunaticError(Errno.INVAL, 'a string argument is not valid UTF-8');
    }
  }

  /** Writes `bytes` at `pointer`; a NULL pointer (0) means the caller does not want them. */
  write(pointer: number, bytes: Uint8Array): void {
    if (pointer !== 0) this.view(pointer, bytes.length).set(bytes);
  }

  writeU32(pointer: number, value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    this.write(pointer, bytes);
  }
}
