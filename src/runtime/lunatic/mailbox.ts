// A process's mailbox: messages in arrival order, bounds on how many and how many bytes may
// wait, and selective receive (take the first message with a given tag, leaving the others in
// order).
//
// A queued message's bytes are the mailbox's own copy. Small ones are copied into chunks the
// mailbox fills in turn (views, no ArrayBuffer each: with a fresh buffer per message, a receiver
// on another thread that fell behind a fast sender spent 40% of its time in V8's GC); a chunk is
// let go with the last of its messages, and an empty mailbox holds none.
//
// The message cycle has fast paths: a message for a process already waiting in receive with a
// matching filter is handed straight to it (the receiver copies it from the sender's memory
// into its own, with no queue and no intermediate copy); a receive without a filter takes the
// head of the queue; only a filter that skips messages walks the queue.
//
// On several threads the bound is also kept in shared memory (a MailboxBound,
// src/runtime/threads/), where a sender on another thread takes room before its message travels:
// so a send across threads gets FULL exactly when a send on this thread would. While the process
// waits in receive it lends one place more, as a waiting receiver is handed a message on this
// thread whatever its bound (a bound of 0 is a rendezvous on any thread).
import { Errno } from './errno.js';

/**
 * Most bytes of messages waiting in one mailbox (so also the largest message), whatever its count
 * bound: without it a process could make the runtime hold `capacity` copies of its whole memory
 * for a receiver that never reads.
 */
export const MAILBOX_MAX_BYTES = 64 * 1024 * 1024;

export interface Message {
  /** Positive for user messages; negative tags are the runtime's notifications (tags.ts). */
  tag: bigint;
  sender: number;
  data: Uint8Array;
}

/** Tag filter 0 matches every message. */
const ANY = 0n;

const matches = (tag: bigint, filter: bigint) => filter === ANY || tag === filter;

/** Notifications (negative tags) are not counted in a mailbox's bytes: they are never refused, and reading their size would make their bytes. */
const bytesOf = (message: Message) => (message.tag < 0n ? 0 : message.data.length);

/** The queue of every empty mailbox: most processes never have a message queued. */
const NO_MESSAGES: Message[] = [];

/** Messages up to this size are copied into the mailbox's chunks; larger ones get a buffer each. */
const CHUNKED_MAX = 256;
/** A mailbox's first chunk; each next one is 4 times larger, up to CHUNK_MAX. */
const CHUNK_MIN = 1024;
const CHUNK_MAX = 64 * 1024;

/**
 * The room of a mailbox that senders on other threads share: a message takes room while it
 * travels and waits; a notification takes it without asking.
 */
export interface MailboxBound {
  /** Takes room for one message of `bytes`; false (nothing taken) when the mailbox is at its bound. */
  reserve(bytes: number): boolean;
  /** Takes room for one message of `bytes` even past the bound (a notification). */
  force(bytes: number): void;
  /** Gives back the room of one message of `bytes` (it left the mailbox, or was handed over after a reserve). */
  release(bytes: number): void;
}

/** A process blocked in receive: takes a matching message, or declines one larger than its buffer. */
export interface Receiver {
  filter: bigint;
  /** Delivers a message (`data` may be a view of the sender's memory, valid only during the call); false when it does not fit. */
  take(tag: bigint, sender: number, data: Uint8Array): boolean;
  /** A matching message arrived that `take` could not hold (it stays queued). */
  tooLarge(): void;
}

export class Mailbox {
  private messages: Message[] = NO_MESSAGES;
  private head = 0;
  private bytes = 0;
  private receiver: Receiver | undefined;
  /** One place lent to other threads' senders while a receiver waits (the shared bound only). */
  private lent = false;
  /** The chunk small queued messages are copied into, and how much of it is taken. */
  private chunk: Uint8Array | undefined;
  private chunkUsed = 0;

  constructor(
    readonly capacity: number,
    /** The bound shared with other threads' senders, when the runtime runs on several. */
    private readonly shared?: MailboxBound,
    readonly maxBytes = MAILBOX_MAX_BYTES,
  ) {}

  get size(): number {
    return this.messages.length - this.head;
  }

  /**
   * A user message: handed to a waiting receiver whose filter matches, else queued. Returns 0,
   * or -FULL when the mailbox is at its bound (by count or by bytes). `data` is copied when it
   * is queued, so it may be a view of the sender's memory, unless `owned` (the caller gives it).
   */
  send(tag: bigint, sender: number, data: Uint8Array, owned = false): number {
    if (this.handOver(tag, sender, data)) return 0;
    const full = this.shared ? !this.shared.reserve(data.length) : this.size >= this.capacity || this.bytes + data.length > this.maxBytes;
    if (full) return -Errno.FULL;
    this.push({ tag, sender, data: owned ? data : this.copy(data) });
    return 0;
  }

