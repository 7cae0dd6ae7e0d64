// The calls that name files by path relative to a directory descriptor, and directory listing.
// Every path goes through sandboxedPath (no absolute paths, no climbing out) and then to the
// descriptor's Directory, which answers for symbolic links. Without a preopened directory a
// process holds no directory descriptor, so it has no file system at all.
import { DIRENT, FdFlags, LookupFlags, OFlags, Rights } from './abi.js';
import type { DirectoryDescriptor } from './descriptors.js';
import { Errno, WasiError } from './errno.js';
import { fileTypeOf, timesChange, writeFilestat } from './filestat.js';
import type { DirEntry, OpenOptions } from './fs.js';
import { sandboxedPath } from './paths.js';
import type { WasiCalls, WasiState } from './state.js';
import { type Steps, wait } from './steps.js';

const encoder = new TextEncoder();

/** Directory descriptors only: a file or stream given as a directory is ENOTDIR. */
function directory(state: WasiState, fd: number): DirectoryDescriptor {
  return state.fds.getAs(fd, ['directory'], Errno.NOTDIR);
}

function openOptions(oflags: number, rights: bigint, fdflags: number, lookupflags: number): OpenOptions {
  const write = (BigInt.asUintN(64, rights) & Rights.FD_WRITE) !== 0n || (fdflags & FdFlags.APPEND) !== 0;
  return {
    read: (BigInt.asUintN(64, rights) & Rights.FD_READ) !== 0n || !write,
    write,
    create: (oflags & OFlags.CREAT) !== 0,
    exclusive: (oflags & OFlags.EXCL) !== 0,
    truncate: (oflags & OFlags.TRUNC) !== 0,
    directory: (oflags & OFlags.DIRECTORY) !== 0,
    followSymlinks: (lookupflags & LookupFlags.SYMLINK_FOLLOW) !== 0,
  };
}

/** The listing fd_readdir shows: '.' and '..' first, as POSIX readdir does, then the entries. */
function* listing(descriptor: DirectoryDescriptor, cookie: bigint): Steps<DirEntry[]> {
  if (cookie === 0n || !descriptor.listing) {
    const entries = yield* wait(descriptor.dir.list());
    // Old code skips entries whose d_ino is 0 as deleted: the dots get this directory's number.
    const { ino } = yield* wait(descriptor.dir.stat('', true));
    const dot = (name: string): DirEntry => ({ name, kind: 'directory', ino });
    descriptor.listing = [dot('.'), dot('..'), ...entries];
  }
  return descriptor.listing;
}

/** One dirent (header, then the name without NUL) as bytes; `next` is the following cookie. */
function direntBytes(entry: DirEntry, next: bigint): Uint8Array {
  const name = encoder.encode(entry.name);
  const bytes = new Uint8Array(DIRENT.size + name.length);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(DIRENT.next, next, true);
  view.setBigUint64(DIRENT.ino, entry.ino, true);
  view.setUint32(DIRENT.nameLength, name.length, true);
  view.setUint8(DIRENT.type, fileTypeOf(entry.kind));
  bytes.set(name, DIRENT.size);
  return bytes;
}

export function pathCalls(state: WasiState): WasiCalls {
  const { memory } = state;
  const pathOf = (pointer: number, length: number) => sandboxedPath(memory.string(pointer, length));

  return {
    *path_open(
      fd: number,
      lookupflags: number,
      pathPointer: number,
      pathLength: number,
      oflags: number,
      rights: bigint,
      _inheriting: bigint,
      fdflags: number,
      fdPointer: number,
    ) {
      const { dir } = directory(state, fd);
      const options = openOptions(oflags, rights, fdflags, lookupflags);
      const opened = yield* wait(dir.open(pathOf(pathPointer, pathLength), options));
      const newFd =
        opened.kind === 'directory'
          ? state.fds.add({ type: 'directory', dir: opened })
          : state.fds.add({
              type: 'file',
              file: opened,
              readable: options.read,
              writable: options.write,
              append: (fdflags & FdFlags.APPEND) !== 0,
              position: 0n,
            });
      memory.setU32(fdPointer, newFd);
      return Errno.SUCCESS;
    },

    *path_filestat_get(fd: number, lookupflags: number, pathPointer: number, pathLength: number, pointer: number) {
      const { dir } = directory(state, fd);
      const stat = yield* wait(dir.stat(pathOf(pathPointer, pathLength), (lookupflags & LookupFlags.SYMLINK_FOLLOW) !== 0));
      writeFilestat(memory, pointer, stat);
      return Errno.SUCCESS;
    },

    *path_filestat_set_times(
      fd: number,
      lookupflags: number,
      pathPointer: number,
      pathLength: number,
      atim: bigint,
      mtim: bigint,
      fstflags: number,
    ) {
      const { dir } = directory(state, fd);
      const times = timesChange(atim, mtim, fstflags);
      if (!dir.setTimes) throw new WasiError(Errno.NOSYS, 'this file system cannot set times');
      yield* wait(dir.setTimes(pathOf(pathPointer, pathLength), (lookupflags & LookupFlags.SYMLINK_FOLLOW) !== 0, times));
      return Errno.SUCCESS;
    },

    *path_create_directory(fd: number, pathPointer: number, pathLength: number) {
      yield* wait(directory(state, fd).dir.createDirectory(pathOf(pathPointer, pathLength)));
      return Errno.SUCCESS;
    },

    *path_remove_directory(fd: number, pathPointer: number, pathLength: number) {
      yield* wait(directory(state, fd).dir.removeDirectory(pathOf(pathPointer, pathLength)));
      return Errno.SUCCESS;
    },

    *path_unlink_file(fd: number, pathPointer: number, pathLength: number) {
      yield* wait(directory(state, fd).dir.unlinkFile(pathOf(pathPointer, pathLength)));
      return Errno.SUCCESS;
    },

    *path_rename(fd: number, fromPointer: number, fromLength: number, targetFd: number, toPointer: number, toLength: number) {
      const source = directory(state, fd).dir;
      const target = directory(state, targetFd).dir;
      yield* wait(source.rename(pathOf(fromPointer, fromLength), target, pathOf(toPointer, toLength)));
      return Errno.SUCCESS;
    },

    *path_readlink(fd: number, pathPointer: number, pathLength: number, buffer: number, bufferLength: number, usedPointer: number) {
      const text = encoder.encode(yield* wait(directory(state, fd).dir.readlink(pathOf(pathPointer, pathLength))));
      const used = Math.min(text.length, bufferLength >>> 0);
      memory.bytes(buffer, used).set(text.subarray(0, used));
      memory.setU32(usedPointer, used);
      return Errno.SUCCESS;
    },

    *fd_readdir(fd: number, buffer: number, bufferLength: number, cookie: bigint, usedPointer: number) {
      const descriptor = directory(state, fd);
      const entries = yield* listing(descriptor, BigInt.asUintN(64, cookie));
      const capacity = bufferLength >>> 0;
      let used = 0;
      // Entries go in whole while they fit; the last one may be cut short, which tells the
      // caller (bufused == buf_len) to come back with a bigger buffer from that cookie.
      for (let index = Number(BigInt.asUintN(64, cookie)); index < entries.length && used < capacity; index++) {
        const bytes = direntBytes(entries[index]!, BigInt(index + 1));
        const count = Math.min(bytes.length, capacity - used);
        memory.bytes((buffer >>> 0) + used, count).set(bytes.subarray(0, count));
        used += count;
      }
      memory.setU32(usedPointer, used);
      return Errno.SUCCESS;
    },
  };
}
