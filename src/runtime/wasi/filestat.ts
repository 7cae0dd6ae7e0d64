// Writing a file system's Stat into the preview1 filestat struct, and entry kinds as filetypes.
import { FILESTAT, FileType } from './abi.js';
import type { EntryKind, Stat } from './fs.js';
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

/** What a stream (stdin, stdout, stderr) reports: a character device, everything else zero. */
export const STREAM_STAT: Stat = { kind: 'character-device', size: 0n, dev: 0n, ino: 0n, nlink: 1n, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n };

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
