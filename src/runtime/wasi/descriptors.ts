// The file descriptor table of one process. 0-2 are stdio, the preopened directories follow
// from 3 (wasi-libc finds them by asking fd 3, 4, ... until EBADF), and every later open gets the
// lowest free number, as POSIX's open does: C programs rely on it (`close(1)` then `open` makes the
// file their stdout; yosys's ABC step does that), and uvwasi does the same. A forged descriptor
// finds nothing (EBADF); each process has a table of its own.
import type { InputStream, OutputStream } from '../types.js';
import { Errno, type ErrnoCode, WasiError } from './errno.js';
import type { DirEntry, Directory, File } from './fs.js';

export interface InputDescriptor {
  readonly type: 'input';
  readonly stream: InputStream;
}

export interface OutputDescriptor {
  readonly type: 'output';
  readonly stream: OutputStream;
}

export interface FileDescriptor {
  readonly type: 'file';
  readonly file: File;
  readonly readable: boolean;
  readonly writable: boolean;
  append: boolean;
  position: bigint;
}

export interface DirectoryDescriptor {
  readonly type: 'directory';
  readonly dir: Directory;
  /** The guest path of a preopened directory. */
  readonly preopen?: string;
  /** The listing fd_readdir pages through; read again when it starts over (cookie 0). */
  listing?: DirEntry[];
}

export type Descriptor = InputDescriptor | OutputDescriptor | FileDescriptor | DirectoryDescriptor;
type DescriptorType = Descriptor['type'];

const MAX_FD = 0x7fffffff;

export class DescriptorTable {
  private readonly open = new Map<number, Descriptor>();
  /** Past the highest number ever given. */
  private next = 0;
  /** Numbers below `next` given back by a close or a renumber, lowest last (taken first). */
  private readonly free: number[] = [];
  /** The descriptors a fresh table of this process has (stdio and preopens): later ones were opened. */
  private initial = 0;
  /** A descriptor was closed or renumbered since `settle` (one opened shows as `next` past `initial`). */
  private altered = false;
  /** Stdin was used: its bytes are this thread's. */
  usedInput = false;

  add(descriptor: Descriptor): number {
    const fd = this.free.length > 0 ? this.free.pop()! : this.next;
    if (fd > MAX_FD) throw new WasiError(Errno.MFILE);
    if (fd === this.next) this.next++;
    this.open.set(fd, descriptor);
    return fd;
  }

  /** Gives `fd` back for a later add (kept sorted, highest first: a table holds few descriptors). */
  private release(fd: number): void {
    this.open.delete(fd);
    let at = this.free.length;
    while (at > 0 && this.free[at - 1]! < fd) at--;
    this.free.splice(at, 0, fd);
  }

  /** The table as it is now is the fresh one (stdio and preopens are in). */
  settle(): void {
    this.initial = this.next;
  }

  /** Whether a fresh table on another thread would be the same: nothing opened, closed or renumbered, stdin untouched. */
  get asFresh(): boolean {
    return !this.altered && this.next === this.initial && !this.usedInput;
  }

  get(fd: number): Descriptor {
    const descriptor = this.open.get(fd >>> 0);
    if (!descriptor) throw new WasiError(Errno.BADF);
    if (descriptor.type === 'input') this.usedInput = true;
    return descriptor;
  }

  /** The descriptor if it is one of `types`; else `otherwise` (EBADF by default). */
  getAs<T extends DescriptorType>(fd: number, types: readonly T[], otherwise: ErrnoCode = Errno.BADF): Extract<Descriptor, { type: T }> {
    const descriptor = this.get(fd);
    if (!(types as readonly string[]).includes(descriptor.type)) throw new WasiError(otherwise);
    return descriptor as Extract<Descriptor, { type: T }>;
  }

  remove(fd: number): Descriptor {
    const descriptor = this.get(fd);
    this.altered = true;
    this.release(fd >>> 0);
    return descriptor;
  }

  /** fd_renumber: `from` takes the place of `to` (both must be open); returns the one replaced, to close (none for the same number). */
  renumber(from: number, to: number): Descriptor | undefined {
    const moving = this.get(from);
    const replaced = this.get(to);
    if (from >>> 0 === to >>> 0) return undefined;
    this.altered = true;
    this.release(from >>> 0);
    this.open.set(to >>> 0, moving);
    return replaced;
  }
}
