// An in-memory file system for browsers and tests. Every call answers at once (no Promise), so
// a process using it never suspends for file I/O. It has files and directories, no symbolic
// links: nothing in it can lead anywhere else.
import { Errno, WasiError } from './errno.js';
import type { DirEntry, Directory, File, OpenOptions, Stat, TimeChange, TimesChange } from './fs.js';

/** A tree to start from: a string or bytes is a file, an object a directory. */
export interface MemoryTree {
  [name: string]: string | Uint8Array | MemoryTree;
}

let nextIno = 1n;
const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const encoder = new TextEncoder();

class Times {
  atimeNs = nowNs();
  mtimeNs = this.atimeNs;
  ctimeNs = this.atimeNs;
  touch(): void {
    this.mtimeNs = this.ctimeNs = nowNs();
  }
  set({ access, modification }: TimesChange): void {
    const now = nowNs();
    const value = (change: TimeChange, old: bigint) => (change === 'now' ? now : (change ?? old));
    this.atimeNs = value(access, this.atimeNs);
    this.mtimeNs = value(modification, this.mtimeNs);
    this.ctimeNs = now;
  }
}

class FileNode {
  readonly kind = 'file';
  readonly ino = nextIno++;
  readonly times = new Times();
  data = new Uint8Array(0);
  size = 0;

  /** Makes room for `end` bytes; new bytes are zero. */
  reserve(end: number): void {
    if (end <= this.data.length) return;
    const grown = new Uint8Array(Math.max(end, this.data.length * 2));
    grown.set(this.data.subarray(0, this.size));
    this.data = grown;
  }

  resize(size: number): void {
    this.reserve(size);
    if (size < this.size) this.data.fill(0, size, this.size);
    this.size = size;
    this.times.touch();
  }
}

class DirNode {
  readonly kind = 'directory';
  readonly ino = nextIno++;
  readonly times = new Times();
  readonly entries = new Map<string, FileNode | DirNode>();
  constructor(public parent: DirNode | undefined) {}
}

type Entry = FileNode | DirNode;

function statOf(node: Entry): Stat {
  const { atimeNs, mtimeNs, ctimeNs } = node.times;
  const size = node.kind === 'file' ? BigInt(node.size) : 4096n;
  return { kind: node.kind, size, dev: 1n, ino: node.ino, nlink: 1n, atimeNs, mtimeNs, ctimeNs };
}

/** A position in a file as an array index; beyond what memory can hold is EFBIG. */
function offset(position: bigint): number {
  if (position < 0n || position > BigInt(2 ** 31)) throw new WasiError(Errno.FBIG);
  return Number(position);
}

class MemoryFile implements File {
  readonly kind = 'file';
  constructor(private readonly node: FileNode) {}

  read(into: Uint8Array, position: bigint): number {
    const start = Math.min(offset(position), this.node.size);
    const count = Math.min(into.length, this.node.size - start);
    into.set(this.node.data.subarray(start, start + count));
    this.node.times.atimeNs = nowNs();
    return count;
  }

  write(data: Uint8Array, position: bigint): number {
    const start = offset(position);
    const end = offset(position + BigInt(data.length));
    this.node.reserve(end);
    this.node.data.set(data, start);
    this.node.size = Math.max(this.node.size, end);
    this.node.times.touch();
    return data.length;
  }

  append(data: Uint8Array): bigint {
    this.write(data, BigInt(this.node.size));
    return BigInt(this.node.size);
  }

  stat(): Stat {
    return statOf(this.node);
  }

  setSize(size: bigint): void {
    this.node.resize(offset(size));
  }

  setTimes(times: TimesChange): void {
    this.node.times.set(times);
  }

  sync(): void {}
  close(): void {}
}

export class MemoryDirectory implements Directory {
  readonly kind = 'directory';
  private readonly node: DirNode;

  /** A new, empty file system, optionally filled from `tree`. */
  constructor(tree: MemoryTree = {}, node?: DirNode) {
    this.node = node ?? new DirNode(undefined);
    this.fill(this.node, tree);
  }

  open(path: string, options: OpenOptions): File | Directory {
    const { parent, name } = this.parentOf(path);
    let node = name === undefined ? parent : parent.entries.get(name);
    if (node && options.create && options.exclusive) throw new WasiError(Errno.EXIST);
    if (!node) {
      if (!options.create || options.directory || name === undefined) throw new WasiError(Errno.NOENT);
      node = new FileNode();
      parent.entries.set(name, node);
      parent.times.touch();
    }
    if (node.kind === 'directory') {
      if (options.write) throw new WasiError(Errno.ISDIR);
      return new MemoryDirectory({}, node);
    }
    if (options.directory) throw new WasiError(Errno.NOTDIR);
    if (options.truncate) node.resize(0);
    return new MemoryFile(node);
  }

  stat(path: string): Stat {
    return statOf(this.lookup(path));
  }

