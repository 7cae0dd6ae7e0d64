// The mailbox's own copies of queued messages (src/runtime/lunatic/mailbox.ts, message-queue.ts):
// small ones are records in chunks, larger ones and notifications objects; every message keeps its
// bytes, in order, whatever the sender's buffer (or another thread's ring) holds afterwards,
// through selective receives, a move to another thread (takeAll, adopt) and after the mailbox
// empties and fills again; its count of bytes goes back to 0.
import { describe, expect, it } from 'vitest';
import { Errno } from '../src/runtime/lunatic/errno.js';
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
  for (let position = mailbox.find(tag); position >= 0; position = mailbox.find(tag)) {
    const message = mailbox.messageAt(position);
    expect(message.tag).toBe(tagOf(message.sender));
    expect(message.data).toEqual(bytesOf(message.sender));
    senders.push(message.sender);
    mailbox.remove(position);
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

  it('keep their order when some are notifications, through a move to another thread', () => {
    const mailbox = new Mailbox(100_000);
    fill(mailbox, 0, 3000, false);
    const downs = [100, 200, 300].map((pid) => ({ tag: -1n, sender: pid, data: new Uint8Array(12).fill(pid & 0xff) }));
    for (const down of downs) mailbox.notify(down);
    fill(mailbox, 3000, 4000, true);
    expect(takeAll(mailbox, 3n)).toHaveLength(1333); // removed in the middle of every chunk
    const moved = mailbox.takeAll();
    expect(mailbox.size).toBe(0);
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k).filter((i) => i % 3 !== 2);
    expect(moved.map((message) => message.sender)).toEqual([...range(0, 3000), 100, 200, 300, ...range(3000, 4000)]);
    const other = new Mailbox(100_000);
    other.adopt(moved);
    const position = other.find(-1n);
    expect(other.messageAt(position)).toEqual(downs[0]);
    other.remove(position);
    expect(takeAll(other, 1n)).toEqual(range(0, 4000).filter((i) => i % 3 === 0));
    expect(takeAll(other, 2n)).toEqual(range(0, 4000).filter((i) => i % 3 === 1));
    expect([other.find(-1n), other.find(0n)].map((at) => other.messageAt(at).sender)).toEqual([200, 200]);
  });

  it('count their bytes back to 0, so the byte bound frees up as they are taken', () => {
    const mailbox = new Mailbox(1_000_000, undefined, 100_000);
    const message = (i: number) => (i % 2 ? new Uint8Array(1000) : bytesOf(299)); // an object, a record
    for (const pid of [7, 8, 9]) mailbox.notify({ tag: -1n, sender: pid, data: new Uint8Array(12) }); // not counted
    let sent = 0;
    while (mailbox.send(1n, 1, message(sent)) === 0) sent++;
    expect(sent).toBeGreaterThan(100);
    expect(mailbox.send(1n, 1, message(sent))).toBe(-Errno.FULL);
    while (mailbox.find(0n) >= 0) mailbox.remove(mailbox.find(0n));
    for (let i = 0; i < sent; i++) expect(mailbox.send(1n, 1, message(i))).toBe(0);
    expect(mailbox.send(1n, 1, message(sent))).toBe(-Errno.FULL);
  });
});