  /**
   * A user message from another thread, whose room its sender reserved in the shared bound:
   * handed over or queued (copied: `data` is a view of the ring, valid only during the call), never refused.
   */
  arrived(tag: bigint, sender: number, data: Uint8Array): void {
    if (this.handOver(tag, sender, data)) this.shared?.release(data.length);
    else this.push({ tag, sender, data: this.copy(data) });
  }

  /** Queues a runtime notification (exit of a linked or monitored process): never refused. */
  notify(message: Message): void {
    if (this.handOver(message.tag, message.sender, message.data)) return;
    this.shared?.force(bytesOf(message));
    this.push(message);
  }

  /** The first message matching `filter`, left in the mailbox. */
  peek(filter: bigint): Message | undefined {
    const { messages } = this;
    if (filter === ANY) return messages[this.head];
    for (let i = this.head; i < messages.length; i++) if (messages[i]!.tag === filter) return messages[i];
    return undefined;
  }

  remove(message: Message): void {
    const { messages } = this;
    if (messages[this.head] === message) {
      messages[this.head++] = undefined as unknown as Message;
      if (this.head === messages.length) this.emptied();
      else if (this.head > 1024 && this.head * 2 > messages.length) {
        this.messages = messages.slice(this.head);
        this.head = 0;
      }
    } else {
      messages.splice(messages.indexOf(message, this.head), 1);
    }
    const bytes = bytesOf(message);
    this.bytes -= bytes;
    this.shared?.release(bytes);
  }

  /**
   * Every queued message, in order, taken out for the process's move to another thread: their
   * room in the shared bound stays taken, since they go on waiting there (`adopt`).
   */
  takeAll(): Message[] {
    const messages = this.messages.slice(this.head);
    this.emptied();
    this.bytes = 0;
    return messages;
  }

  /** The messages a process brought from another thread (`takeAll` there), queued first, their room already taken. */
  adopt(messages: readonly Message[]): void {
    for (const message of messages) this.push(message);
  }

  /** The process waits in receive (one receiver: the process itself); `undefined` stops waiting. */
  wait(receiver: Receiver | undefined): void {
    this.receiver = receiver;
    this.lend(receiver !== undefined);
  }

  /**
   * Lends one place to the shared bound while a receiver waits, and takes it back when it stops:
   * the message a sender on another thread reserves with it is handed over on arrival (or, if
   * the receive stopped meanwhile or does not take it, waits past the bound, the only overshoot).
   */
  private lend(on: boolean): void {
    if (!this.shared || on === this.lent) return;
    this.lent = on;
    if (on) this.shared.release(0);
    else this.shared.force(0);
  }

  private handOver(tag: bigint, sender: number, data: Uint8Array): boolean {
    const receiver = this.receiver;
    if (!receiver || !matches(tag, receiver.filter)) return false;
    // A waiting receiver has no matching message queued (it would have taken it), so this one is the first.
    this.receiver = undefined;
    if (receiver.take(tag, sender, data)) {
      this.lend(false);
      return true;
    }
    this.receiver = receiver; // too large: queue it, then tell the receiver
    return false;
  }

  /** The mailbox's own copy of `data`: in its chunk when small (a view), else a buffer of its own. */
  private copy(data: Uint8Array): Uint8Array {
    if (data.length > CHUNKED_MAX) return data.slice();
    let chunk = this.chunk;
    if (!chunk || this.chunkUsed + data.length > chunk.length) {
      chunk = this.chunk = new Uint8Array(chunk ? Math.min(chunk.length * 4, CHUNK_MAX) : CHUNK_MIN);
      this.chunkUsed = 0;
    }
    const copy = chunk.subarray(this.chunkUsed, this.chunkUsed + data.length);
    copy.set(data);
    this.chunkUsed += data.length;
    return copy;
  }

  /** No message is queued: the next ones start afresh (the chunks go with the messages that were in them). */
  private emptied(): void {
    this.messages = NO_MESSAGES;
    this.head = 0;
    this.chunk = undefined;
  }

  private push(message: Message): void {
    if (this.messages === NO_MESSAGES) this.messages = [];
    this.messages.push(message);
    this.bytes += bytesOf(message);
    const receiver = this.receiver;
    if (receiver && matches(message.tag, receiver.filter)) {
      this.receiver = undefined;
      this.lend(false);
      receiver.tooLarge();
    }
  }
}
