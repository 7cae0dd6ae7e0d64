// Handles to host resources (sockets, listeners, configurations) as wasm sees them: small
// positive integers. Numbers are never reused and each belongs to one process, so a forged,
// stale or foreign handle is refused with BADF and can never reach another process's resource.
import { Errno, LunaticError } from './errno.js';

export interface Resource {
  /** What the handle is, checked on every use ("socket", "listener", "config"). */
  readonly kind: string;
  /** Releases whatever the resource holds (idempotent). */
  close(): void;
}

interface Entry {
  owner: number;
  resource: Resource;
}

export class HandleTable {
  private next = 1;
  /** Where handle numbers come from when several threads share them (threads.ts); default: this table's counter. */
  allocate: (() => number) | undefined;
  private readonly entries = new Map<number, Entry>();
  private readonly byOwner = new Map<number, Set<number>>();

  add(owner: number, resource: Resource): number {
    const handle = this.allocate ? this.allocate() : this.next++;
    if (handle > 0x7fffffff || handle < 1) throw new LunaticError(Errno.NOMEM, 'out of handle numbers');
    this.adopt(owner, handle, resource);
    return handle;
  }

  /** Records a resource under a number given elsewhere (a handle given from another thread). */
  adopt(owner: number, handle: number, resource: Resource): void {
    this.entries.set(handle, { owner, resource });
    this.ownedBy(owner).add(handle);
  }

  /** Takes a handle out of the table without closing it (it is given to another thread); BADF when `owner` does not hold it. */
  detach(owner: number, handle: number): Resource {
    const entry = this.heldEntry(owner, handle);
    this.entries.delete(handle);
    this.byOwner.get(owner)?.delete(handle);
    return entry.resource;
  }

  /** The resource behind `handle` if `owner` holds it and it is of `kind`. */
  get<R extends Resource>(owner: number, handle: number, kind: R['kind']): R {
    const resource = this.find(owner, handle);
    if (resource?.kind !== kind) throw new LunaticError(Errno.BADF, `process ${owner} holds no ${kind} with handle ${handle}`);
    return resource as R;
  }

  /** The resource behind `handle` if `owner` holds it, else undefined. */
  find(owner: number, handle: number): Resource | undefined {
    const entry = this.entries.get(handle);
    return entry?.owner === owner ? entry.resource : undefined;
  }

  /** Gives the handle (same number) to another process; the giver loses it. */
  transfer(owner: number, handle: number, to: number): void {
    const entry = this.heldEntry(owner, handle);
    this.byOwner.get(owner)?.delete(handle);
    entry.owner = to;
    this.ownedBy(to).add(handle);
  }

  close(owner: number, handle: number): void {
    const entry = this.heldEntry(owner, handle);
    this.release(handle, entry);
  }

  /** Closes everything `owner` holds: called when the process ends. */
  closeAll(owner: number): void {
    for (const handle of this.byOwner.get(owner) ?? []) this.release(handle, this.entries.get(handle)!);
    this.byOwner.delete(owner);
  }

  /** The handles `owner` holds, with their resources. */
  heldBy(owner: number): Array<[handle: number, resource: Resource]> {
    return [...(this.byOwner.get(owner) ?? [])].map((handle) => [handle, this.entries.get(handle)!.resource]);
  }

  /** How many handles are open (all processes). */
  get size(): number {
    return this.entries.size;
  }

  private release(handle: number, entry: Entry): void {
    this.entries.delete(handle);
    this.byOwner.get(entry.owner)?.delete(handle);
    entry.resource.close();
  }

  /** The entry of `handle`; BADF unless `owner` holds it. */
  private heldEntry(owner: number, handle: number): Entry {
    const entry = this.entries.get(handle);
    if (!entry || entry.owner !== owner) throw new LunaticError(Errno.BADF, `process ${owner} holds no handle ${handle}`);
    return entry;
  }

  private ownedBy(owner: number): Set<number> {
    let owned = this.byOwner.get(owner);
    if (!owned) this.byOwner.set(owner, (owned = new Set()));
    return owned;
  }
}
