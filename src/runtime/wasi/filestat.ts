// Writing a file system's Stat into the preview1 filestat struct, entry kinds as filetypes, and
// the times a set_times call asks for.
import { FILESTAT, FileType, FstFlags } from './abi.js';
import { Errno, WasiError } from './errno.js';
import type { InputStream, OutputStream } from '../types.js';
import type { EntryKind, Stat, TimeChange, TimesChange } from './fs.js';
import type { GuestMemory } from './memory.js';

const FILE_TYPES: Record<EntryKind, number> = {
  file: FileType.REGULAR_FILE,
  directory: FileType.DIRECTORY,
  symlink: FileType.SYMBOLIC_LINK,
  'character-device': FileType.CHARACTER_DEVICE,
  'block-device': FileType.BLOCK_DEVICE,
  socket: FileType.SOCKET_STREAM,
  unknown: FileType.UNKNOWN,
};

export function fileTypeOf(kind: EntryKind): number {
  return FILE_TYPES[kind];
}

/**
 * What a stream (stdin, stdout, stderr) is: a character device when it is a terminal, and of no
 * known type otherwise (a pipe or a redirected file: WASI has no type for a pipe, and this stream
 * cannot seek as a file would), as wasmtime reports it.
 */
export function streamKind(stream: InputStream | OutputStream): EntryKind {
  return stream.terminal === false ? 'unknown' : 'character-device';
}

/** What a stream reports of itself: its kind, everything else zero. */
export function streamStat(stream: InputStream | OutputStream): Stat {
  return { kind: streamKind(stream), size: 0n, dev: 0n, ino: 0n, nlink: 1n, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n };
}

export function writeFilestat(memory: GuestMemory, pointer: number, stat: Stat): void {
  memory.clear(pointer, FILESTAT.size);
  memory.setU64(pointer + FILESTAT.dev, stat.dev);
  memory.setU64(pointer + FILESTAT.ino, stat.ino);
  memory.setU8(pointer + FILESTAT.filetype, fileTypeOf(stat.kind));
  memory.setU64(pointer + FILESTAT.nlink, stat.nlink);
  memory.setU64(pointer + FILESTAT.fileSize, stat.size);
  memory.setU64(pointer + FILESTAT.atim, stat.atimeNs);
  memory.setU64(pointer + FILESTAT.mtim, stat.mtimeNs);
  memory.setU64(pointer + FILESTAT.ctim, stat.ctimeNs);
}

/** The times fd_filestat_set_times and path_filestat_set_times ask for; a time both given and "now" is EINVAL. */
export function timesChange(atim: bigint, mtim: bigint, fstflags: number): TimesChange {
  const one = (value: bigint, given: number, now: number): TimeChange => {
    if (fstflags & given && fstflags & now) throw new WasiError(Errno.INVAL, 'a time both given and now');
    if (fstflags & now) return 'now';
    return fstflags & given ? BigInt.asUintN(64, value) : undefined;
  };
  return { access: one(atim, FstFlags.ATIM, FstFlags.ATIM_NOW), modification: one(mtim, FstFlags.MTIM, FstFlags.MTIM_NOW) };
}
