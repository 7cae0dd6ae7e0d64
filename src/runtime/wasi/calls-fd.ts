// The calls on open descriptors: read, write (streams and files), positioned I/O, seeking,
// closing, status and the preopened-directory queries. Reads from stdin and writes to a
// back-pressured stream return a Promise (the process waits, the others run); everything that
// can answer at once does.
import { ADVICE_MAX, FDSTAT, FdFlags, FileType, PREOPENTYPE_DIR, PRESTAT, Rights, Whence } from './abi.js';
import type { Descriptor, FileDescriptor } from './descriptors.js';
import { Errno, WasiError } from './errno.js';
import { fileTypeOf, streamKind, streamStat, timesChange, writeFilestat } from './filestat.js';
import type { Directory, File, Stat } from './fs.js';
import { type IoVec, totalLength } from './memory.js';
import type { WasiCalls, WasiState } from './state.js';
import { type Steps, wait } from './steps.js';

/** The most one read asks of a file or stream: a short read is always allowed. */
const MAX_READ = 16 * 1024 * 1024;
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * Closes in the background: fd_close must answer at once, and by then every write has already
 * completed (each one is awaited), so a failing close has nothing left to lose.
 */
function closeQuietly(target: File | Directory): void {
  void Promise.resolve()
    .then(() => target.close?.())
    .catch(() => {});
}

function closeDescriptor(descriptor: Descriptor): void {
  if (descriptor.type === 'file') closeQuietly(descriptor.file);
  if (descriptor.type === 'directory') closeQuietly(descriptor.dir);
}

/** A descriptor's rights: coarse, but true about reading, writing and seeking. */
function rightsOf(descriptor: Descriptor): bigint {
  switch (descriptor.type) {
    case 'input':
      return Rights.ALL & ~(Rights.FD_WRITE | Rights.FD_SEEK | Rights.FD_TELL);
    case 'output':
      return Rights.ALL & ~(Rights.FD_READ | Rights.FD_SEEK | Rights.FD_TELL);
    case 'file':
      return Rights.ALL & ~(descriptor.readable ? 0n : Rights.FD_READ) & ~(descriptor.writable ? 0n : Rights.FD_WRITE);
    case 'directory':
      return Rights.ALL;
  }
}

/** A terminal is a character device with no seek right: what wasi-libc's isatty asks. */
function fileTypeOfDescriptor(descriptor: Descriptor): number {
  if (descriptor.type === 'file') return FileType.REGULAR_FILE;
  if (descriptor.type === 'directory') return FileType.DIRECTORY;
  return fileTypeOf(streamKind(descriptor.stream));
}

/**
 * This thread's spare read buffer: the largest a file read has given back, taken by the next.
 * With a fresh buffer per read the kernel faulted in fresh pages for every one: a program that
 * reads 230 MB of data files 16 MB at a time (nextpnr-ice40's chip databases) ran 2.6 s instead
 * of 1.9 s. A read that finds no spare large enough (another one is in flight) makes its own. A
 * buffer goes back only once its read completed and was copied out, never while the file system
 * may still write to it (a read abandoned by a killed process keeps its buffer).
 */
let spareReadBuffer: Uint8Array | undefined;

function takeReadBuffer(size: number): Uint8Array {
  const spare = spareReadBuffer;
  if (!spare || spare.length < size) return new Uint8Array(size);
  spareReadBuffer = undefined;
  return spare;
}

function giveBackReadBuffer(buffer: Uint8Array): void {
  if (!spareReadBuffer || spareReadBuffer.length < buffer.length) spareReadBuffer = buffer;
}

/** Reads a file at `position` into the iovecs (at most MAX_READ); returns how many bytes were placed. */
function* readFileInto(state: WasiState, descriptor: FileDescriptor, vectors: IoVec[], position: bigint): Steps<number> {
  if (!descriptor.readable) throw new WasiError(Errno.BADF, 'the file is not open for reading');
  const max = Math.min(totalLength(vectors), MAX_READ);
  const buffer = takeReadBuffer(max);
  const count = yield* wait(descriptor.file.read(buffer.subarray(0, max), position));
  const placed = state.memory.scatter(vectors, buffer.subarray(0, count));
  giveBackReadBuffer(buffer);
  return placed;
}

function* writeFileAt(descriptor: FileDescriptor, data: Uint8Array, position: bigint): Steps<number> {
  if (!descriptor.writable) throw new WasiError(Errno.BADF, 'the file is not open for writing');
  return yield* wait(descriptor.file.write(data, position));
}

/** A descriptor for positioned I/O (pread/pwrite): files only. */
function positioned(state: WasiState, fd: number): FileDescriptor {
  const descriptor = state.fds.get(fd);
  if (descriptor.type === 'file') return descriptor;
  throw new WasiError(descriptor.type === 'directory' ? Errno.ISDIR : Errno.SPIPE);
}

