// The WASI host module driven directly: a fake ProcessContext over a real WebAssembly.Memory,
// iovecs and structs written by hand, results read back from memory and from the streams and the
// in-memory file system. Covers stdio, args/env, clocks, the sandbox (escapes, no preopen,
// stale fds, symbolic links out of a host directory), files and directories on both file
// systems (on Node's, small reads and writes of a regular file answer at once), reads in flight
// at once on a file system that answers later (each its own buffer, a finished one reused),
// poll_oneoff, and ENOSYS for everything else.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { nodeDirectory } from '../src/runtime/node/fs.js';
import { FdOutput, NodeInput, NodeOutput } from '../src/runtime/node/stdio.js';
import { PREVIEW1_FUNCTIONS } from '../src/runtime/wasi/abi.js';
import {
  callbackOutput,
  CollectedOutput,
  Errno,
  MemoryDirectory,
  QueueInput,
  type WasiOptions,
  wasiPreview1,
} from '../src/runtime/wasi/index.js';
import { importsOf, type ProcessContext, ProcessExit } from '../src/runtime/types.js';
import type { Directory, File, OpenOptions } from '../src/runtime/wasi/fs.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Scratch layout in the test memory.
const RESULT = 0x80; // where calls write their out-parameters
const IOVECS = 0x100;
const PATH = 0x200;
const DATA = 0x1000;
const BUFFER = 0x4000;

const RIGHTS_READ = 1n << 1n;
const RIGHTS_WRITE = 1n << 6n;
const O_CREAT = 1;
const O_DIRECTORY = 2;
const O_EXCL = 4;
const LOOKUP_FOLLOW = 1;

/** A process as the host module sees it: real memory, a fake clock that sleeps advance. */
function harness(options: Partial<WasiOptions> = {}) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  let monotonicNs = 5_000_000_000n;
  const sleeps: number[] = [];
  let yields = 0;
  const ctx: ProcessContext = {
    pid: 1,
    signal: new AbortController().signal,
    memory: () => memory,
    // Sleeps pass at once in fake time, but after a macrotask: whatever is ready first wins.
    sleep: async (ms) => {
      sleeps.push(ms);
      await new Promise((resolve) => setTimeout(resolve, 0));
      monotonicNs += BigInt(ms) * 1_000_000n;
    },
    yieldNow: async () => {
      yields++;
    },
    charge: () => {},
  };
  const clock = { now: () => 1_700_000_000_000_000_000n + monotonicNs, monotonic: () => monotonicNs };
  const host = importsOf(wasiPreview1({ args: [], env: {}, preopens: [], clock, ...options }), ctx);
  const wasi = host.wasi_snapshot_preview1!;
  const call = (name: string, ...args: unknown[]) => wasi[name]!(...args);

  const view = () => new DataView(memory.buffer);
  const bytes = () => new Uint8Array(memory.buffer);
  const put = (pointer: number, data: string | Uint8Array) => {
    const encoded = typeof data === 'string' ? encoder.encode(data) : data;
    bytes().set(encoded, pointer);
    return encoded.length;
  };
  /** Writes the iovec array for `parts` (their bytes laid out from DATA) and returns its count. */
  const iovecs = (parts: (string | number)[]) => {
    let at = DATA;
    parts.forEach((part, i) => {
      const length = typeof part === 'number' ? part : put(at, part);
      view().setUint32(IOVECS + i * 8, at, true);
      view().setUint32(IOVECS + i * 8 + 4, length, true);
      at += length + 16;
    });
    return parts.length;
  };
  const u8 = (pointer: number) => view().getUint8(pointer);
  const u16 = (pointer: number) => view().getUint16(pointer, true);
  const u32 = (pointer: number) => view().getUint32(pointer, true);
  const u64 = (pointer: number) => view().getBigUint64(pointer, true);
  const text = (pointer: number, length: number) => decoder.decode(bytes().subarray(pointer, pointer + length));

  type OpenArgs = [dirFd: number, path: string, oflags?: number, rights?: bigint, lookup?: number];
  const pathOpen = (...[dirFd, path, oflags = 0, rights = RIGHTS_READ | RIGHTS_WRITE, lookup = LOOKUP_FOLLOW]: OpenArgs) =>
    call('path_open', dirFd, lookup, PATH, put(PATH, path), oflags, rights, 0n, 0, RESULT);
  /** path_open on a file system that answers at once: the errno and the new fd. */
  const open = (...args: OpenArgs) => {
    const errno = pathOpen(...args);
    if (errno instanceof Promise) throw new Error('path_open waited: use openAsync');
    return { errno, fd: u32(RESULT) };
  };
  const openAsync = async (...args: OpenArgs) => {
    const errno = await pathOpen(...args);
    return { errno, fd: u32(RESULT) };
  };
  const write = (fd: number, ...parts: string[]) => call('fd_write', fd, IOVECS, iovecs(parts), RESULT);
  const pathCall = (name: string, dirFd: number, path: string) => call(name, dirFd, PATH, put(PATH, path));

  return { memory, call, put, iovecs, u8, u16, u32, u64, text, open, openAsync, write, pathCall, sleeps, yields: () => yields };
}

