// The calls about the process rather than its files: argv, environment, clocks, randomness,
// exit and yielding the processor.
import { ProcessExit } from '../types.js';
import { ClockId } from './abi.js';
import { Errno, WasiError } from './errno.js';
import type { GuestMemory } from './memory.js';
import type { Clock, WasiCalls, WasiState } from './state.js';
import { wait } from './steps.js';

/** What clock_res_get reports: timers here are not finer than a microsecond. */
const RESOLUTION_NS = 1000n;
/** crypto.getRandomValues takes at most this many bytes at once. */
const RANDOM_CHUNK = 65536;

/** The default clock: performance.now() (monotonic) and the wall clock derived from it. */
export const performanceClock: Clock = {
  now: () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n,
  monotonic: () => BigInt(Math.round(performance.now() * 1e6)),
};

export function cryptoRandom(buffer: Uint8Array): void {
  for (let at = 0; at < buffer.length; at += RANDOM_CHUNK) crypto.getRandomValues(buffer.subarray(at, at + RANDOM_CHUNK));
}

/** Reads the clock `id`; the CPU-time clocks are the process's monotonic time since it started. */
/** Clock `id` of the process: its CPU-time clocks count from when it started. */
export function readClock({ clock, started }: Pick<WasiState, 'clock' | 'started'>, id: number): bigint {
  switch (id) {
    case ClockId.REALTIME:
      return clock.now();
    case ClockId.MONOTONIC:
      return clock.monotonic();
    case ClockId.PROCESS_CPUTIME:
    case ClockId.THREAD_CPUTIME:
      return clock.monotonic() - started;
    default:
      throw new WasiError(Errno.INVAL, `unknown clock ${id}`);
  }
}

/** args_sizes_get/environ_sizes_get: the count and the total size of NUL-terminated strings. */
function writeSizes(memory: GuestMemory, strings: Uint8Array[], countPointer: number, sizePointer: number): number {
  memory.setU32(countPointer, strings.length);
  memory.setU32(
    sizePointer,
    strings.reduce((sum, s) => sum + s.length, 0),
  );
  return Errno.SUCCESS;
}

/** args_get/environ_get: the pointer array and the strings back to back in the buffer. */
function writeStrings(memory: GuestMemory, strings: Uint8Array[], pointers: number, buffer: number): number {
  let at = buffer >>> 0;
  strings.forEach((string, i) => {
    memory.setU32((pointers >>> 0) + i * 4, at);
    memory.bytes(at, string.length).set(string);
    at += string.length;
  });
  return Errno.SUCCESS;
}

export function processCalls(state: WasiState): WasiCalls {
  const { memory, ctx } = state;
  return {
    *args_sizes_get(countPointer: number, sizePointer: number) {
      return writeSizes(memory, state.args, countPointer, sizePointer);
    },
    *args_get(pointers: number, buffer: number) {
      return writeStrings(memory, state.args, pointers, buffer);
    },
    *environ_sizes_get(countPointer: number, sizePointer: number) {
      return writeSizes(memory, state.environ, countPointer, sizePointer);
    },
    *environ_get(pointers: number, buffer: number) {
      return writeStrings(memory, state.environ, pointers, buffer);
    },
    *clock_res_get(id: number, resolutionPointer: number) {
      readClock(state, id);
      memory.setU64(resolutionPointer, RESOLUTION_NS);
      return Errno.SUCCESS;
    },
    *clock_time_get(id: number, _precision: bigint, timePointer: number) {
      memory.setU64(timePointer, readClock(state, id));
      return Errno.SUCCESS;
    },
    *random_get(pointer: number, length: number) {
      state.random(memory.bytes(pointer, length));
      return Errno.SUCCESS;
    },
    *proc_exit(code: number): Generator<never, number> {
      throw new ProcessExit(code >>> 0);
    },
    *sched_yield() {
      yield* wait(ctx.yieldNow());
      return Errno.SUCCESS;
    },
  };
}
