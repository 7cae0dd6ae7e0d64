// The producer side of one ring (ring.ts), and the record framing both sides agree on. A record
// is written in place in the ring when it has room; when it has none, or when earlier records
// still wait, it is built in a buffer of its own and queued, and the queue drains into the ring
// as the reader frees room (so order is kept and a full ring never blocks the writer). A record
// larger than a ring record may hold is cut into PART records and a LAST one, which the reader
// joins (Inbox).
//
// Records are published when the code that wrote them gives up the thread (a macrotask: the
// sending process has parked, yielded or ended, and the batch of processes is over), not one by
// one: so a child spawned on another thread starts only after its parent stopped, and sees what
// the parent did after spawning it in the same turn (a socket given to it, messages), as on one
// thread; and one doorbell rings for many records.
import type { Ring } from './ring.js';

/** The first byte of every record (its payload layout: threads.ts). */
export const Kind = {
  MESSAGE: 1,
  SPAWN: 2,
  CONTROL: 3,
  GIVE: 4,
  SOCKET: 5,
  NAME: 6,
  REPLY: 7,
  PART: 8,
  LAST: 9,
  MOVE: 10,
  ENDED_AWAY: 11,
  FORWARD: 12,
} as const;

const EMPTY = new Uint8Array(0);

/** Where a record is being written: in the ring, or in a buffer of its own. */
export interface Slot {
  bytes: Uint8Array;
  view: DataView;
  offset: number;
}

export class Outbox {
  private queued: Uint8Array[] = [];
  /** The first record of `queued` not yet in the ring. */
  private head = 0;
  private inRing = false;
  private readonly slot: Slot;

  constructor(
    private readonly ring: Ring,
    /** Tells the reader records wait (its doorbell). */
    private readonly wake: () => void,
    /** Asks for `publish` at the end of this turn. */
    private readonly schedule: () => void,
    /** Asks for `flush` later, when the ring was full. */
    private readonly retry: () => void,
  ) {
    this.slot = { bytes: ring.bytes, view: ring.view, offset: 0 };
  }

  /** Whether records wait for room in the ring. */
  get backlog(): boolean {
    return this.head < this.queued.length;
  }

  /** Whether records it was given are not read yet (waiting for room, in the ring, or unpublished). */
  get unread(): boolean {
    return this.backlog || this.ring.unread;
  }

  /** Room for a record of `length` bytes (its kind first), queued when the ring has none; `end` sends it. */
  begin(length: number): Slot {
    return this.tryBegin(length) ?? this.beginQueued(length);
  }

  /**
   * Room for a record of `length` bytes in the ring, or undefined when the ring is full or
   * records wait for room already (a message is then refused with FULL: back-pressure). A
   * record too large for one ring record is always accepted (queued in pieces) when none wait.
   */
  tryBegin(length: number): Slot | undefined {
    if (this.backlog) return undefined;
    if (length > this.ring.maxPayload) return this.beginQueued(length);
    const offset = this.ring.reserve(length);
    if (offset < 0) return undefined;
    this.inRing = true;
    this.slot.bytes = this.ring.bytes;
    this.slot.view = this.ring.view;
    this.slot.offset = offset;
    return this.slot;
  }

  private beginQueued(length: number): Slot {
    this.inRing = false;
    const bytes = new Uint8Array(length);
    this.slot.bytes = bytes;
    this.slot.view = new DataView(bytes.buffer);
    this.slot.offset = 0;
    return this.slot;
  }

  end(): void {
    if (!this.inRing) {
      this.queue(this.slot.bytes);
      this.flush();
    }
    this.schedule();
  }

  /** Publishes what was written into the ring, and rings the reader's doorbell. */
  publish(): void {
    if (this.ring.publish()) this.wake();
  }

  /** Moves queued records into the ring while it has room; asks for a retry when some remain. */
  flush(): void {
    const queued = this.queued;
    while (this.head < queued.length) {
      const record = queued[this.head]!;
      const offset = this.ring.reserve(record.length);
      if (offset < 0) break;
      this.ring.bytes.set(record, offset);
      queued[this.head++] = EMPTY;
    }
    if (this.head === queued.length) {
      this.queued = [];
      this.head = 0;
    } else this.retry();
  }

  private queue(record: Uint8Array): void {
    const max = this.ring.maxPayload - 1;
    if (record.length <= this.ring.maxPayload) {
      this.queued.push(record);
      return;
    }
    for (let at = 0; at < record.length; at += max) {
      const piece = record.subarray(at, at + max);
      const framed = new Uint8Array(piece.length + 1);
      framed[0] = at + max >= record.length ? Kind.LAST : Kind.PART;
      framed.set(piece, 1);
      this.queued.push(framed);
    }
  }
}

/** The reader's side of PART/LAST: joins the pieces of a large record. */
export class Inbox {
  private pieces: Uint8Array[] = [];

  /** A PART piece (copied: the ring frees it after the call). */
  part(bytes: Uint8Array, offset: number, length: number): void {
    this.pieces.push(bytes.slice(offset + 1, offset + length));
  }

  /** The LAST piece: the whole record. */
  last(bytes: Uint8Array, offset: number, length: number): Slot {
    const total = this.pieces.reduce((sum, piece) => sum + piece.length, 0) + length - 1;
    const record = new Uint8Array(total);
    let at = 0;
    for (const piece of this.pieces) {
      record.set(piece, at);
      at += piece.length;
    }
    record.set(bytes.subarray(offset + 1, offset + length), at);
    this.pieces = [];
    return { bytes: record, view: new DataView(record.buffer), offset: 0 };
  }
}
