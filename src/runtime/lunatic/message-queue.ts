// The queue behind a mailbox: messages in arrival order, where a small message is a record in
// byte chunks, not JS objects. Why: a receiver that falls behind a fast sender holds its
// backlog in the queue, and as objects (a Message, its view and its BigInt tag, some 150 bytes of
// JS heap each) a backlog of 100,000s made every young-generation GC copy them: the receiver
// slowed as its backlog grew, so once behind it stayed behind (bulk messages across threads ran
// at half speed). As records, a backlog is a few ArrayBuffers the GC never copies.
//
// Notifications are records too (a parent that collects 100,000 DOWNs queues them all). Larger
// messages stay objects, in the same order: the entry holds a key into the queue's Map of them.
// A position names an entry until the queue next changes: selective receive finds one, reads it
// and removes it. Removed entries in the middle are marked and stepped over; a chunk is let go
// once the first live entry is past it.
import { copyBytes } from './guest-memory.js';

export interface Message {
  /** Positive for user messages; negative tags are the runtime's notifications (tags.ts). */
  tag: bigint;
  sender: number;
  data: Uint8Array;
}

/** Messages up to this size are records in the chunks; larger ones are objects. */
export const INLINE_MAX = 256;
/** A queue's first chunk; each next one is 4 times larger, up to CHUNK_MAX. */
const CHUNK_MIN = 1024;
const CHUNK_MAX = 64 * 1024;
/** Positions: chunk number (counted since the queue started) times POSITION_SPAN plus the offset in it. */
const POSITION_SPAN = CHUNK_MAX;

// An entry: state (u8: 1 live, 0 removed), kind (u8: 0 record, 1 object), 2 bytes unused,
// sender (i32), tag (i64), then the length and the bytes of a record, or an object's key.
const STATE = 0;
const KIND = 1;
const SENDER = 4;
const TAG = 8;
const LENGTH_OR_KEY = 16;
const HEADER = 20;
const LIVE = 1;
const OBJECT = 1;

/** An entry's size, rounded up to 4 bytes so headers stay aligned. */
const entrySize = (dataLength: number) => (HEADER + dataLength + 3) & ~3;

/** Bytes and a DataView of them, and how many are used (entries never span two chunks). */
interface Chunk {
  bytes: Uint8Array;
  view: DataView;
  end: number;
}

/** Where a message's bytes are copied to (a process's memory: GuestMemory). */
export interface ByteSink {
  writePart(pointer: number, source: Uint8Array, start: number, length: number): void;
}

/** The chunks of every empty queue: most processes never have a message queued. */
const NO_CHUNKS: Chunk[] = [];

/**
 * First chunks let go by queues, for the next queue to start with: a mailbox that empties and
 * fills again with every message would otherwise make an ArrayBuffer (microseconds) each time.
 * Per thread, as this module is.
 */
const spareChunks: Chunk[] = [];
const SPARE_CHUNKS_MAX = 64;

function newChunk(size: number): Chunk {
  const spare = size === CHUNK_MIN ? spareChunks.pop() : undefined;
  if (spare) {
    spare.end = 0;
    return spare;
  }
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer), end: 0 };
}

function letGo(chunk: Chunk): void {
  if (chunk.bytes.length === CHUNK_MIN && spareChunks.length < SPARE_CHUNKS_MAX) spareChunks.push(chunk);
}

export class MessageQueue {
  private chunks = NO_CHUNKS;
  /** The number of chunks[0] since the queue started. */
  private firstChunk = 0;
  /** The first entry that may be live: in chunks[0] at this offset (every entry before it is removed). */
  private headOffset = 0;
  /** Queued objects by key (keys are i32 in the entries; they wrap long after the oldest left). */
  private objects: Map<number, Message> | undefined;
  private nextKey = 0;
  private live = 0;
  /** The last tag looked for, as its two halves (a selective receive asks for the same tag again and again). */
  private wanted = 0n;
  private wantedLow = 0;
  private wantedHigh = 0;

  get size(): number {
    return this.live;
  }

  /** Queues a copy of `data` (at most INLINE_MAX bytes) as a record. */
  pushRecord(tag: bigint, sender: number, data: Uint8Array): void {
    const { bytes, view, at } = this.entry(entrySize(data.length));
    view.setUint8(at + STATE, LIVE);
    view.setUint8(at + KIND, 0);
    view.setInt32(at + SENDER, sender, true);
    view.setBigInt64(at + TAG, tag, true);
    view.setInt32(at + LENGTH_OR_KEY, data.length, true);
    copyBytes(bytes, at + HEADER, data, 0, data.length);
  }

  /** Queues `message` as it is (a message over INLINE_MAX bytes, with its own copy). */
  pushObject(message: Message): void {
    const { view, at } = this.entry(HEADER);
    const key = this.nextKey;
    this.nextKey = (key + 1) | 0;
    (this.objects ??= new Map()).set(key, message);
    view.setUint8(at + STATE, LIVE);
    view.setUint8(at + KIND, OBJECT);
    view.setInt32(at + SENDER, message.sender, true);
    view.setBigInt64(at + TAG, message.tag, true);
    view.setInt32(at + LENGTH_OR_KEY, key, true);
  }