export function fdCalls(state: WasiState): WasiCalls {
  const { memory } = state;

  return {
    *fd_read(fd: number, iovs: number, iovsLength: number, readPointer: number) {
      const descriptor = state.fds.get(fd);
      const vectors = memory.iovecs(iovs, iovsLength);
      let placed: number;
      if (descriptor.type === 'input') {
        const max = Math.min(totalLength(vectors), MAX_READ);
        placed = memory.scatter(vectors, max === 0 ? EMPTY : ((yield* wait(descriptor.stream.read(max))) ?? EMPTY));
      } else if (descriptor.type === 'file') {
        placed = yield* readFileInto(state, descriptor, vectors, descriptor.position);
        descriptor.position += BigInt(placed);
      } else {
        throw new WasiError(descriptor.type === 'directory' ? Errno.ISDIR : Errno.BADF);
      }
      memory.setU32(readPointer, placed);
      return Errno.SUCCESS;
    },

    *fd_pread(fd: number, iovs: number, iovsLength: number, offset: bigint, readPointer: number) {
      const descriptor = positioned(state, fd);
      memory.setU32(readPointer, yield* readFileInto(state, descriptor, memory.iovecs(iovs, iovsLength), offset));
      return Errno.SUCCESS;
    },

    *fd_write(fd: number, iovs: number, iovsLength: number, writtenPointer: number) {
      const descriptor = state.fds.get(fd);
      const data = memory.gather(memory.iovecs(iovs, iovsLength));
      let written = data.length;
      if (descriptor.type === 'output') {
        if (data.length > 0) yield* wait(descriptor.stream.write(data));
      } else if (descriptor.type === 'file' && descriptor.append) {
        if (!descriptor.writable) throw new WasiError(Errno.BADF, 'the file is not open for writing');
        descriptor.position = yield* wait(descriptor.file.append(data));
      } else if (descriptor.type === 'file') {
        written = yield* writeFileAt(descriptor, data, descriptor.position);
        descriptor.position += BigInt(written);
      } else {
        throw new WasiError(Errno.BADF);
      }
      memory.setU32(writtenPointer, written);
      return Errno.SUCCESS;
    },

    *fd_pwrite(fd: number, iovs: number, iovsLength: number, offset: bigint, writtenPointer: number) {
      const descriptor = positioned(state, fd);
      const data = memory.gather(memory.iovecs(iovs, iovsLength));
      memory.setU32(writtenPointer, yield* writeFileAt(descriptor, data, offset));
      return Errno.SUCCESS;
    },

    *fd_seek(fd: number, offset: bigint, whence: number, newOffsetPointer: number) {
      const descriptor = state.fds.getAs(fd, ['file'], Errno.SPIPE);
      let base: bigint;
      if (whence === Whence.SET) base = 0n;
      else if (whence === Whence.CUR) base = descriptor.position;
      else if (whence === Whence.END) base = (yield* wait(descriptor.file.stat())).size;
      else throw new WasiError(Errno.INVAL, `unknown whence ${whence}`);
      const position = base + offset;
      if (position < 0n) throw new WasiError(Errno.INVAL, 'seek before the start of the file');
      descriptor.position = position;
      memory.setU64(newOffsetPointer, position);
      return Errno.SUCCESS;
    },

    *fd_tell(fd: number, offsetPointer: number) {
      memory.setU64(offsetPointer, state.fds.getAs(fd, ['file'], Errno.SPIPE).position);
      return Errno.SUCCESS;
    },

    *fd_close(fd: number) {
      closeDescriptor(state.fds.remove(fd));
      return Errno.SUCCESS;
    },

    *fd_renumber(from: number, to: number) {
      const replaced = state.fds.renumber(from, to);
      if (replaced) closeDescriptor(replaced);
      return Errno.SUCCESS;
    },

    *fd_fdstat_get(fd: number, pointer: number) {
      const descriptor = state.fds.get(fd);
      memory.clear(pointer, FDSTAT.size);
      memory.setU8(pointer + FDSTAT.filetype, fileTypeOfDescriptor(descriptor));
      memory.setU16(pointer + FDSTAT.flags, descriptor.type === 'file' && descriptor.append ? FdFlags.APPEND : 0);
      memory.setU64(pointer + FDSTAT.rightsBase, rightsOf(descriptor));
      memory.setU64(pointer + FDSTAT.rightsInheriting, descriptor.type === 'directory' ? Rights.ALL : 0n);
      return Errno.SUCCESS;
    },

    *fd_filestat_get(fd: number, pointer: number) {
      const descriptor = state.fds.get(fd);
      let stat: Stat;
      if (descriptor.type === 'file') stat = yield* wait(descriptor.file.stat());
      else if (descriptor.type === 'directory') stat = yield* wait(descriptor.dir.stat('', true));
      else stat = streamStat(descriptor.stream);
      writeFilestat(memory, pointer, stat);
      return Errno.SUCCESS;
    },

    *fd_filestat_set_size(fd: number, size: bigint) {
      const descriptor = state.fds.getAs(fd, ['file']);
      if (!descriptor.writable) throw new WasiError(Errno.BADF, 'the file is not open for writing');
      if (size < 0n) throw new WasiError(Errno.INVAL);
      yield* wait(descriptor.file.setSize(size));
      return Errno.SUCCESS;
    },

    *fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, fstflags: number) {
      const descriptor = state.fds.getAs(fd, ['file', 'directory']);
      const times = timesChange(atim, mtim, fstflags);
      if (descriptor.type === 'file') {
        if (!descriptor.file.setTimes) throw new WasiError(Errno.NOSYS, 'this file system cannot set times');
        yield* wait(descriptor.file.setTimes(times));
      } else {
        if (!descriptor.dir.setTimes) throw new WasiError(Errno.NOSYS, 'this file system cannot set times');
        yield* wait(descriptor.dir.setTimes('', true, times));
      }
      return Errno.SUCCESS;
    },

    *fd_fdstat_set_flags(fd: number, flags: number) {
      const descriptor = state.fds.get(fd);
      if (flags & (FdFlags.DSYNC | FdFlags.RSYNC | FdFlags.SYNC))
        throw new WasiError(Errno.NOTSUP, 'synchronized writes: call fd_sync or fd_datasync instead');
      if (descriptor.type === 'file') descriptor.append = (flags & FdFlags.APPEND) !== 0;
      // A stream's read or write waits while the other processes run; it never answers EAGAIN.
      else if (flags & FdFlags.NONBLOCK && descriptor.type !== 'directory') throw new WasiError(Errno.NOTSUP, 'non-blocking stdio');
      return Errno.SUCCESS; // NONBLOCK on a file or directory changes nothing, as on Linux
    },

    *fd_advise(fd: number, _offset: bigint, _length: bigint, advice: number) {
      const descriptor = state.fds.get(fd);
      if (advice > ADVICE_MAX) throw new WasiError(Errno.INVAL, `unknown advice ${advice}`);
      if (descriptor.type === 'input' || descriptor.type === 'output') throw new WasiError(Errno.SPIPE);
      return Errno.SUCCESS; // advice only: the host's page cache decides
    },

    *fd_allocate(fd: number, offset: bigint, length: bigint) {
      const descriptor = state.fds.getAs(fd, ['file']);
      if (!descriptor.writable) throw new WasiError(Errno.BADF, 'the file is not open for writing');
      const end = BigInt.asUintN(64, offset) + BigInt.asUintN(64, length);
      if ((yield* wait(descriptor.file.stat())).size < end) yield* wait(descriptor.file.setSize(end));
      return Errno.SUCCESS;
    },

    *fd_sync(fd: number) {
      return yield* sync(state, fd);
    },

    *fd_datasync(fd: number) {
      return yield* sync(state, fd);
    },

    *fd_prestat_get(fd: number, pointer: number) {
      const name = preopenName(state, fd);
      memory.clear(pointer, PRESTAT.size);
      memory.setU8(pointer + PRESTAT.tag, PREOPENTYPE_DIR);
      memory.setU32(pointer + PRESTAT.nameLength, name.length);
      return Errno.SUCCESS;
    },

    *fd_prestat_dir_name(fd: number, pointer: number, length: number) {
      const name = preopenName(state, fd);
      if (length >>> 0 < name.length) throw new WasiError(Errno.NAMETOOLONG);
      memory.bytes(pointer, name.length).set(name);
      return Errno.SUCCESS;
    },
  };
}

function* sync(state: WasiState, fd: number): Steps<number> {
  const descriptor = state.fds.get(fd);
  if (descriptor.type === 'input' || descriptor.type === 'output') throw new WasiError(Errno.INVAL, 'a stream cannot be synced');
  if (descriptor.type === 'file') yield* wait(descriptor.file.sync());
  return Errno.SUCCESS;
}

/** The UTF-8 guest path of a preopened directory; EBADF for any other descriptor. */
function preopenName(state: WasiState, fd: number): Uint8Array {
  const descriptor = state.fds.getAs(fd, ['directory']);
  if (descriptor.preopen === undefined) throw new WasiError(Errno.BADF);
  return encoder.encode(descriptor.preopen);
}