  list(): DirEntry[] {
    return [...this.node.entries]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, node]) => ({ name, kind: node.kind, ino: node.ino }));
  }

  createDirectory(path: string): void {
    const { parent, name } = this.namedParentOf(path);
    if (parent.entries.has(name)) throw new WasiError(Errno.EXIST);
    parent.entries.set(name, new DirNode(parent));
    parent.times.touch();
  }

  removeDirectory(path: string): void {
    const { parent, name } = this.namedParentOf(path);
    const node = parent.entries.get(name);
    if (!node) throw new WasiError(Errno.NOENT);
    if (node.kind !== 'directory') throw new WasiError(Errno.NOTDIR);
    if (node.entries.size > 0) throw new WasiError(Errno.NOTEMPTY);
    parent.entries.delete(name);
    parent.times.touch();
  }

  unlinkFile(path: string): void {
    const { parent, name } = this.namedParentOf(path);
    const node = parent.entries.get(name);
    if (!node) throw new WasiError(Errno.NOENT);
    if (node.kind === 'directory') throw new WasiError(Errno.ISDIR);
    parent.entries.delete(name);
    parent.times.touch();
  }

  rename(from: string, target: Directory, to: string): void {
    if (!(target instanceof MemoryDirectory)) throw new WasiError(Errno.XDEV);
    const source = this.namedParentOf(from);
    const destination = target.namedParentOf(to);
    const node = source.parent.entries.get(source.name);
    if (!node) throw new WasiError(Errno.NOENT);
    const replaced = destination.parent.entries.get(destination.name);
    if (replaced === node) return;
    if (node.kind === 'directory' && isWithin(destination.parent, node)) throw new WasiError(Errno.INVAL);
    if (replaced?.kind === 'directory') {
      if (node.kind !== 'directory') throw new WasiError(Errno.ISDIR);
      if (replaced.entries.size > 0) throw new WasiError(Errno.NOTEMPTY);
    } else if (replaced && node.kind === 'directory') {
      throw new WasiError(Errno.NOTDIR);
    }
    source.parent.entries.delete(source.name);
    destination.parent.entries.set(destination.name, node);
    if (node.kind === 'directory') node.parent = destination.parent;
    source.parent.times.touch();
    destination.parent.times.touch();
  }

  readlink(path: string): string {
    this.lookup(path);
    throw new WasiError(Errno.INVAL); // there are no symbolic links here
  }

  setTimes(path: string, _followSymlinks: boolean, times: TimesChange): void {
    this.lookup(path).times.set(times);
  }

  /** Convenience for hosts and tests: the bytes of a file. */
  readFile(path: string): Uint8Array {
    const node = this.lookup(path);
    if (node.kind !== 'file') throw new WasiError(Errno.ISDIR);
    return node.data.slice(0, node.size);
  }

  /** Convenience for hosts and tests: creates or replaces a file (its directory must exist). */
  writeFile(path: string, data: string | Uint8Array): void {
    const file = this.open(path, {
      read: false,
      write: true,
      create: true,
      exclusive: false,
      truncate: true,
      directory: false,
      followSymlinks: true,
    });
    (file as MemoryFile).write(typeof data === 'string' ? encoder.encode(data) : data, 0n);
  }

  private fill(dir: DirNode, tree: MemoryTree): void {
    for (const [name, content] of Object.entries(tree)) {
      if (typeof content === 'string' || content instanceof Uint8Array) {
        const file = new FileNode();
        dir.entries.set(name, file);
        new MemoryFile(file).write(typeof content === 'string' ? encoder.encode(content) : content, 0n);
      } else {
        const sub = new DirNode(dir);
        dir.entries.set(name, sub);
        this.fill(sub, content);
      }
    }
  }

  private lookup(path: string): Entry {
    const { parent, name } = this.parentOf(path);
    if (name === undefined) return parent;
    const node = parent.entries.get(name);
    if (!node) throw new WasiError(Errno.NOENT);
    return node;
  }

  /** The directory holding the last component, and that component (undefined for '' itself). */
  private parentOf(path: string): { parent: DirNode; name: string | undefined } {
    if (path === '') return { parent: this.node, name: undefined };
    const names = path.split('/');
    const name = names.pop()!;
    let parent = this.node;
    for (const component of names) {
      const next = parent.entries.get(component);
      if (!next) throw new WasiError(Errno.NOENT);
      if (next.kind !== 'directory') throw new WasiError(Errno.NOTDIR);
      parent = next;
    }
    return { parent, name };
  }

  /** Like parentOf, for operations that cannot apply to the directory itself. */
  private namedParentOf(path: string): { parent: DirNode; name: string } {
    const { parent, name } = this.parentOf(path);
    if (name === undefined) throw new WasiError(Errno.INVAL);
    return { parent, name };
  }
}

/** Whether `dir` is `ancestor` or lies inside it. */
function isWithin(dir: DirNode | undefined, ancestor: DirNode): boolean {
  for (; dir; dir = dir.parent) if (dir === ancestor) return true;
  return false;
}
