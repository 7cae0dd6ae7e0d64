// A process's mailbox: messages in arrival order, bounds on how many and how many bytes may
// wait, and selective receive (take the first message with a given tag, leaving the others in
// order).
import { abortable } from './deadline.js';

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

const matches = (message: Message, filter: bigint) => filter === ANY || message.tag === filter;

export class Mailbox {
  private readonly messages: Message[] = [];
  private bytes = 0;
  private waiter: { filter: bigint; wake: () => void } | undefined;

  constructor(readonly capacity: number, readonly maxBytes = MAILBOX_MAX_BYTES) {}

  get size(): number {
    return this.messages.length;
  }

  /** Queues a user message; false when the mailbox is full (by count or by bytes). */
  offer(message: Message): boolean {
    if (this.messages.length >= this.capacity || this.bytes + message.data.length > this.maxBytes) return false;
    this.push(message);
    return true;
  }

  /** Queues a runtime notification (exit of a linked or monitored process): never refused. */
  notify(message: Message): void {
    this.push(message);
  }

  /** The first message matching `filter`, left in the mailbox. */
  peek(filter: bigint): Message | undefined {
    return this.messages.find((message) => matches(message, filter));
  }

  remove(message: Message): void {
    this.messages.splice(this.messages.indexOf(message), 1);
    this.bytes -= message.data.length;
  }

  /** Resolves when a message matching `filter` arrives (one waiter: the process itself). */
  arrival(filter: bigint, signal: AbortSignal): Promise<void> {
    return abortable<void>(signal, (resolve) => {
      this.waiter = { filter, wake: resolve };
      return () => {
        this.waiter = undefined;
      };
    });
  }

  private push(message: Message): void {
    this.messages.push(message);
    this.bytes += message.data.length;
    const waiter = this.waiter;
    if (waiter && matches(message, waiter.filter)) {
      this.waiter = undefined;
      waiter.wake();
    }
  }
}
