// SPAWN records (threads.ts): a child placed on another thread than its parent's, in binary but
// for its permissions, which travel as JSON text that both ends keep. The sender encodes each
// Permissions object once; the receiver turns equal texts into one Permissions object, so the
// children spawned across threads with the same rights share their host modules and pooled
// instances (Lunatic.hostModulesFor caches by object), as children spawned on their parent's
// thread do. A child that came as JSON had a Permissions object of its own, and its thread built
// it a WASI module anew: 40,000 short processes spawned onto two threads took 13-17% longer.
//
//   u8 kind @0, u8 flags @1 (LINK, ENTRY, TABLE_INDEX), i32 pid @4, i32 parent @8,
//   i32 table index @12, i64 arg @16, u32 entry bytes @24, the entry's UTF-8 @28, then the
//   permissions' JSON text to the end.
import type { Permissions } from '../lunatic/permissions.js';
import { Kind, type Slot } from './outbox.js';

export interface SpawnRequest {
  pid: number;
  parent: number;
  link: boolean;
  entry?: string;
  tableIndex?: number;
  arg: bigint;
  permissions: Permissions;
}

const Flag = { LINK: 1, ENTRY: 2, TABLE_INDEX: 4 } as const;
const ENTRY_AT = 28;

/** How many distinct permission sets a receiver keeps; past it, it starts over (a cache, not a registry). */
const MAX_KEPT = 256;

const utf8Decoder = new TextDecoder();

export class SpawnRecords {
  private readonly encoder = new TextEncoder();
  private readonly encoded = new WeakMap<Permissions, Uint8Array>();
  private readonly kept = new Map<string, Permissions>();

  /** Writes the record into the slot `begin` gives for its length. */
  write(request: SpawnRequest, begin: (length: number) => Slot): void {
    const { link, entry, tableIndex } = request;
    const entryBytes = entry === undefined ? undefined : this.encoder.encode(entry);
    const permissions = this.permissionsText(request.permissions);
    const entryLength = entryBytes?.length ?? 0;
    const { bytes, view, offset } = begin(ENTRY_AT + entryLength + permissions.length);
    bytes[offset] = Kind.SPAWN;
    bytes[offset + 1] = (link ? Flag.LINK : 0) | (entryBytes ? Flag.ENTRY : 0) | (tableIndex === undefined ? 0 : Flag.TABLE_INDEX);
    view.setInt32(offset + 4, request.pid, true);
    view.setInt32(offset + 8, request.parent, true);
    view.setInt32(offset + 12, tableIndex ?? 0, true);
    view.setBigInt64(offset + 16, request.arg, true);
    view.setUint32(offset + 24, entryLength, true);
    if (entryBytes) bytes.set(entryBytes, offset + ENTRY_AT);
    bytes.set(permissions, offset + ENTRY_AT + entryLength);
  }

  decode(bytes: Uint8Array, view: DataView, offset: number, length: number): SpawnRequest {
    const flags = bytes[offset + 1]!;
    const entryLength = view.getUint32(offset + 24, true);
    const permissionsAt = offset + ENTRY_AT + entryLength;
    return {
      pid: view.getInt32(offset + 4, true),
      parent: view.getInt32(offset + 8, true),
      link: (flags & Flag.LINK) !== 0,
      entry: flags & Flag.ENTRY ? text(bytes, offset + ENTRY_AT, permissionsAt) : undefined,
      tableIndex: flags & Flag.TABLE_INDEX ? view.getInt32(offset + 12, true) : undefined,
      arg: view.getBigInt64(offset + 16, true),
      permissions: this.intern(text(bytes, permissionsAt, offset + length)),
    };
  }

  /** The one Permissions object of this thread for `permissions`' rights (a process that moved here brings its own). */
  internObject(permissions: Permissions): Permissions {
    return this.intern(JSON.stringify(permissions), permissions);
  }

  private intern(json: string, parsed?: Permissions): Permissions {
    const known = this.kept.get(json);
    if (known) return known;
    if (this.kept.size >= MAX_KEPT) this.kept.clear();
    const permissions = parsed ?? (JSON.parse(json) as Permissions);
    this.kept.set(json, permissions);
    return permissions;
  }

  private permissionsText(permissions: Permissions): Uint8Array {
    let bytes = this.encoded.get(permissions);
    if (!bytes) this.encoded.set(permissions, (bytes = this.encoder.encode(JSON.stringify(permissions))));
    return bytes;
  }
}

/** UTF-8 text from a ring (copied out first: TextDecoder does not read shared memory). */
function text(bytes: Uint8Array, from: number, to: number): string {
  return utf8Decoder.decode(bytes.slice(from, to));
}
