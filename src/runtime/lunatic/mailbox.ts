// A process's mailbox: messages in arrival order, bounds on how many and how many bytes may
// wait, and selective receive (take the first message with a given tag, leaving the others in
// order).
//
// A queued message's bytes are the mailbox's own copy: small ones as records in the byte chunks
// of its queue (message-queue.ts: no JS object per message, so a backlog costs the GC nothing),
// larger ones in a buffer each. An empty mailbox holds no chunk.
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
import { type ByteSink, INLINE_MAX, type Message, MessageQueue } from './message-queue.js';

/**
 * Most bytes of messages waiting in one mailbox (so also the largest message), whatever its count
 * bound: without it a process could make the runtime hold `capacity` copies of its whole memory
 * for a receiver that never reads.
 */
export const MAILBOX_MAX_BYTES = 64 * 1024 * 1024;

/** Tag filter 0 matches every message. */
const ANY = 0n;

const matches = (tag: bigint, filter: bigint) => filter === ANY || tag === filter;

/** Notifications (negative tags) are not counted in a mailbox's bytes: they are never refused. */
const bytesOf = (tag: bigint, length: number) => (tag < 0n ? 0 : length);

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
  private readonly queue = new MessageQueue();
  private bytes = 0;
  private receiver: Receiver | undefined;
  /** One place lent to other threads' senders while a receiver waits (the shared bound only). */
  private lent = false;

  constructor(
    readonly capacity: number,
    /** The bound shared with other threads' senders, when the runtime runs on several. */
    private readonly shared?: MailboxBound,
    readonly maxBytes = MAILBOX_MAX_BYTES,
  ) {}

  get size(): number {
    return this.queue.size;
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
    this.enqueue(tag, sender, data, owned);
    return 0;
  }

  /**
   * A user message from another thread, whose room its sender reserved in the shared bound:
   * handed over or queued (copied: `data` is a view of the ring, valid only during the call), never refused.
   */
  arrived(tag: bigint, sender: number, data: Uint8Array): void {
    if (this.handOver(tag, sender, data)) this.shared?.release(data.length);
    else this.enqueue(tag, sender, data, false);
  }

  /** Queues a runtime notification (exit of a linked or monitored process): never refused. */
  notify(message: Message): void {
    if (this.handOver(message.tag, message.sender, message.data)) return;
    this.shared?.force(bytesOf(message.tag, message.data.length));
    this.enqueue(message.tag, message.sender, message.data, true);
  }

  /** Where the first message matching `filter` is queued (for `messageAt` and `remove`, until the mailbox next changes), or -1. */
  find(filter: bigint): number {
    return this.queue.find(filter === ANY ? undefined : filter);
  }

  /** The message `find` found (its bytes may be a view of the mailbox's own, valid until it next changes). */
  messageAt(position: number): Message {
    return this.queue.messageAt(position);
  }

  /** Parts of the message `find` found, read without making it (a receive's fast path). */
  tagAt(position: number): bigint {
    return this.queue.tagAt(position);
  }

  senderAt(position: number): number {
    return this.queue.senderAt(position);
  }

  lengthAt(position: number): number {
    return this.queue.lengthAt(position);
  }

  copyData(position: number, sink: ByteSink, pointer: number): void {
    this.queue.copyData(position, sink, pointer);
  }

  remove(position: number): void {
    const { queue } = this;
    const bytes = queue.hasNegativeTag(position) ? 0 : queue.lengthAt(position);
    queue.remove(position);
    this.bytes -= bytes;
    this.shared?.release(bytes);
  }

  /**
   * Every queued message, in order, taken out for the process's move to another thread: their
   * room in the shared bound stays taken, since they go on waiting there (`adopt`).
   */
  takeAll(): Message[] {
    this.bytes = 0;
    return this.queue.takeAll();
  }

  /** The messages a process brought from another thread (`takeAll` there), queued first, their room already taken. */
  adopt(messages: readonly Message[]): void {
    for (const { tag, sender, data } of messages) this.enqueue(tag, sender, data, true);
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

  /**
   * Queues a message: small ones as a copy in a record, larger ones as an object with the mailbox's
   * own copy (`owned`: `data` is one already, as a notification's or a moved message's is).
   */
  private enqueue(tag: bigint, sender: number, data: Uint8Array, owned: boolean): void {
    if (data.length <= INLINE_MAX) this.queue.pushRecord(tag, sender, data);
    else this.queue.pushObject({ tag, sender, data: owned ? data : data.slice() });
    this.queued(tag, bytesOf(tag, data.length));
  }

  /** A message was queued: counted, and a waiting receiver whose filter it matches is told (it did not take it). */
  private queued(tag: bigint, bytes: number): void {
    this.bytes += bytes;
    const receiver = this.receiver;
    if (receiver && matches(tag, receiver.filter)) {
      this.receiver = undefined;
      this.lend(false);
      receiver.tooLarge();
    }
  }
}
