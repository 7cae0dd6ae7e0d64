// The WASI Directory/File interfaces over a host directory, with fs/promises. A NodeDirectory
// is a sandbox: every path is resolved with realpath and must stay inside its root, so a
// symbolic link leading out (absolute, or through '..') is ENOTCAPABLE, never host access.
// The last component is then opened with O_NOFOLLOW, so it cannot be swapped for a link after
// the check. (A host process that swaps a directory higher up for a link between the check and
// the use can still race it: Node has no openat2(RESOLVE_BENEATH). The program itself cannot
// make links: path_symlink is not provided.)
import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readdir, readlink, realpath, rename, rmdir, stat, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { Errno, type ErrnoCode, WasiError } from '../wasi/errno.js';
import type { DirEntry, Directory, EntryKind, File, OpenOptions, Stat } from '../wasi/fs.js';

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
};

/** Runs a host file operation; a Node error becomes the matching WasiError (EIO if unknown). */
async function host<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof WasiError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw new WasiError(ERRNO_OF[code] ?? Errno.IO, error instanceof Error ? error.message : String(error));
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
  constructor(private readonly handle: FileHandle) {}

  read(into: Uint8Array, position: bigint): Promise<number> {
    return host(async () => (await this.handle.read(into, 0, into.length, Number(position))).bytesRead);
  }

  write(data: Uint8Array, position: bigint): Promise<number> {
    return host(async () => (await this.handle.write(data, 0, data.length, Number(position))).bytesWritten);
  }

  append(data: Uint8Array): Promise<bigint> {
    return host(async () => {
      const { size } = await this.handle.stat({ bigint: true });
      const { bytesWritten } = await this.handle.write(data, 0, data.length, Number(size));
      return size + BigInt(bytesWritten);
    });
  }

  stat(): Promise<Stat> {
    return host(async () => statOf(await this.handle.stat({ bigint: true })));
  }

  setSize(size: bigint): Promise<void> {
    return host(() => this.handle.truncate(Number(size)));
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
      if (!info.isDirectory()) return new NodeFile(handle);
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
