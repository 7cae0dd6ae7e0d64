// The SPAWN record (src/runtime/threads/spawn-record.ts): a child's start as its thread reads it
// from the ring, and one Permissions object per set of rights on the receiving thread.
import { describe, expect, it } from 'vitest';
import { NO_PERMISSIONS, type Permissions } from '../src/runtime/lunatic/index.js';
import { Kind, type Slot } from '../src/runtime/threads/outbox.js';
import { type SpawnRequest, SpawnRecords } from '../src/runtime/threads/spawn-record.js';

/** Writes `request` with `sender` at offset 7 of a larger buffer (as a ring holds it) and reads it back with `receiver`. */
function roundTrip(request: SpawnRequest, sender = new SpawnRecords(), receiver = new SpawnRecords()): SpawnRequest {
  const bytes = new Uint8Array(4096);
  let length = 0;
  sender.write(request, (size): Slot => {
    length = size;
    return { bytes, view: new DataView(bytes.buffer), offset: 7 };
  });
  expect(bytes[7]).toBe(Kind.SPAWN);
  return receiver.decode(bytes, new DataView(bytes.buffer), 7, length);
}

const RIGHTS: Permissions = {
  ...NO_PERMISSIONS,
  canSpawn: true,
  listen: ['127.0.0.1:*'],
  dirs: { '/data': '/tmp/data' },
  maxMemoryPages: 32,
};

describe('the SPAWN record', () => {
  it('carries a named entry, a link and a 64-bit argument', () => {
    const request = { pid: 70001, parent: 3, link: true, entry: 'wörker_ü', arg: -(2n ** 63n), permissions: RIGHTS };
    expect(roundTrip(request)).toEqual({ ...request, tableIndex: undefined });
  });

  it('carries a table index with no entry, an empty entry name, and no link', () => {
    const byIndex = { pid: 5, parent: 1, link: false, tableIndex: 0, arg: 2n ** 63n - 1n, permissions: NO_PERMISSIONS };
    expect(roundTrip(byIndex)).toEqual({ ...byIndex, entry: undefined });
    const emptyName = { pid: 6, parent: 1, link: false, entry: '', arg: 0n, permissions: NO_PERMISSIONS };
    expect(roundTrip(emptyName)).toEqual({ ...emptyName, tableIndex: undefined });
  });

  it('gives the receiver one Permissions object per set of rights, however many objects the senders had', () => {
    const receiver = new SpawnRecords();
    const child = (permissions: Permissions, sender = new SpawnRecords()) =>
      roundTrip({ pid: 9, parent: 2, link: false, arg: 0n, permissions }, sender, receiver).permissions;
    const first = child(RIGHTS);
    expect(first).toEqual(RIGHTS);
    expect(child({ ...RIGHTS })).toBe(first);
    expect(child(RIGHTS, new SpawnRecords())).toBe(first);
    expect(receiver.internObject({ ...RIGHTS })).toBe(first);
    const other = child({ ...RIGHTS, maxMemoryPages: 64 });
    expect(other).not.toBe(first);
    expect(other.maxMemoryPages).toBe(64);
  });
});
