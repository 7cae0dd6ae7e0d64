// The WASI Directory/File interfaces over a host directory, with fs/promises (and plain system
// calls for small reads and writes of regular files: SYNC_IO_MAX_BYTES). A NodeDirectory
// is a sandbox: every path is resolved with realpath and must stay inside its root, so a
// symbolic link leading out (absolute, or through '..') is ENOTCAPABLE, never host access.
// The last component is then opened with O_NOFOLLOW, so it cannot be swapped for a link after
// the check. (A host process that swaps a directory higher up for a link between the check and
// the use can still race it: Node has no openat2(RESOLVE_BENEATH). The program itself cannot
// make links: path_symlink is not provided.)
import { constants, fstatSync, readSync, writeSync } from 'node:fs';
import {
  type FileHandle,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readlink,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
  utimes,
} from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { Errno, type ErrnoCode, WasiError } from '../wasi/errno.js';
import type { DirEntry, Directory, EntryKind, File, MaybePromise, OpenOptions, Stat, TimeChange, TimesChange } from '../wasi/fs.js';

const ERRNO_OF: Record<string, ErrnoCode> = {
  ENOENT: Errno.NOENT,
  EEXIST: Errno.EXIST,
  ENOTDIR: Errno.NOTDIR,
  EISDIR: Errno.ISDIR,
  ENOTEMPTY: Errno.NOTEMPTY,
  EACCES: Errno.ACCES,
  EPERM: Errno.PERM,
  EBADF: Errno.BADF,
  EINVAL: Errno.INVAL,
  ELOOP: Errno.LOOP,
  ENAMETOOLONG: Errno.NAMETOOLONG,
  EXDEV: Errno.XDEV,
  ENOSPC: Errno.NOSPC,
  EROFS: Errno.ROFS,
  EMFILE: Errno.MFILE,
  ENFILE: Errno.MFILE,
  EBUSY: Errno.BUSY,
  EFBIG: Errno.FBIG,
  EAGAIN: Errno.AGAIN,
  ENOTSUP: Errno.NOTSUP,
  ESPIPE: Errno.SPIPE,
};

/**
 * Reads and writes of a regular file up to this size are plain system calls on this thread: the
 * page cache answers them in microseconds, where a round trip through libuv's thread pool costs
 * tens of them and, on Asyncify, a suspension of the process. nextpnr-ice40 writes its 190 KB
 * bitstream in some 4,700 writes. Larger ones, and every operation on what is not a regular file
 * (a FIFO or a device can block for ever), go through the thread pool, as the rest of this file
 * does: a slow network file system can still hold this thread for a small read's time.
 */
const SYNC_IO_MAX_BYTES = 64 * 1024;

/** A Node error as the matching WasiError (EIO if unknown). */
function wasiErrorOf(error: unknown): WasiError {
  if (error instanceof WasiError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return new WasiError(ERRNO_OF[code] ?? Errno.IO, error instanceof Error ? error.message : String(error));
}

/** Runs a host file operation; a Node error becomes the matching WasiError. */
async function host<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw wasiErrorOf(error);
  }
}

/** host() for a synchronous operation. */
function hostNow<T>(operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    throw wasiErrorOf(error);
  }
}

