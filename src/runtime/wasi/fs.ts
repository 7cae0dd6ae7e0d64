// The file-system interface behind WASI: a Directory is a sandbox root (nothing it hands out
// lies outside it) and a File is an open file. Methods may return a value or a Promise: the
// in-memory file system (memfs.ts) answers at once, so its calls never suspend the process;
// Node's (src/runtime/node/fs.ts) answers through fs/promises. Failures throw (or reject with)
// a WasiError carrying the errno.
//
// Paths given to a Directory are relative, already normalized by the WASI layer (paths.ts):
// components joined by '/', no '.', no '..', no leading '/'; '' is the directory itself.
// Symbolic links are the Directory's business: it must refuse (ENOTCAPABLE) any path whose
// resolution leaves it.

export type MaybePromise<T> = T | Promise<T>;

export type EntryKind = 'file' | 'directory' | 'symlink' | 'character-device' | 'block-device' | 'socket' | 'unknown';

export interface Stat {
  kind: EntryKind;
  size: bigint;
  dev: bigint;
  ino: bigint;
  nlink: bigint;
  /** Times in nanoseconds since the epoch. */
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** A new access or modification time: nanoseconds since the epoch, the clock's time now, or unchanged. */
export type TimeChange = bigint | 'now' | undefined;

/** What utimensat(2) sets: each time on its own. */
export interface TimesChange {
  access: TimeChange;
  modification: TimeChange;
}

export interface DirEntry {
  name: string;
  kind: EntryKind;
  ino: bigint;
}

export interface OpenOptions {
  read: boolean;
  write: boolean;
  /** Create the file when it does not exist (O_CREAT)... */
  create: boolean;
  /** ...and fail with EEXIST when it does (O_EXCL). */
  exclusive: boolean;
  truncate: boolean;
  /** The path must name a directory (O_DIRECTORY). */
  directory: boolean;
  /** Follow a symbolic link in the last component (links inside the path are always followed). */
  followSymlinks: boolean;
}

export interface File {
  readonly kind: 'file';
  /** Reads into `into` from `position`; returns the byte count (0 at the end of the file). */
  read(into: Uint8Array, position: bigint): MaybePromise<number>;
  /** Writes `data` at `position`; returns the byte count. */
  write(data: Uint8Array, position: bigint): MaybePromise<number>;
  /** Writes `data` at the end of the file; returns the new end. */
  append(data: Uint8Array): MaybePromise<bigint>;
  stat(): MaybePromise<Stat>;
  setSize(size: bigint): MaybePromise<void>;
  /** Sets its times (optional: a file system without it answers ENOSYS). */
  setTimes?(times: TimesChange): MaybePromise<void>;
  sync(): MaybePromise<void>;
  close(): MaybePromise<void>;
}

export interface Directory {
  readonly kind: 'directory';
  /** Opens a file or a directory (a directory comes back as a new sandbox root). */
  open(path: string, options: OpenOptions): MaybePromise<File | Directory>;
  stat(path: string, followSymlinks: boolean): MaybePromise<Stat>;
  /** The entries of this directory, without '.' and '..', in a stable order. */
  list(): MaybePromise<DirEntry[]>;
  createDirectory(path: string): MaybePromise<void>;
  removeDirectory(path: string): MaybePromise<void>;
  unlinkFile(path: string): MaybePromise<void>;
  /** Moves `from` to `to` inside `target`, which must come from the same file system (else EXDEV). */
  rename(from: string, target: Directory, to: string): MaybePromise<void>;
  /** The text of the symbolic link at `path`. */
  readlink(path: string): MaybePromise<string>;
  /** Sets the times of what `path` names, or (without `followSymlinks`) of a link itself; optional, as File's. */
  setTimes?(path: string, followSymlinks: boolean, times: TimesChange): MaybePromise<void>;
  close?(): MaybePromise<void>;
}