  /** The position of the first live entry whose tag is `tag` (any tag when undefined), or -1. */
  find(tag?: bigint): number {
    if (this.live === 0) return -1;
    if (tag === undefined) return this.firstChunk * POSITION_SPAN + this.headOffset; // the head is live
    if (tag !== this.wanted) {
      this.wanted = tag;
      this.wantedLow = Number(BigInt.asIntN(32, tag));
      this.wantedHigh = Number(BigInt.asIntN(32, tag >> 32n));
    }
    const { chunks, wantedLow, wantedHigh } = this;
    for (let index = 0; index < chunks.length; index++) {
      const { view, end } = chunks[index]!;
      for (let at = index === 0 ? this.headOffset : 0; at < end; at = next(view, at)) {
        if (
          view.getUint8(at + STATE) === LIVE &&
          view.getInt32(at + TAG, true) === wantedLow &&
          view.getInt32(at + TAG + 4, true) === wantedHigh
        )
          return (this.firstChunk + index) * POSITION_SPAN + at;
      }
    }
    return -1;
  }

  /** The message at `position` (a record's bytes are a view of the chunk, valid until the queue next changes). */
  messageAt(position: number): Message {
    const { bytes, view } = this.chunkAt(position);
    const at = position % POSITION_SPAN;
    if (view.getUint8(at + KIND) === OBJECT) return this.objectAt(view, at);
    const start = at + HEADER;
    return {
      tag: view.getBigInt64(at + TAG, true),
      sender: view.getInt32(at + SENDER, true),
      data: bytes.subarray(start, start + view.getInt32(at + LENGTH_OR_KEY, true)),
    };
  }

  /** The tag of the message at `position`. */
  tagAt(position: number): bigint {
    return this.chunkAt(position).view.getBigInt64((position % POSITION_SPAN) + TAG, true);
  }

  senderAt(position: number): number {
    return this.chunkAt(position).view.getInt32((position % POSITION_SPAN) + SENDER, true);
  }

  /** Whether the message at `position` is a notification (a negative tag), read without making its BigInt. */
  hasNegativeTag(position: number): boolean {
    return this.chunkAt(position).view.getInt32((position % POSITION_SPAN) + TAG + 4, true) < 0;
  }

  /** How many bytes the message at `position` holds. */
  lengthAt(position: number): number {
    return this.recordLength(position) ?? this.messageAt(position).data.length;
  }

  /** Copies the bytes of the message at `position` to `pointer` in `sink`, without making a view of them. */
  copyData(position: number, sink: ByteSink, pointer: number): void {
    const { bytes, view } = this.chunkAt(position);
    const at = position % POSITION_SPAN;
    if (view.getUint8(at + KIND) === OBJECT) {
      const { data } = this.objectAt(view, at);
      sink.writePart(pointer, data, 0, data.length);
    } else sink.writePart(pointer, bytes, at + HEADER, view.getInt32(at + LENGTH_OR_KEY, true));
  }

  /** The length of the record at `position`; undefined when the entry is an object. */
  recordLength(position: number): number | undefined {
    const { view } = this.chunkAt(position);
    const at = position % POSITION_SPAN;
    return view.getUint8(at + KIND) === OBJECT ? undefined : view.getInt32(at + LENGTH_OR_KEY, true);
  }

  remove(position: number): void {
    const { view } = this.chunkAt(position);
    const at = position % POSITION_SPAN;
    view.setUint8(at + STATE, 0);
    if (view.getUint8(at + KIND) === OBJECT) this.objects!.delete(view.getInt32(at + LENGTH_OR_KEY, true));
    if (--this.live === 0) this.clear();
    else if (position === this.firstChunk * POSITION_SPAN + this.headOffset) this.advanceHead();
  }

  /** Every queued message, in order (records copied out), leaving the queue empty. */
  takeAll(): Message[] {
    const messages: Message[] = [];
    for (let position = this.find(); position >= 0; position = this.find()) {
      const message = this.messageAt(position);
      // a record's bytes are a view of a chunk the queue lets go of
      messages.push(this.recordLength(position) === undefined ? message : { ...message, data: message.data.slice() });
      this.remove(position);
    }
    return messages;
  }

  private clear(): void {
    for (const chunk of this.chunks) letGo(chunk);
    this.firstChunk += this.chunks.length;
    this.chunks = NO_CHUNKS;
    this.headOffset = 0;
  }

  /** Room for a new entry of `size` bytes at the end of the last chunk (a new chunk when it is full). */
  private entry(size: number): { bytes: Uint8Array; view: DataView; at: number } {
    if (this.chunks === NO_CHUNKS) this.chunks = [];
    let tail = this.chunks[this.chunks.length - 1];
    if (!tail || tail.end + size > tail.bytes.length) {
      tail = newChunk(tail ? Math.min(tail.bytes.length * 4, CHUNK_MAX) : CHUNK_MIN);
      this.chunks.push(tail);
    }
    const at = tail.end;
    tail.end = at + size;
    this.live++;
    return { bytes: tail.bytes, view: tail.view, at };
  }

  /** Moves the head past removed entries, letting go of the chunks it leaves (the queue holds a live entry). */
  private advanceHead(): void {
    for (;;) {
      const { view, end } = this.chunks[0]!;
      let at = this.headOffset;
      while (at < end && view.getUint8(at + STATE) !== LIVE) at = next(view, at);
      this.headOffset = at;
      if (at < end) return;
      letGo(this.chunks.shift()!);
      this.firstChunk++;
      this.headOffset = 0;
    }
  }

  private objectAt(view: DataView, at: number): Message {
    return this.objects!.get(view.getInt32(at + LENGTH_OR_KEY, true))!;
  }

  private chunkAt(position: number): Chunk {
    return this.chunks[Math.floor(position / POSITION_SPAN) - this.firstChunk]!;
  }
}

/** The entry after the one at `at`. */
function next(view: DataView, at: number): number {
  return at + (view.getUint8(at + KIND) === OBJECT ? HEADER : entrySize(view.getInt32(at + LENGTH_OR_KEY, true)));
}
