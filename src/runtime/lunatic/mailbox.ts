// A process's mailbox: messages in arrival order, a bound on how many may wait, and selective
// receive (take the first message with a given tag, leaving the others in order).
import { abortable } from './deadline.js';

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
  private waiter: { filter: bigint; wake: () => void } | undefined;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.messages.length;
  }

  /** Queues a user message; false when the mailbox is full. */
  offer(message: Message): boolean {
    if (this.messages.length >= this.capacity) return false;
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
    const waiter = this.waiter;
    if (waiter && matches(message, waiter.filter)) {
      this.waiter = undefined;
      waiter.wake();
    }
  }
}
