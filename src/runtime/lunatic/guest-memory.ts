// Reading and writing the calling process's linear memory for the lunatic API, with bounds
// checks: a bad pointer or length from wasm is an INVAL error code, never a host exception.
// The views are kept while the memory's buffer stays the same and made anew after it grew (the
// Memory object itself stays the same, so it is looked up once): the message path reads and
// writes here on every hop, and a fresh view per access was a large part of its garbage.
import { Errno, LunaticError } from './errno.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Up to this many bytes a copy goes byte by byte: making a view for `set` costs more. */
const COPY_BY_BYTE_MAX = 32;

/** Copies `length` bytes of `source` from `start` into `target` at `at`. */
export function copyBytes(target: Uint8Array, at: number, source: Uint8Array, start: number, length: number): void {
  if (length <= COPY_BY_BYTE_MAX) for (let i = 0; i < length; i++) target[at + i] = source[start + i]!;
  else if (start === 0 && length === source.length) target.set(source, at);
  else target.set(source.subarray(start, start + length), at);
}

/** Views of nothing until the first access: an ArrayBuffer of its own would be one more per spawn, for V8 to track. */
const NO_BYTES = new Uint8Array(0);
const NO_DATA = new DataView(new ArrayBuffer(0));

export class GuestMemory {
  private cached: WebAssembly.Memory | undefined;
  private buffer: ArrayBuffer | undefined;
  private bytes = NO_BYTES;
  private data = NO_DATA;

  constructor(private readonly memory: () => WebAssembly.Memory) {}

  /** A live view of `length` bytes at `pointer` (wasm passes both as signed i32). */
  view(pointer: number, length: number): Uint8Array {
    const start = this.check(pointer, length);
    return this.bytes.subarray(start, start + (length >>> 0));
  }

  /** Writes the three fields of a lunatic_message_t { int64_t tag; int32_t sender; uint32_t size; } at `pointer`. */
  writeMessageInfo(pointer: number, tag: bigint, sender: number, size: number): void {
    const start = this.check(pointer, 16);
    this.data.setBigInt64(start, tag, true);
    this.data.setInt32(start + 8, sender, true);
    this.data.setUint32(start + 12, size, true);
  }

  /** The start of `length` bytes at `pointer`, after checking they lie inside memory. */
  private check(pointer: number, length: number): number {
    const start = pointer >>> 0;
    const size = length >>> 0;
    // A grown memory detaches the old buffer, whose views then have length 0: only then (or for
    // an access past the end) is `memory.buffer` asked again, which costs a call into the engine.
    if (this.bytes.length === 0 || start + size > this.bytes.length) this.renew();
    if (start + size > this.bytes.length) throw new LunaticError(Errno.INVAL, `${size} bytes at ${start} lie outside the process's memory`);
    return start;
  }

  private renew(): void {
    const buffer = (this.cached ??= this.memory()).buffer;
    if (buffer === this.buffer) return;
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.data = new DataView(buffer);
  }

  /** A copy, for data that outlives the call (messages, socket writes). */
  copy(pointer: number, length: number): Uint8Array {
    return this.view(pointer, length).slice();
  }

  string(pointer: number, length: number): string {
    const bytes = this.view(pointer, length);
    if (length <= SHORT_ASCII) {
      const ascii = shortAscii(bytes);
      if (ascii !== undefined) return ascii;
    }
    try {
      return utf8.decode(bytes);
    } catch (error) {
      if (error instanceof LunaticError) throw error;
      throw new LunaticError(Errno.INVAL, 'a string argument is not valid UTF-8');
    }
  }

  /** Writes `length` bytes of `source` from `start` at `pointer`; NULL (0) writes nothing. */
  writePart(pointer: number, source: Uint8Array, start: number, length: number): void {
    if (pointer === 0) return;
    const at = this.check(pointer, length); // before reading this.bytes: it may be renewed
    copyBytes(this.bytes, at, source, start, length);
  }

  /** Writes `bytes` at `pointer`; a NULL pointer (0) means the caller does not want them. */
  write(pointer: number, bytes: Uint8Array): void {
    this.writePart(pointer, bytes, 0, bytes.length);
  }

  writeU32(pointer: number, value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    this.write(pointer, bytes);
  }
}

/** Up to this many bytes, a string (an entry's name at every spawn) is read without a TextDecoder call, when it is ASCII. */
const SHORT_ASCII = 32;

function shortAscii(bytes: Uint8Array): string | undefined {
  let text = '';
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x80) return undefined;
    text += String.fromCharCode(byte);
  }
  return text;
}
