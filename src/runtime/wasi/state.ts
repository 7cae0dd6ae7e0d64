// What the WASI host module is given (WasiOptions) and what its calls share for one process
// (WasiState): the memory, the descriptor table, clocks and randomness.
import type { InputStream, OutputStream, ProcessContext } from '../types.js';
import type { DescriptorTable } from './descriptors.js';
import type { Directory } from './fs.js';
import type { GuestMemory } from './memory.js';
import type { Steps } from './steps.js';

export interface Clock {
  /** Wall-clock time, in nanoseconds since the epoch. */
  now(): bigint;
  /** A clock that never goes back, in nanoseconds from an arbitrary start. */
  monotonic(): bigint;
}

export interface WasiOptions {
  /** argv, argv[0] included. */
  args: string[];
  env: Record<string, string>;
  /** Directories the program may use, under the names it sees. No preopens: no file system. */
  preopens: { guestPath: string; dir: Directory }[];
  /** Default: an empty stdin. */
  stdin?: InputStream;
  /** Default: output is dropped. */
  stdout?: OutputStream;
  stderr?: OutputStream;
  clock?: Clock;
  random?: (buffer: Uint8Array) => void;
}

/** What one process has of its own: made at spawn, plain data (the calls are made once per instance). */
export interface WasiProcess {
  readonly fds: DescriptorTable;
  readonly clock: Clock;
  readonly random: (buffer: Uint8Array) => void;
  /** argv and environ as the program gets them: UTF-8, each ending in NUL. */
  readonly args: Uint8Array[];
  readonly environ: Uint8Array[];
  /** When the process started, on `clock.monotonic()` (its CPU-time clocks). */
  readonly started: bigint;
}

/** What the calls of one instance see: its memory, and the process it runs now. */
export interface WasiState extends WasiProcess {
  readonly ctx: ProcessContext;
  readonly memory: GuestMemory;
}

/** A WASI call: wasm arguments in (i32 as number, i64 as bigint), an errno out. */
export type WasiCall = (...args: any[]) => Steps<number>;
export type WasiCalls = Record<string, WasiCall>;
