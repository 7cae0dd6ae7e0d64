// The mailbox's own copies of queued messages (src/runtime/lunatic/mailbox.ts): small ones share
// chunks, larger ones get a buffer each; every message keeps its bytes, in order, whatever the
// sender's buffer (or another thread's ring) holds afterwards, through selective receives and
// after the mailbox empties and fills again.
import { describe, expect, it } from 'vitest';
import { Mailbox } from '../src/runtime/lunatic/mailbox.js';

/** Message `i`: tag 1-3, and `i % 300` bytes counting up from `i`. */
const tagOf = (i: number) => BigInt((i % 3) + 1);
const bytesOf = (i: number) => Uint8Array.from({ length: i % 300 }, (_, k) => (i + k) & 0xff);

/** Queues messages `from`..`to` through one scratch buffer, overwritten after each send. */
function fill(mailbox: Mailbox, from: number, to: number, arrived: boolean): void {
  const scratch = new Uint8Array(300);
  for (let i = from; i < to; i++) {
    const bytes = bytesOf(i);
    scratch.set(bytes);
    const view = scratch.subarray(0, bytes.length);
    if (arrived) mailbox.arrived(tagOf(i), i, view);
    else expect(mailbox.send(tagOf(i), i, view)).toBe(0);
    scratch.fill(0xee);
  }
}

/** Takes every message with `tag` (0: any), in order: their senders, each checked against its bytes. */
function takeAll(mailbox: Mailbox, tag: bigint): number[] {
  const senders: number[] = [];
  for (let message = mailbox.peek(tag); message; message = mailbox.peek(tag)) {
    expect(message.data).toEqual(bytesOf(message.sender));
    senders.push(message.sender);
    mailbox.remove(message);
  }
  return senders;
}

describe('the mailbox copies of queued messages', () => {
  it.each([false, true])('keep their bytes across chunks and selective receives (from another thread: %s)', (arrived) => {
    const mailbox = new Mailbox(100_000);
    fill(mailbox, 0, 6000, arrived);
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
    expect(takeAll(mailbox, 2n)).toEqual(range(0, 6000).filter((i) => i % 3 === 1));
    fill(mailbox, 6000, 7000, arrived); // while older chunks still hold tags 1 and 3
    expect(takeAll(mailbox, 0n)).toEqual(range(0, 7000).filter((i) => i >= 6000 || i % 3 !== 1));
    expect(mailbox.size).toBe(0);
    fill(mailbox, 7000, 7100, arrived); // emptied: it starts afresh
    expect(takeAll(mailbox, 0n)).toEqual(range(7000, 7100));
  });
});
