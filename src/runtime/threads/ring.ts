// A single-producer single-consumer ring of byte records in shared memory: one thread writes,
// one other thread reads, with no lock and no copy beyond the record itself. Each ordered pair of
// threads has one (threads.ts), so what one thread sends another arrives in the order sent.
//
// Layout (one SharedArrayBuffer region): Int32 [write position, read position], then `capacity`
// bytes of records. Positions count bytes since the start and wrap at 2^32; a record is an int32
// length, its payload, padded to 4 bytes, and never wraps round the end: when it would, a PAD
// length fills the rest of the lap. The writer publishes the records written so far with one
// Atomics.store of the write position (after writing their bytes), the reader frees them with one
// of the read position.
// A record must fit in half the ring (the caller splits larger ones, threads.ts).

const PAD = -1;
const HEADER_BYTES = 8;
const WRITE = 0;
const READ = 1;

/** Bytes a ring of `capacity` takes in a SharedArrayBuffer. */
export const ringBytes = (capacity: number): number => HEADER_BYTES + capacity;

const align = (n: number) => (n + 3) & ~3;

export class Ring {
  private readonly positions: Int32Array;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly mask: number;
  /** The producer's write position: past the records written, published or not. */
  private written = 0;

  /** `capacity`: a power of two. */
  constructor(
    buffer: SharedArrayBuffer,
    offset: number,
    readonly capacity: number,
  ) {
    if (capacity & (capacity - 1)) throw new RangeError(`a ring's capacity must be a power of two, not ${capacity}`);
    this.positions = new Int32Array(buffer, offset, 2);
    this.bytes = new Uint8Array(buffer, offset + HEADER_BYTES, capacity);
    this.view = new DataView(buffer, offset + HEADER_BYTES, capacity);
    this.mask = capacity - 1;
  }

  /** The largest payload one record may hold. */
  get maxPayload(): number {
    return this.capacity / 2 - 4;
  }

  /**
   * Producer: room for a record of `length` payload bytes; returns the offset in `bytes`/`view`
   * where the payload goes (write it at once), or -1 when the ring is too full now. `publish`
   * makes it and the others written before it visible to the reader.
   */
  reserve(length: number): number {
    const total = align(4 + length);
    const write = this.written;
    const used = (write - Atomics.load(this.positions, READ)) | 0;
    const at = write & this.mask;
    const tail = this.capacity - at;
    const skip = tail < total ? tail : 0;
    if (used + skip + total > this.capacity) return -1;
    if (skip) this.view.setInt32(at, PAD, true);
    const start = (at + skip) & this.mask;
    this.view.setInt32(start, length, true);
    this.written = (write + skip + total) | 0;
    return start + 4;
  }

  /** Producer: makes the records written so far visible to the reader; false when there were none. */
  publish(): boolean {
    if (this.positions[WRITE] === this.written) return false;
    Atomics.store(this.positions, WRITE, this.written);
    return true;
  }

  /** Producer: whether records it wrote (published or not) are still unread. */
  get unread(): boolean {
    return this.written !== Atomics.load(this.positions, READ);
  }

  /** Whether a record waits (either side may ask). */
  get empty(): boolean {
    return Atomics.load(this.positions, WRITE) === Atomics.load(this.positions, READ);
  }

  /**
   * Consumer: calls `handle(offset, length)` for each waiting record (its payload lies at
   * `offset` in `bytes`/`view`, valid only during the call), freeing each after its call.
   * Returns how many records it handled.
   */
  drain(handle: (offset: number, length: number) => void, limit = Infinity): number {
    const positions = this.positions;
    let read = positions[READ]!;
    const write = Atomics.load(positions, WRITE);
    let handled = 0;
    while (read !== write && handled < limit) {
      const at = read & this.mask;
      const length = this.view.getInt32(at, true);
      if (length === PAD) {
        read = (read + this.capacity - at) | 0;
        continue;
      }
      handle(at + 4, length);
      read = (read + align(4 + length)) | 0;
      Atomics.store(positions, READ, read);
      handled++;
    }
    Atomics.store(positions, READ, read);
    return handled;
  }
}
