// WASI preview1 as a host module of the runtime: `wasiPreview1(options)` gives each process its
// own descriptor table over the given stdio streams and preopened directories. Every preview1
// function is provided (ENOSYS where not implemented), so no program fails to link over WASI.
// A call answers at once when it can and returns a Promise only when it has to wait (stdin, a
// back-pressured output, an asynchronous file system, a sleep): see steps.ts.
import { isPromise } from '../pending.js';
import type { HostFunction, HostModuleKind, ImportNamespace, ReusableHostModule } from '../types.js';
import { PREVIEW1_FUNCTIONS } from './abi.js';
import { cryptoRandom, performanceClock, processCalls } from './calls-process.js';
import { fdCalls } from './calls-fd.js';
import { pathCalls } from './calls-path.js';
import { DescriptorTable } from './descriptors.js';
import { Errno, WasiError } from './errno.js';
import { GuestMemory } from './memory.js';
import { pollCalls } from './poll.js';
import type { Clock, WasiCall, WasiOptions, WasiProcess, WasiState } from './state.js';
import { drive } from './steps.js';
import { discardOutput, QueueInput } from './streams.js';

export type { Clock, WasiOptions } from './state.js';
export type { DirEntry, Directory, EntryKind, File, MaybePromise, OpenOptions, Stat } from './fs.js';
export { Errno, WasiError } from './errno.js';
export { MemoryDirectory, type MemoryTree } from './memfs.js';
export { CollectedOutput, QueueInput, callbackOutput, discardOutput } from './streams.js';
export { MAY_WAIT_IMPORTS } from './may-wait.js';

const encoder = new TextEncoder();

/** A WasiError becomes the errno wasm gets; anything else (ProcessExit, a host bug) passes on. */
function errnoOf(error: unknown): number {
  if (error instanceof WasiError) return error.errno;
  throw error;
}

function hostFunction(call: WasiCall): HostFunction {
  return (...args: unknown[]) => {
    try {
      const result = drive(call(...args));
      return isPromise(result) ? result.then(undefined, errnoOf) : result;
    } catch (error) {
      return errnoOf(error);
    }
  };
}

const notImplemented: HostFunction = () => Errno.NOSYS;

function descriptorTable(options: WasiOptions): DescriptorTable {
  const fds = new DescriptorTable();
  fds.add({ type: 'input', stream: options.stdin ?? new QueueInput(undefined, { end: true }) });
  fds.add({ type: 'output', stream: options.stdout ?? discardOutput });
  fds.add({ type: 'output', stream: options.stderr ?? discardOutput });
  for (const { guestPath, dir } of options.preopens) fds.add({ type: 'directory', dir, preopen: guestPath });
  fds.settle();
  return fds;
}

/** The calls of one instance, over whichever process it runs now (`tenant`). */
const WASI: HostModuleKind<WasiProcess> = {
  imports(ctx, tenant) {
    const state: WasiState = {
      ctx,
      memory: new GuestMemory(() => ctx.memory()),
      get fds() {
        return tenant().fds;
      },
      get clock() {
        return tenant().clock;
      },
      get random() {
        return tenant().random;
      },
      get args() {
        return tenant().args;
      },
      get environ() {
        return tenant().environ;
      },
      get started() {
        return tenant().started;
      },
    };
    const calls = { ...processCalls(state), ...fdCalls(state), ...pathCalls(state), ...pollCalls(state) };
    const namespace: ImportNamespace = {};
    for (const name of PREVIEW1_FUNCTIONS) namespace[name] = calls[name] ? hostFunction(calls[name]) : notImplemented;
    return { wasi_snapshot_preview1: namespace };
  },
};

/** What a process moving to another thread takes of its WASI state (plain data). */
interface CarriedWasi {
  /** Where its monotonic clock was when it left: it goes on from there, whatever the new thread's clock says. */
  monotonic: string;
  started: string;
}

/** One process's WASI state; its descriptor table is made on first use (most children never call WASI). */
class WasiProcessState implements WasiProcess {
  private table: DescriptorTable | undefined;
  readonly started: bigint;
  readonly clock: Clock;

  constructor(
    private readonly options: WasiOptions,
    clock: Clock,
    readonly random: (buffer: Uint8Array) => void,
    readonly args: Uint8Array[],
    readonly environ: Uint8Array[],
    carried?: CarriedWasi,
  ) {
    this.clock = carried ? shiftedClock(clock, BigInt(carried.monotonic) - clock.monotonic()) : clock;
    this.started = carried ? BigInt(carried.started) : clock.monotonic();
  }

  get fds(): DescriptorTable {
    this.table ??= descriptorTable(this.options);
    return this.table;
  }

  /** What moves with the process, or undefined when a fresh table on the other thread would differ. */
  carry(): CarriedWasi | undefined {
    const table = this.table;
    if (table && !table.asFresh) return undefined;
    return { monotonic: String(this.clock.monotonic()), started: String(this.started) };
  }
}

/** `clock` with its monotonic time moved by `offset` nanoseconds (threads' clocks start apart). */
function shiftedClock(clock: Clock, offset: bigint): Clock {
  return { now: () => clock.now(), monotonic: () => clock.monotonic() + offset };
}

export function wasiPreview1(options: WasiOptions): ReusableHostModule<WasiProcess> {
  const args = options.args.map((arg) => encoder.encode(`${arg}\0`));
  const environ = Object.entries(options.env).map(([key, value]) => encoder.encode(`${key}=${value}\0`));
  const clock = options.clock ?? performanceClock;
  const random = options.random ?? cryptoRandom;
  return {
    kind: WASI,
    state: (_ctx, carried) => new WasiProcessState(options, clock, random, args, environ, carried as CarriedWasi | undefined),
    carry: (state) => (state as WasiProcessState).carry(),
  };
}
