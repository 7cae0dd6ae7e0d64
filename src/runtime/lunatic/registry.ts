// Process names on this node (lunatic_register / lunatic_whereis): a name stands for one live
// process until it unregisters it or ends. A cluster (distribution.ts) makes the names of every
// node reachable on top of this table.
import { Errno, LunaticError } from './errno.js';

/** Names are 1..64 bytes of letters, digits and `_ . -` (they become parts of cluster subjects). */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkName(name: string): string {
  if (!NAME.test(name)) throw new LunaticError(Errno.INVAL, `"${name}" is not a process name (1-64 of A-Z a-z 0-9 _ . -)`);
  return name;
}

export class Registry {
  private readonly pids = new Map<string, number>();
  private readonly names = new Map<number, Set<string>>();

  /** Whether `pid` holds a name here. */
  holdsName(pid: number): boolean {
    return (this.names.get(pid)?.size ?? 0) > 0;
  }

  register(pid: number, name: string): void {
    checkName(name);
    const owner = this.pids.get(name);
    if (owner !== undefined && owner !== pid) throw new LunaticError(Errno.EXIST, `the name "${name}" is taken by process ${owner}`);
    this.pids.set(name, pid);
    let names = this.names.get(pid);
    if (!names) this.names.set(pid, (names = new Set()));
    names.add(name);
  }

  /** True when `pid` held the name. */
  unregister(pid: number, name: string): boolean {
    if (this.pids.get(name) !== pid) return false;
    this.pids.delete(name);
    this.names.get(pid)?.delete(name);
    return true;
  }

  whereis(name: string): number | undefined {
    return this.pids.get(name);
  }

  namesOf(pid: number): readonly string[] {
    return [...(this.names.get(pid) ?? [])];
  }

  /** Drops the names of a process that ended. */
  forget(pid: number): void {
    for (const name of this.names.get(pid) ?? []) this.pids.delete(name);
    this.names.delete(pid);
  }
}