function kindOf(info: {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): EntryKind {
  if (info.isFile()) return 'file';
  if (info.isDirectory()) return 'directory';
  if (info.isSymbolicLink()) return 'symlink';
  if (info.isCharacterDevice()) return 'character-device';
  if (info.isBlockDevice()) return 'block-device';
  if (info.isSocket()) return 'socket';
  return 'unknown';
}

function statOf(info: BigIntStats): Stat {
  return {
    kind: kindOf(info),
    size: info.size,
    dev: info.dev,
    ino: info.ino,
    nlink: info.nlink,
    atimeNs: info.atimeNs,
    mtimeNs: info.mtimeNs,
    ctimeNs: info.ctimeNs,
  };
}

/**
 * The two times Node's utimes takes (seconds, as numbers: Node keeps microseconds of them); a time
 * left unchanged is read first.
 */
async function utimesArguments(times: TimesChange, current: () => Promise<BigIntStats>): Promise<[number, number]> {
  const old = times.access === undefined || times.modification === undefined ? await current() : undefined;
  const now = Date.now() / 1000;
  const seconds = (change: TimeChange, oldNs: bigint | undefined) => (change === 'now' ? now : Number(change ?? oldNs!) / 1e9);
  return [seconds(times.access, old?.atimeNs), seconds(times.modification, old?.mtimeNs)];
}

function openFlags(options: OpenOptions): number {
  let flags = options.write ? (options.read ? constants.O_RDWR : constants.O_WRONLY) : constants.O_RDONLY;
  if (options.create) flags |= constants.O_CREAT;
  if (options.exclusive) flags |= constants.O_EXCL;
  if (options.truncate) flags |= constants.O_TRUNC;
  if (options.directory) flags |= constants.O_DIRECTORY ?? 0;
  return flags | (constants.O_NOFOLLOW ?? 0);
}

const notCapable = (what: string) => new WasiError(Errno.NOTCAPABLE, `${what} leads outside the sandbox`);

class NodeFile implements File {
  readonly kind = 'file';
  /**
   * `regular`: a regular file, whose small reads and writes are synchronous (SYNC_IO_MAX_BYTES).
   * Anything else (a FIFO, a device) has no positions: it is read and written where it stands.
   */
  constructor(
    private readonly handle: FileHandle,
    private readonly regular: boolean,
  ) {}

  private synchronous(bytes: number): boolean {
    return this.regular && bytes <= SYNC_IO_MAX_BYTES;
  }

  /** Where the system call reads or writes: `position` in a regular file, the stream's own place otherwise. */
  private at(position: bigint): number | null {
    return this.regular ? Number(position) : null;
  }

  read(into: Uint8Array, position: bigint): MaybePromise<number> {
    if (this.synchronous(into.length)) return hostNow(() => readSync(this.handle.fd, into, 0, into.length, Number(position)));
    return host(async () => (await this.handle.read(into, 0, into.length, this.at(position))).bytesRead);
  }

  write(data: Uint8Array, position: bigint): MaybePromise<number> {
    if (this.synchronous(data.length)) return hostNow(() => writeSync(this.handle.fd, data, 0, data.length, Number(position)));
    return host(async () => (await this.handle.write(data, 0, data.length, this.at(position))).bytesWritten);
  }

  append(data: Uint8Array): MaybePromise<bigint> {
    if (this.synchronous(data.length))
      return hostNow(() => {
        const { size } = fstatSync(this.handle.fd, { bigint: true });
        return size + BigInt(writeSync(this.handle.fd, data, 0, data.length, Number(size)));
      });
    return host(async () => {
      const { size } = await this.handle.stat({ bigint: true });
      const { bytesWritten } = await this.handle.write(data, 0, data.length, this.at(size));
      return size + BigInt(bytesWritten);
    });
  }

  stat(): Promise<Stat> {
    return host(async () => statOf(await this.handle.stat({ bigint: true })));
  }

  setSize(size: bigint): Promise<void> {
    return host(() => this.handle.truncate(Number(size)));
  }

  setTimes(times: TimesChange): Promise<void> {
    return host(async () => this.handle.utimes(...(await utimesArguments(times, () => this.handle.stat({ bigint: true })))));
  }

  sync(): Promise<void> {
    return host(() => this.handle.sync());
  }

  close(): Promise<void> {
    return host(() => this.handle.close());
  }
}

class NodeDirectory implements Directory {
  readonly kind = 'directory';
  private readonly prefix: string;

  /** `root` must be a real path (no links in it): see nodeDirectory(). */
  constructor(private readonly root: string) {
    this.prefix = root.endsWith(sep) ? root : root + sep;
  }

  open(path: string, options: OpenOptions): Promise<File | Directory> {
    return host(async () => {
      const target = await this.resolve(path, options.followSymlinks);
      const handle = await open(target, openFlags(options));
      const info = await handle.stat().catch(async (error: unknown) => {
        await handle.close();
        throw error;
      });
      if (!info.isDirectory()) return new NodeFile(handle, info.isFile());
      await handle.close();
      return new NodeDirectory(target);
    });
  }

  stat(path: string, followSymlinks: boolean): Promise<Stat> {
    return host(async () => {
      const target = await this.resolve(path, followSymlinks);
      return statOf(await (followSymlinks ? stat(target, { bigint: true }) : lstat(target, { bigint: true })));
    });
  }

  list(): Promise<DirEntry[]> {
    return host(async () => {
      const names = (await readdir(this.root)).sort();
      // Each entry's inode too: old code skips entries whose d_ino is 0.
      const infos = await Promise.all(names.map((name) => lstat(join(this.root, name), { bigint: true }).catch(() => undefined)));
      return names.flatMap((name, i) => {
        const info = infos[i];
        return info ? [{ name, kind: kindOf(info), ino: info.ino }] : []; // gone meanwhile
      });
    });
  }

  createDirectory(path: string): Promise<void> {
    return host(async () => {
      await mkdir(await this.resolve(path, false));
    });
  }

  removeDirectory(path: string): Promise<void> {
    return host(async () => rmdir(await this.resolve(path, false)));
  }

  unlinkFile(path: string): Promise<void> {
    return host(async () => {
      const target = await this.resolve(path, false);
      if ((await lstat(target)).isDirectory()) throw new WasiError(Errno.ISDIR);
      await unlink(target);
    });
  }

  rename(from: string, target: Directory, to: string): Promise<void> {
    return host(async () => {
      if (!(target instanceof NodeDirectory)) throw new WasiError(Errno.XDEV);
      await rename(await this.resolve(from, false), await target.resolve(to, false));
    });
  }

  readlink(path: string): Promise<string> {
    return host(async () => readlink(await this.resolve(path, false)));
  }

  setTimes(path: string, followSymlinks: boolean, times: TimesChange): Promise<void> {
    return host(async () => {
      const target = await this.resolve(path, followSymlinks);
      const current = () => (followSymlinks ? stat(target, { bigint: true }) : lstat(target, { bigint: true }));
      const [atime, mtime] = await utimesArguments(times, current);
      await (followSymlinks ? utimes(target, atime, mtime) : lutimes(target, atime, mtime));
    });
  }

  /**
   * The host path for `path`: its directory resolved by realpath and checked to lie inside the
   * root; the last component as it is, or (`follow`) resolved and checked too. A dangling link
   * is refused when followed: where it leads cannot be checked.
   */
  private async resolve(path: string, follow: boolean): Promise<string> {
    if (path === '') return this.root;
    if (sep === '\\' && /[\\:]/.test(path)) throw new WasiError(Errno.NOTCAPABLE, `${path}: '\\' and ':' are separators on this host`);
    const full = join(this.root, path);
    const parent = await this.realInside(dirname(full), path);
    const target = join(parent, basename(full));
    if (!follow) return target;
    const info = await lstat(target).catch(() => undefined);
    if (!info?.isSymbolicLink()) return target;
    try {
      return await this.realInside(target, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw notCapable(`the dangling link ${path}`);
      throw error;
    }
  }

  private async realInside(hostPath: string, guestPath: string): Promise<string> {
    const real = await realpath(hostPath);
    if (real !== this.root && !real.startsWith(this.prefix)) throw notCapable(guestPath);
    return real;
  }
}

/** A sandbox over the host directory `hostPath` (for a preopen). Rejects with a clear Error if it is not a directory. */
export async function nodeDirectory(hostPath: string): Promise<Directory> {
  let root: string;
  try {
    root = await realpath(hostPath);
  } catch {
    throw new Error(`${hostPath}: no such directory`);
  }
  if (!(await stat(root)).isDirectory()) throw new Error(`${hostPath}: not a directory`);
  return new NodeDirectory(root);
}
