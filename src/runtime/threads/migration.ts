// A process moving from one thread to another (threads.ts): the MOVE record that carries it, and
// the rule that picks when. The record holds what `Lunatic.emigrate` gave (the process's snapshot
// and host state, its links, monitors and mailbox) as a JSON header and the binary parts after it:
//   MOVE  u32 header length @4, the header (JSON) @8, then the snapshot's runs, its bytes and
//         each message's bytes, one after the other (their lengths are in the header).
// No Node imports.
import type { Emigrant } from '../lunatic/lunatic.js';
import type { Message } from '../lunatic/message-queue.js';
import type { Snapshot } from '../snapshot.js';
import { Kind } from './outbox.js';

/** What the header says of the binary parts. */
interface MoveHeader {
  emigrant: Omit<Emigrant, 'messages' | 'departure'> & {
    departure: Omit<Emigrant['departure'], 'hibernated'>;
    messages: Array<{ tag: string; sender: number; length: number }>;
  };
  hibernated?: {
    suspender: unknown;
    length: number;
    globals: unknown[];
    runs: number;
    bytes: number;
  };
  /** It holds a process name (kept on the names thread, which must hear when it ends). */
  named: boolean;
}

/** Values JSON cannot hold as they are (i64 globals and arguments, NaN, -0), tagged. */
const BIGINT = '$bigint';
const NUMBER = '$number';

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { [BIGINT]: String(value) };
  if (typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0)))
    return { [NUMBER]: Object.is(value, -0) ? '-0' : String(value) };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object') {
    const tagged = value as Record<string, string>;
    if (BIGINT in tagged) return BigInt(tagged[BIGINT]!);
    if (NUMBER in tagged) return tagged[NUMBER] === '-0' ? -0 : Number(tagged[NUMBER]);
  }
  return value;
}

/** The MOVE record of `emigrant` (a whole record, cut into pieces by the outbox if the ring is too small). */
export function encodeMove(emigrant: Emigrant, named: boolean): Uint8Array {
  const { messages, departure, ...rest } = emigrant;
  const { hibernated, ...core } = departure;
  const snapshot: Snapshot | undefined = hibernated?.snapshot;
  const header: MoveHeader = {
    emigrant: {
      ...rest,
      departure: core,
      messages: messages.map(({ tag, sender, data }) => ({ tag: String(tag), sender, length: data.length })),
    },
    named,
  };
  if (hibernated && snapshot) {
    const { length, globals, runs, bytes } = snapshot;
    header.hibernated = { suspender: hibernated.suspender, length, globals, runs: runs.length, bytes: bytes.length };
  }
  const text = new TextEncoder().encode(JSON.stringify(header, replacer));
  const runBytes = snapshot ? snapshot.runs.length * 4 : 0;
  let size = 8 + text.length + runBytes + (snapshot?.bytes.length ?? 0);
  for (const message of messages) size += message.data.length;
  const record = new Uint8Array(size);
  record[0] = Kind.MOVE;
  new DataView(record.buffer).setUint32(4, text.length, true);
  record.set(text, 8);
  let at = 8 + text.length;
  if (snapshot) {
    record.set(new Uint8Array(snapshot.runs.buffer, snapshot.runs.byteOffset, runBytes), at);
    at += runBytes;
    record.set(snapshot.bytes, at);
    at += snapshot.bytes.length;
  }
  for (const message of messages) {
    record.set(message.data, at);
    at += message.data.length;
  }
  return record;
}

/** The emigrant a MOVE record carries (copied out of the ring: the record's bytes are freed after the call). */
export function decodeMove(bytes: Uint8Array, offset: number, length: number): { emigrant: Emigrant; named: boolean } {
  const record = bytes.slice(offset, offset + length);
  const view = new DataView(record.buffer);
  const textLength = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(record.subarray(8, 8 + textLength)), reviver) as MoveHeader;
  let at = 8 + textLength;
  const { emigrant, hibernated } = header;
  let restored: Emigrant['departure']['hibernated'];
  if (hibernated) {
    // its own buffer: a Uint32Array must start at a multiple of 4
    const runs = new Uint32Array(record.slice(at, at + hibernated.runs * 4).buffer);
    at += hibernated.runs * 4;
    const snapshotBytes = record.subarray(at, at + hibernated.bytes);
    at += hibernated.bytes;
    const snapshot: Snapshot = { length: hibernated.length, runs, bytes: snapshotBytes, globals: hibernated.globals };
    restored = { snapshot, suspender: hibernated.suspender as never };
  }
  const messages: Message[] = emigrant.messages.map(({ tag, sender, length: size }) => {
    const data = record.slice(at, at + size); // its own: a mailbox may keep it long after the snapshot is gone
    at += size;
    return { tag: BigInt(tag), sender, data };
  });
  return { emigrant: { ...emigrant, messages, departure: { ...emigrant.departure, hibernated: restored } }, named: header.named };
}

/**
 * The thread a busy thread should hand one of its runnable processes to, or undefined: the one
 * with the least work waiting, when it has at least two fewer than `runnable` (so the move
 * evens them out rather than swapping which thread waits).
 */
export function moveTarget(index: number, runnable: number, threads: number, busy: (thread: number) => number): number | undefined {
  let best: number | undefined;
  let bestBusy = runnable - 1;
  for (let thread = 0; thread < threads; thread++) {
    if (thread === index) continue;
    const waiting = busy(thread);
    if (waiting < bestBusy) {
      best = thread;
      bestBusy = waiting;
    }
  }
  return best;
}