describe('wasi stdio', () => {
  it('fd_write gathers the iovecs into one write on stdout, and stderr apart', () => {
    const stdout = new CollectedOutput();
    const stderr = new CollectedOutput();
    const h = harness({ stdout, stderr });
    expect(h.write(1, 'hello, ', 'world', '\n')).toBe(Errno.SUCCESS);
    expect(h.u32(RESULT)).toBe(13);
    expect(h.write(2, 'oops\n')).toBe(Errno.SUCCESS);
    expect(stdout.text()).toBe('hello, world\n');
    expect(stderr.text()).toBe('oops\n');
  });

  it('fd_write on a back-pressured stream returns a Promise and reports the count after it', async () => {
    let release!: () => void;
    const chunks: string[] = [];
    const stdout = callbackOutput((bytes) => {
      chunks.push(decoder.decode(bytes));
      return new Promise<void>((resolve) => (release = resolve));
    });
    const h = harness({ stdout });
    h.put(RESULT, new Uint8Array(4));
    const result = h.write(1, 'slow');
    expect(result).toBeInstanceOf(Promise);
    expect(chunks).toEqual(['slow']);
    expect(h.u32(RESULT)).toBe(0); // not yet
    release();
    expect(await result).toBe(Errno.SUCCESS);
    expect(h.u32(RESULT)).toBe(4);
  });

  it('fd_read waits for stdin (a Promise), scatters over the iovecs, then reads 0 at the end', async () => {
    const stdin = new QueueInput();
    const h = harness({ stdin });
    const pending = h.call('fd_read', 0, IOVECS, h.iovecs([3, 10]), RESULT);
    expect(pending).toBeInstanceOf(Promise);
    stdin.push('abcdefg');
    stdin.end();
    expect(await pending).toBe(Errno.SUCCESS);
    expect(h.u32(RESULT)).toBe(7);
    expect(h.text(DATA, 3) + h.text(DATA + 3 + 16, 4)).toBe('abcdefg');
    expect(await h.call('fd_read', 0, IOVECS, h.iovecs([10]), RESULT)).toBe(Errno.SUCCESS);
    expect(h.u32(RESULT)).toBe(0);
  });

  it('refuses the wrong direction and seeking on streams', () => {
    const h = harness();
    expect(h.write(0, 'x')).toBe(Errno.BADF);
    expect(h.call('fd_read', 1, IOVECS, h.iovecs([4]), RESULT)).toBe(Errno.BADF);
    expect(h.call('fd_seek', 1, 0n, 0, RESULT)).toBe(Errno.SPIPE);
  });

  it('reports a terminal stream as a character device without seek rights, any other of no known type', () => {
    const h = harness({ stdout: { terminal: false, write: () => {} }, stdin: new QueueInput('', { end: true }) });
    expect(h.call('fd_fdstat_get', 0, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u8(RESULT)).toBe(2); // character device: a stream that does not say is a terminal
    expect(h.u64(RESULT + 8) & (1n << 2n)).toBe(0n); // no FD_SEEK: wasi-libc's isatty is 1, stdout line-buffered
    expect(h.call('fd_fdstat_get', 1, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u8(RESULT)).toBe(0); // unknown: isatty is 0
    expect(h.u64(RESULT + 8) & RIGHTS_WRITE).toBe(RIGHTS_WRITE);
    expect(h.call('fd_filestat_get', 1, BUFFER)).toBe(Errno.SUCCESS);
    expect(h.u8(BUFFER + 16)).toBe(0);
    expect(h.call('fd_filestat_get', 0, BUFFER)).toBe(Errno.SUCCESS);
    expect(h.u8(BUFFER + 16)).toBe(2);
  });

  it("Node's streams say whether they are terminals", () => {
    expect(new NodeOutput(new PassThrough()).terminal).toBe(false);
    expect(new NodeOutput(Object.assign(new PassThrough(), { isTTY: true })).terminal).toBe(true);
    expect(new NodeInput(new PassThrough()).terminal).toBe(false);
    expect(new NodeInput(new PassThrough(), true).terminal).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'wasi-fd-'));
    const fd = openSync(join(dir, 'out.txt'), 'w');
    try {
      expect(new FdOutput(fd).terminal).toBe(false);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('wasi process calls', () => {
  it('args and environ: sizes, pointers and NUL-terminated strings', () => {
    const h = harness({ args: ['prog', 'two words', 'é'], env: { HOME: '/home/x', EMPTY: '' } });
    expect(h.call('args_sizes_get', RESULT, RESULT + 4)).toBe(Errno.SUCCESS);
    expect([h.u32(RESULT), h.u32(RESULT + 4)]).toEqual([3, 5 + 10 + 3]);
    expect(h.call('args_get', IOVECS, BUFFER)).toBe(Errno.SUCCESS);
    const arg = (i: number, length: number) => h.text(h.u32(IOVECS + 4 * i), length);
    expect([arg(0, 5), arg(1, 10), arg(2, 3)]).toEqual(['prog\0', 'two words\0', 'é\0']);
    expect(h.call('environ_sizes_get', RESULT, RESULT + 4)).toBe(Errno.SUCCESS);
    expect([h.u32(RESULT), h.u32(RESULT + 4)]).toEqual([2, 13 + 7]);
    expect(h.call('environ_get', IOVECS, BUFFER)).toBe(Errno.SUCCESS);
    expect(h.text(BUFFER, 20)).toBe('HOME=/home/x\0EMPTY=\0');
  });

  it('clock_time_get reads the given clock; an unknown clock is EINVAL', () => {
    const h = harness();
    expect(h.call('clock_time_get', 1, 0n, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u64(RESULT)).toBe(5_000_000_000n);
    expect(h.call('clock_time_get', 0, 0n, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u64(RESULT)).toBe(1_700_000_005_000_000_000n);
    expect(h.call('clock_time_get', 9, 0n, RESULT)).toBe(Errno.INVAL);
    expect(h.call('clock_res_get', 1, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u64(RESULT)).toBeGreaterThan(0n);
  });

  it('random_get fills the buffer from the random source', () => {
    const h = harness({ random: (buffer) => buffer.fill(0xab) });
    expect(h.call('random_get', BUFFER, 5)).toBe(Errno.SUCCESS);
    expect([...new Uint8Array(h.memory.buffer, BUFFER, 6)]).toEqual([0xab, 0xab, 0xab, 0xab, 0xab, 0]);
    const real = harness();
    real.memory.grow(1);
    expect(real.call('random_get', BUFFER, 70_000)).toBe(Errno.SUCCESS); // more than one getRandomValues call
    expect(new Set(new Uint8Array(real.memory.buffer, BUFFER, 70_000)).size).toBeGreaterThan(200);
  });

  it('proc_exit throws ProcessExit with the code; sched_yield yields through the context', async () => {
    const h = harness();
    expect(() => h.call('proc_exit', 3)).toThrow(ProcessExit);
    try {
      h.call('proc_exit', 7);
    } catch (error) {
      expect((error as ProcessExit).code).toBe(7);
    }
    expect(await h.call('sched_yield')).toBe(Errno.SUCCESS);
    expect(h.yields()).toBe(1);
  });

  it('a pointer outside memory is EFAULT, not a host exception', () => {
    const h = harness({ args: ['a'] });
    expect(h.call('args_sizes_get', 65536 * 4, 0)).toBe(Errno.FAULT);
    expect(h.call('fd_write', 1, -8, 1, RESULT)).toBe(Errno.FAULT);
    expect(h.call('clock_time_get', 1, 0n, 65534)).toBe(Errno.FAULT);
  });

  it('provides every preview1 function; the unimplemented ones return ENOSYS (52)', () => {
    const namespace = importsOf(wasiPreview1({ args: [], env: {}, preopens: [] }), { pid: 1 } as ProcessContext).wasi_snapshot_preview1!;
    expect(Object.keys(namespace).sort()).toEqual([...PREVIEW1_FUNCTIONS].sort());
    expect(PREVIEW1_FUNCTIONS).toHaveLength(46);
    for (const name of ['fd_fdstat_set_rights', 'path_symlink', 'path_link', 'sock_accept', 'sock_recv', 'proc_raise']) {
      expect(namespace[name]!(0, 0, 0, 0), name).toBe(52);
    }
  });
});

describe('wasi sandbox', () => {
  const sandboxed = () => {
    const dir = new MemoryDirectory({ 'a.txt': 'alpha', sub: { 'b.txt': 'beta' } });
    return { dir, h: harness({ preopens: [{ guestPath: '/sandbox', dir }] }) };
  };

  it('names the preopen at fd 3 and answers EBADF after it (how wasi-libc finds preopens)', () => {
    const { h } = sandboxed();
    expect(h.call('fd_prestat_get', 3, RESULT)).toBe(Errno.SUCCESS);
    expect([h.u8(RESULT), h.u32(RESULT + 4)]).toEqual([0, 8]);
    expect(h.call('fd_prestat_dir_name', 3, BUFFER, 8)).toBe(Errno.SUCCESS);
    expect(h.text(BUFFER, 8)).toBe('/sandbox');
    expect(h.call('fd_prestat_dir_name', 3, BUFFER, 4)).toBe(Errno.NAMETOOLONG);
    expect(h.call('fd_prestat_get', 4, RESULT)).toBe(Errno.BADF);
    expect(h.call('fd_prestat_get', 1, RESULT)).toBe(Errno.BADF);
  });

  it('refuses absolute paths and .. that climbs out with ENOTCAPABLE (76)', () => {
    const { h } = sandboxed();
    for (const path of ['../x', '/etc/passwd', 'sub/../../a.txt', '..', 'sub/../../../etc/passwd']) {
      expect(h.open(3, path).errno, path).toBe(Errno.NOTCAPABLE);
    }
    expect(h.pathCall('path_create_directory', 3, '../made')).toBe(Errno.NOTCAPABLE);
    expect(h.pathCall('path_unlink_file', 3, '/a.txt')).toBe(Errno.NOTCAPABLE);
    expect(h.open(3, 'sub/../a.txt').errno).toBe(Errno.SUCCESS); // stays inside
  });

  it('a directory opened from the preopen is a sandbox of its own', () => {
    const { h } = sandboxed();
    const sub = h.open(3, 'sub', O_DIRECTORY, RIGHTS_READ);
    expect(sub.errno).toBe(Errno.SUCCESS);
    expect(h.open(sub.fd, 'b.txt').errno).toBe(Errno.SUCCESS);
    expect(h.open(sub.fd, '../a.txt').errno).toBe(Errno.NOTCAPABLE);
  });

  it('without preopens there is no file system at all', () => {
    const h = harness();
    expect(h.open(3, 'a.txt').errno).toBe(Errno.BADF);
    expect(h.open(1, 'a.txt').errno).toBe(Errno.NOTDIR); // stdout is no directory
    expect(h.call('fd_prestat_get', 3, RESULT)).toBe(Errno.BADF);
    expect(h.pathCall('path_create_directory', 3, 'x')).toBe(Errno.BADF);
  });

  it('an open takes the lowest free number, as POSIX says; a closed or forged fd is EBADF', () => {
    const { h } = sandboxed();
    const first = h.open(3, 'a.txt');
    const second = h.open(3, 'sub/b.txt');
    expect([first.fd, second.fd]).toEqual([4, 5]);
    expect(h.call('fd_close', first.fd)).toBe(Errno.SUCCESS);
    expect(h.call('fd_read', first.fd, IOVECS, h.iovecs([4]), RESULT)).toBe(Errno.BADF);
    expect(h.call('fd_close', first.fd)).toBe(Errno.BADF);
    expect(h.call('fd_close', 1)).toBe(Errno.SUCCESS); // stdout closed...
    expect(h.open(3, 'a.txt').fd).toBe(1); // ...and the next open is the new stdout
    expect(h.write(1, 'x')).toBe(Errno.SUCCESS);
    expect(h.open(3, 'a.txt').fd).toBe(4);
    expect(h.open(3, 'a.txt').fd).toBe(6);
    expect(h.call('fd_renumber', 6, 6)).toBe(Errno.SUCCESS); // dup2 onto itself changes nothing
    expect(h.call('fd_read', 6, IOVECS, h.iovecs([5]), RESULT)).toBe(Errno.SUCCESS);
    expect(h.text(DATA, h.u32(RESULT))).toBe('xlpha'); // the write to fd 1 went into the file
    expect(h.call('fd_renumber', 6, 4)).toBe(Errno.SUCCESS); // 6 replaces 4, and is free again
    expect(h.open(3, 'a.txt').fd).toBe(6);
    for (const forged of [99, 0x7fffffff, -1]) expect(h.write(forged, 'x'), String(forged)).toBe(Errno.BADF);
  });
});

describe('wasi files on the in-memory file system', () => {
  it('create, write, seek, read, stat, truncate through the calls; the bytes land in the file system', () => {
    const dir = new MemoryDirectory();
    const h = harness({ preopens: [{ guestPath: '.', dir }] });
    const file = h.open(3, 'notes.txt', O_CREAT | O_EXCL);
    expect(file.errno).toBe(Errno.SUCCESS);
    expect(h.open(3, 'notes.txt', O_CREAT | O_EXCL).errno).toBe(Errno.EXIST);
    expect(h.write(file.fd, 'hello ', 'files')).toBe(Errno.SUCCESS);
    expect(decoder.decode(dir.readFile('notes.txt'))).toBe('hello files');

    expect(h.call('fd_seek', file.fd, -5n, 2, RESULT)).toBe(Errno.SUCCESS); // from the end
    expect(h.u64(RESULT)).toBe(6n);
    expect(h.call('fd_read', file.fd, IOVECS, h.iovecs([64]), RESULT)).toBe(Errno.SUCCESS);
    expect(h.text(DATA, h.u32(RESULT))).toBe('files');
    expect(h.call('fd_tell', file.fd, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u64(RESULT)).toBe(11n);
    expect(h.call('fd_seek', file.fd, -1n, 0, RESULT)).toBe(Errno.INVAL);

    expect(h.call('fd_pread', file.fd, IOVECS, h.iovecs([4]), 1n, RESULT)).toBe(Errno.SUCCESS);
    expect(h.text(DATA, 4)).toBe('ello');
    h.iovecs(['J']);
    expect(h.call('fd_pwrite', file.fd, IOVECS, 1, 0n, RESULT)).toBe(Errno.SUCCESS);
    expect(decoder.decode(dir.readFile('notes.txt'))).toBe('Jello files');

    expect(h.call('fd_filestat_get', file.fd, BUFFER)).toBe(Errno.SUCCESS);
    expect([h.u8(BUFFER + 16), h.u64(BUFFER + 32)]).toEqual([4, 11n]);
    expect(h.call('fd_filestat_set_size', file.fd, 5n)).toBe(Errno.SUCCESS);
    expect(decoder.decode(dir.readFile('notes.txt'))).toBe('Jello');
    expect(h.call('fd_sync', file.fd)).toBe(Errno.SUCCESS);
  });

  it('read-only and append descriptors behave as opened', () => {
    const dir = new MemoryDirectory({ 'log.txt': 'one\n' });
    const h = harness({ preopens: [{ guestPath: '.', dir }] });
    const readOnly = h.open(3, 'log.txt', 0, RIGHTS_READ);
    expect(h.write(readOnly.fd, 'x')).toBe(Errno.BADF);
    const length = h.put(PATH, 'log.txt');
    expect(h.call('path_open', 3, 1, PATH, length, 0, RIGHTS_WRITE, 0n, 1 /* APPEND */, RESULT)).toBe(Errno.SUCCESS);
    const appender = h.u32(RESULT);
    expect(h.write(appender, 'two\n')).toBe(Errno.SUCCESS);
    expect(h.call('fd_tell', appender, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u64(RESULT)).toBe(8n);
    expect(decoder.decode(dir.readFile('log.txt'))).toBe('one\ntwo\n');
    expect(h.call('fd_fdstat_get', appender, BUFFER)).toBe(Errno.SUCCESS);
    expect(h.u16(BUFFER + 2)).toBe(1); // APPEND
    expect(h.u64(BUFFER + 8) & RIGHTS_READ).toBe(0n);
  });

  it('times by descriptor and by path: each alone, "now", and both given and "now" is EINVAL', () => {
    const dir = new MemoryDirectory({ 't.txt': 'x' });
    const h = harness({ preopens: [{ guestPath: '.', dir }] });
    const { fd } = h.open(3, 't.txt');
    const ATIM = 1;
    const ATIM_NOW = 2;
    const MTIM = 4;
    const MTIM_NOW = 8;
    const stat = () => {
      expect(h.call('fd_filestat_get', fd, BUFFER)).toBe(Errno.SUCCESS);
      return { atime: h.u64(BUFFER + 40), mtime: h.u64(BUFFER + 48) };
    };
    expect(h.call('fd_filestat_set_times', fd, 5n, 7n, ATIM | MTIM)).toBe(Errno.SUCCESS);
    expect(stat()).toEqual({ atime: 5n, mtime: 7n });
    expect(h.call('fd_filestat_set_times', fd, 0n, 9n, MTIM)).toBe(Errno.SUCCESS);
    expect(stat()).toEqual({ atime: 5n, mtime: 9n });
    const length = h.put(PATH, 't.txt');
    expect(h.call('path_filestat_set_times', 3, LOOKUP_FOLLOW, PATH, length, 11n, 0n, ATIM)).toBe(Errno.SUCCESS);
    expect(stat()).toEqual({ atime: 11n, mtime: 9n });
    const before = BigInt(Date.now()) * 1_000_000n;
    expect(h.call('fd_filestat_set_times', fd, 0n, 0n, MTIM_NOW)).toBe(Errno.SUCCESS);
    expect(stat().atime).toBe(11n);
    expect(stat().mtime).toBeGreaterThanOrEqual(before);
    expect(h.call('fd_filestat_set_times', fd, 1n, 0n, ATIM | ATIM_NOW)).toBe(Errno.INVAL);
    expect(h.call('fd_filestat_set_times', 1, 1n, 1n, ATIM | MTIM)).toBe(Errno.BADF); // stdout is no file
  });

  it('fcntl flags: O_APPEND on and off; non-blocking stdio and synchronized writes are ENOTSUP', () => {
    const dir = new MemoryDirectory({ 'log.txt': 'one\n' });
    const h = harness({ preopens: [{ guestPath: '.', dir }] });
    const { fd } = h.open(3, 'log.txt');
    const [APPEND, DSYNC, NONBLOCK] = [1, 2, 4];
    expect(h.call('fd_fdstat_set_flags', fd, APPEND)).toBe(Errno.SUCCESS);
    expect(h.call('fd_fdstat_get', fd, BUFFER)).toBe(Errno.SUCCESS);
    expect(h.u16(BUFFER + 2)).toBe(APPEND);
    expect(h.write(fd, 'two\n')).toBe(Errno.SUCCESS); // at the end, though the position was 0
    expect(h.call('fd_fdstat_set_flags', fd, NONBLOCK)).toBe(Errno.SUCCESS); // append off; nothing else for a file
    expect(h.call('fd_seek', fd, 0n, 0, RESULT)).toBe(Errno.SUCCESS);
    expect(h.write(fd, 'ONE\n')).toBe(Errno.SUCCESS);
    expect(decoder.decode(dir.readFile('log.txt'))).toBe('ONE\ntwo\n');
    expect(h.call('fd_fdstat_set_flags', fd, DSYNC)).toBe(Errno.NOTSUP);
    expect(h.call('fd_fdstat_set_flags', 0, NONBLOCK)).toBe(Errno.NOTSUP);
    expect(h.call('fd_fdstat_set_flags', 1, APPEND)).toBe(Errno.SUCCESS);
  });

  it('posix_fadvise is accepted on files and ESPIPE on streams; posix_fallocate grows a file, never shrinks it', () => {
    const dir = new MemoryDirectory({ 'data.bin': 'abcdef' });
    const h = harness({ preopens: [{ guestPath: '.', dir }] });
    const { fd } = h.open(3, 'data.bin');
    expect(h.call('fd_advise', fd, 0n, 0n, 2)).toBe(Errno.SUCCESS);
    expect(h.call('fd_advise', fd, 0n, 0n, 6)).toBe(Errno.INVAL);
    expect(h.call('fd_advise', 1, 0n, 0n, 0)).toBe(Errno.SPIPE);
    expect(h.call('fd_allocate', fd, 2n, 2n)).toBe(Errno.SUCCESS);
    expect(dir.readFile('data.bin')).toHaveLength(6);
    expect(h.call('fd_allocate', fd, 4n, 12n)).toBe(Errno.SUCCESS);
    expect(dir.readFile('data.bin')).toEqual(new Uint8Array([...encoder.encode('abcdef'), ...new Uint8Array(10)]));
    const readOnly = h.open(3, 'data.bin', 0, RIGHTS_READ);
    expect(h.call('fd_allocate', readOnly.fd, 0n, 100n)).toBe(Errno.BADF);
  });

  it('directories: create, list with fd_readdir (paged), rename, unlink, remove', () => {
    const dir = new MemoryDirectory({ 'z.txt': 'z' });
    const h = harness({ preopens: [{ guestPath: '.', dir }] });
    expect(h.pathCall('path_create_directory', 3, 'sub')).toBe(Errno.SUCCESS);
    expect(h.pathCall('path_create_directory', 3, 'sub')).toBe(Errno.EXIST);
    expect(h.open(3, 'sub/inner.txt', O_CREAT).errno).toBe(Errno.SUCCESS);
    expect(h.pathCall('path_remove_directory', 3, 'sub')).toBe(Errno.NOTEMPTY);
    expect(h.pathCall('path_unlink_file', 3, 'sub')).toBe(Errno.ISDIR);

    const names = readdirNames(h, 3, 40); // a small buffer: several calls, entries cut short
    expect(names).toEqual(['.', '..', 'sub', 'z.txt']);

    const from = h.put(PATH, 'z.txt');
    const to = h.put(PATH + 64, 'sub/moved.txt');
    expect(h.call('path_rename', 3, PATH, from, 3, PATH + 64, to)).toBe(Errno.SUCCESS);
    expect(decoder.decode(dir.readFile('sub/moved.txt'))).toBe('z');
    expect(h.pathCall('path_unlink_file', 3, 'sub/moved.txt')).toBe(Errno.SUCCESS);
    expect(h.pathCall('path_unlink_file', 3, 'sub/inner.txt')).toBe(Errno.SUCCESS);
    expect(h.pathCall('path_remove_directory', 3, 'sub')).toBe(Errno.SUCCESS);
    expect(readdirNames(h, 3, 4096)).toEqual(['.', '..']);

    const statPath = h.put(PATH, 'nothing');
    expect(h.call('path_filestat_get', 3, 1, PATH, statPath, BUFFER)).toBe(Errno.NOENT);
    expect(h.call('path_readlink', 3, PATH, h.put(PATH, '.'), BUFFER, 64, RESULT)).toBe(Errno.INVAL);
  });
});

/**
 * `dir` whose files answer reads only when the test says so: each read waits in `pending`, with
 * the buffer the WASI layer handed it, until `finish()`.
 */
function withHeldReads(dir: MemoryDirectory) {
  const pending: { into: Uint8Array; finish: () => void }[] = [];
  const bound = <T extends object>(target: T, key: string | symbol) => {
    const value = Reflect.get(target, key) as unknown;
    return typeof value === 'function' ? value.bind(target) : value;
  };
  const heldFile = (file: File) =>
    new Proxy(file, {
      get: (target, key) =>
        key === 'read'
          ? (into: Uint8Array, position: bigint) =>
              new Promise<number>((resolve) => pending.push({ into, finish: () => resolve(target.read(into, position) as number) }))
          : bound(target, key),
    });
  const held = new Proxy(dir, {
    get: (target, key) =>
      key === 'open'
        ? (path: string, options: OpenOptions) => {
            const opened = target.open(path, options);
            return opened.kind === 'file' ? heldFile(opened) : opened;
          }
        : bound(target, key),
  });
  return { dir: held as Directory, pending };
}

describe('wasi reads on a file system that answers later', () => {
  it('reads in flight at once each fill their own buffer; a finished one is reused', async () => {
    const files = withHeldReads(new MemoryDirectory({ 'a.txt': 'the first file', 'b.txt': 'and the second one' }));
    const h = harness({ preopens: [{ guestPath: '.', dir: files.dir }] });
    const a = h.open(3, 'a.txt', 0, RIGHTS_READ).fd;
    const b = h.open(3, 'b.txt', 0, RIGHTS_READ).fd;
    const iovec = (at: number, pointer: number, length: number) => {
      const entry = new DataView(new ArrayBuffer(8));
      entry.setUint32(0, pointer, true);
      entry.setUint32(4, length, true);
      h.put(at, new Uint8Array(entry.buffer));
    };
    iovec(IOVECS, DATA, 64);
    iovec(IOVECS + 8, DATA + 64, 64);
    const readA = h.call('fd_read', a, IOVECS, 1, RESULT) as Promise<number>;
    const readB = h.call('fd_read', b, IOVECS + 8, 1, RESULT + 4) as Promise<number>;
    expect(files.pending).toHaveLength(2);
    const [first, second] = files.pending;
    expect(first!.into.buffer).not.toBe(second!.into.buffer);
    second!.finish(); // b lands before a
    first!.finish();
    expect(await Promise.all([readA, readB])).toEqual([Errno.SUCCESS, Errno.SUCCESS]);
    expect(h.text(DATA, h.u32(RESULT))).toBe('the first file');
    expect(h.text(DATA + 64, h.u32(RESULT + 4))).toBe('and the second one');

    const again = h.call('fd_pread', b, IOVECS, 1, 4n, RESULT) as Promise<number>;
    expect([first!.into.buffer, second!.into.buffer]).toContain(files.pending[2]!.into.buffer);
    files.pending[2]!.finish();
    expect(await again).toBe(Errno.SUCCESS);
    expect(h.text(DATA, h.u32(RESULT))).toBe('the second one');
  });
});

/** Lists a directory fd the way wasi-libc does: fd_readdir from a cookie, growing past cut entries. */
function readdirNames(h: ReturnType<typeof harness>, fd: number, bufferSize: number): string[] {
  const names: string[] = [];
  let cookie = 0n;
  for (;;) {
    expect(h.call('fd_readdir', fd, BUFFER, bufferSize, cookie, RESULT)).toBe(Errno.SUCCESS);
    const used = h.u32(RESULT);
    let at = 0;
    let progressed = false;
    while (at + 24 <= used) {
      const nameLength = h.u32(BUFFER + at + 16);
      if (at + 24 + nameLength > used) break; // cut short: ask again from its cookie
      expect(h.u64(BUFFER + at + 8)).not.toBe(0n); // d_ino: old code skips 0 as deleted
      names.push(h.text(BUFFER + at + 24, nameLength));
      cookie = h.u64(BUFFER + at);
      at += 24 + nameLength;
      progressed = true;
    }
    if (used < bufferSize) return names;
    expect(progressed).toBe(true);
  }
}

describe('wasi poll_oneoff', () => {
  const SUB = BUFFER;
  const EVENTS = BUFFER + 0x400;
  function subscribe(
    h: ReturnType<typeof harness>,
    index: number,
    userdata: bigint,
    fields: { clockNs?: bigint; absolute?: boolean; readFd?: number; writeFd?: number },
  ) {
    const at = SUB + index * 48;
    const view = new DataView(h.memory.buffer);
    new Uint8Array(h.memory.buffer, at, 48).fill(0);
    view.setBigUint64(at, userdata, true);
    if (fields.clockNs !== undefined) {
      view.setUint8(at + 8, 0);
      view.setUint32(at + 16, 1, true); // monotonic
      view.setBigUint64(at + 24, fields.clockNs, true);
      view.setUint16(at + 40, fields.absolute ? 1 : 0, true);
    } else {
      view.setUint8(at + 8, fields.readFd !== undefined ? 1 : 2);
      view.setUint32(at + 16, fields.readFd ?? fields.writeFd!, true);
    }
  }
  const event = (h: ReturnType<typeof harness>, i: number) => ({
    userdata: h.u64(EVENTS + i * 32),
    error: h.u16(EVENTS + i * 32 + 8),
    type: h.u8(EVENTS + i * 32 + 10),
    nbytes: h.u64(EVENTS + i * 32 + 16),
    flags: h.u16(EVENTS + i * 32 + 24),
  });

  it('a relative clock subscription sleeps through the context for its (rounded up) time', async () => {
    const h = harness();
    subscribe(h, 0, 42n, { clockNs: 25_500_000n });
    const result = h.call('poll_oneoff', SUB, EVENTS, 1, RESULT);
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(Errno.SUCCESS);
    expect(h.sleeps).toEqual([26]);
    expect(h.u32(RESULT)).toBe(1);
    expect(event(h, 0)).toEqual({ userdata: 42n, error: 0, type: 0, nbytes: 0n, flags: 0 });
  });

  it('an absolute deadline counts from now; one already past answers at once', async () => {
    const h = harness();
    subscribe(h, 0, 1n, { clockNs: 5_000_000_000n + 10_000_000n, absolute: true });
    expect(await h.call('poll_oneoff', SUB, EVENTS, 1, RESULT)).toBe(Errno.SUCCESS);
    expect(h.sleeps).toEqual([10]);
    subscribe(h, 0, 2n, { clockNs: 0n });
    expect(h.call('poll_oneoff', SUB, EVENTS, 1, RESULT)).toBe(Errno.SUCCESS); // no Promise
    expect(event(h, 0).userdata).toBe(2n);
  });

  it('waits for stdin to become readable, before the clock; reports the end as a hang-up', async () => {
    const stdin = new QueueInput();
    const h = harness({ stdin });
    subscribe(h, 0, 7n, { readFd: 0 });
    subscribe(h, 1, 8n, { clockNs: 60_000_000_000n });
    const result = h.call('poll_oneoff', SUB, EVENTS, 2, RESULT);
    stdin.push('12345');
    expect(await result).toBe(Errno.SUCCESS);
    expect(h.u32(RESULT)).toBe(1);
    expect(event(h, 0)).toMatchObject({ userdata: 7n, type: 1, nbytes: 5n, flags: 0 });
    expect(await h.call('fd_read', 0, IOVECS, h.iovecs([16]), RESULT)).toBe(Errno.SUCCESS);
    stdin.end();
    expect(await h.call('poll_oneoff', SUB, EVENTS, 1, RESULT)).toBe(Errno.SUCCESS);
    expect(event(h, 0)).toMatchObject({ userdata: 7n, type: 1, nbytes: 0n, flags: 1 });
  });

  it('stdout is writable at once; a bad fd is an event with EBADF; no subscriptions is EINVAL', () => {
    const h = harness();
    subscribe(h, 0, 1n, { writeFd: 1 });
    subscribe(h, 1, 2n, { readFd: 77 });
    expect(h.call('poll_oneoff', SUB, EVENTS, 2, RESULT)).toBe(Errno.SUCCESS);
    expect(h.u32(RESULT)).toBe(2);
    expect([event(h, 0).error, event(h, 0).type, event(h, 1).error]).toEqual([0, 2, Errno.BADF]);
    expect(h.call('poll_oneoff', SUB, EVENTS, 0, RESULT)).toBe(Errno.INVAL);
  });
});

describe("wasi on Node's file system", () => {
  let base: string;
  let root: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'wasi-node-fs-'));
    root = join(base, 'root');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(base, 'secret.txt'), 'outside');
    writeFileSync(join(root, 'inside.txt'), 'inside');
    symlinkSync('/etc/passwd', join(root, 'to-etc-passwd'));
    symlinkSync('/etc', join(root, 'to-etc'));
    symlinkSync('../secret.txt', join(root, 'to-secret'));
    symlinkSync('../../secret.txt', join(root, 'sub', 'up-twice'));
    symlinkSync('../inside.txt', join(root, 'sub', 'to-inside'));
    symlinkSync('nowhere/at/all', join(root, 'dangling'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const sandboxed = async () => harness({ preopens: [{ guestPath: '/data', dir: await nodeDirectory(root) }] });

  it('symbolic links leading out are ENOTCAPABLE for every call that follows them', async () => {
    const h = await sandboxed();
    for (const path of ['to-etc-passwd', 'to-etc/passwd', 'to-etc', 'to-secret', 'sub/up-twice', 'dangling']) {
      expect((await h.openAsync(3, path, 0, RIGHTS_READ)).errno, path).toBe(Errno.NOTCAPABLE);
      expect(await h.call('path_filestat_get', 3, LOOKUP_FOLLOW, PATH, h.put(PATH, path), BUFFER), path).toBe(Errno.NOTCAPABLE);
    }
    expect((await h.openAsync(3, 'to-etc/evil.txt', O_CREAT)).errno).toBe(Errno.NOTCAPABLE);
    expect(await h.pathCall('path_create_directory', 3, 'to-etc/made')).toBe(Errno.NOTCAPABLE);
    expect((await h.openAsync(3, '../secret.txt')).errno).toBe(Errno.NOTCAPABLE);
    expect((await h.openAsync(3, '/etc/passwd')).errno).toBe(Errno.NOTCAPABLE);
    expect(readFileSync(join(base, 'secret.txt'), 'utf8')).toBe('outside');
  });

  it('links that stay inside work; a link itself is not followed without the lookup flag', async () => {
    const h = await sandboxed();
    const file = await h.openAsync(3, 'sub/to-inside', 0, RIGHTS_READ);
    expect(file.errno).toBe(Errno.SUCCESS);
    expect(await h.call('fd_read', file.fd, IOVECS, h.iovecs([32]), RESULT)).toBe(Errno.SUCCESS);
    expect(h.text(DATA, h.u32(RESULT))).toBe('inside');
    expect(await h.call('path_filestat_get', 3, 0, PATH, h.put(PATH, 'to-secret'), BUFFER)).toBe(Errno.SUCCESS);
    expect(h.u8(BUFFER + 16)).toBe(7); // the link itself
    expect((await h.openAsync(3, 'sub/to-inside', 0, RIGHTS_READ, 0)).errno).toBe(Errno.LOOP);
    const text = h.call('path_readlink', 3, PATH, h.put(PATH, 'sub/to-inside'), BUFFER, 64, RESULT);
    expect(await text).toBe(Errno.SUCCESS);
    expect(h.text(BUFFER, h.u32(RESULT))).toBe('../inside.txt');
  });

  it('small reads and writes of a regular file answer at once; large ones, and a FIFO, wait', async () => {
    const h = await sandboxed();
    const file = await h.openAsync(3, 'sub/small.txt', O_CREAT);
    expect(file.errno).toBe(Errno.SUCCESS);
    expect(h.write(file.fd, 'at ', 'once')).toBe(Errno.SUCCESS); // a number, not a Promise: no suspension
    expect(readFileSync(join(root, 'sub', 'small.txt'), 'utf8')).toBe('at once');
    expect(h.call('fd_pread', file.fd, IOVECS, h.iovecs([4]), 3n, RESULT)).toBe(Errno.SUCCESS);
    expect(h.text(DATA, h.u32(RESULT))).toBe('once');
    h.memory.grow(2);
    const large = h.call('fd_write', file.fd, IOVECS, h.iovecs([100_000]), RESULT);
    expect(large).toBeInstanceOf(Promise);
    expect(await large).toBe(Errno.SUCCESS);
    expect(h.u32(RESULT)).toBe(100_000);

    execFileSync('mkfifo', [join(root, 'sub', 'fifo')]);
    const fifo = await h.openAsync(3, 'sub/fifo', 0, RIGHTS_READ | RIGHTS_WRITE); // read and write: opens at once
    expect(fifo.errno).toBe(Errno.SUCCESS);
    const written = h.write(fifo.fd, 'x');
    expect(written).toBeInstanceOf(Promise);
    expect(await written).toBe(Errno.SUCCESS);
    const read = h.call('fd_read', fifo.fd, IOVECS, h.iovecs([1]), RESULT);
    expect(read).toBeInstanceOf(Promise);
    expect(await read).toBe(Errno.SUCCESS);
    expect(h.text(DATA, h.u32(RESULT))).toBe('x');
  });

  it('file calls return Promises and reach the host files', async () => {
    const h = await sandboxed();
    const opening = h.call('path_open', 3, LOOKUP_FOLLOW, PATH, h.put(PATH, 'sub/new.txt'), O_CREAT, RIGHTS_WRITE, 0n, 0, RESULT);
    expect(opening).toBeInstanceOf(Promise);
    expect(await opening).toBe(Errno.SUCCESS);
    const file = { fd: h.u32(RESULT) };
    expect(await h.write(file.fd, 'written ', 'by wasi')).toBe(Errno.SUCCESS);
    expect(readFileSync(join(root, 'sub', 'new.txt'), 'utf8')).toBe('written by wasi');
    expect(await h.call('fd_filestat_get', file.fd, BUFFER)).toBe(Errno.SUCCESS);
    expect(h.u64(BUFFER + 32)).toBe(15n);
    expect(await h.pathCall('path_unlink_file', 3, 'sub/new.txt')).toBe(Errno.SUCCESS);
    expect(await h.pathCall('path_unlink_file', 3, 'sub/new.txt')).toBe(Errno.NOENT);
    expect(await h.pathCall('path_remove_directory', 3, 'inside.txt')).toBe(Errno.NOTDIR);
  });
});
