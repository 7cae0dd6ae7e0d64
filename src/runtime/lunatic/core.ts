// What the lunatic API needs from the runtime core, as a small interface: start a process on
// an export of a module with arguments, and for each process its pid, its end, kill and how
// many reduction budgets it spent; on several threads, let a runnable process go and take one
// in. `Runtime` (src/runtime/runtime.ts) satisfies it.
import type { Departure, ExitStatus } from '../process.js';
import type { HostModule } from '../types.js';

export interface CoreSpawnOptions {
  hostModules: HostModule[];
  /** The export to run. */
  entry: string;
  /** The arguments it is called with (the spawn argument, as the entry's type needs it). */
  args: unknown[];
  /** For plain modules on JSPI: extra `module.name` globs of imports that may return a Promise. */
  blockingImports?: string[];
  /** The pid, when the caller chose it (a runtime on several threads shares one pid space). */
  pid?: number;
}

export interface CoreProcess {
  readonly pid: number;
  /** Settles once with how the process ended; never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** Calls `listener` with how the process ended, synchronously when it ends (at once if it has). */
  onEnd(listener: (status: ExitStatus) => void): void;
  /** Reduction budgets (the runtime's time slice each) spent so far: calls of `lunatic.yield`. */
  readonly budgetsSpent: number;
  /** The reductions it used, when it ended in its first turn having never waited (else undefined). */
  readonly oneTurnReductions?: number;
  /** It is out of any instance, as a snapshot (its memory cannot be reached). */
  readonly isHibernating: boolean;
  kill(): void;
  /** A process taken in from another thread (`ProcessCore.adopt`) runs from now. */
  settle?(): void;
  /** A process withdrawn to another thread (`ProcessCore.withdraw`) ended there, as `status` says. */
  endedAway?(status: ExitStatus): void;
}

export interface ProcessCore {
  /** Throws ProcessLimitError (src/runtime/runtime.ts) past the runtime's process limit. */
  spawn(module: WebAssembly.Module, options: CoreSpawnOptions): CoreProcess;
  /** A process that left another thread's core (`withdraw`), going on here under its pid. */
  adopt?(module: WebAssembly.Module, options: CoreSpawnOptions, departure: Departure): CoreProcess;
  /** Lets go of a runnable process that may go on on another thread and that `accept` takes; forgotten here without an end. */
  withdraw?(accept: (process: CoreProcess) => boolean, due?: boolean): { process: CoreProcess; departure: Departure } | undefined;
  /** Throws the ProcessLimitError a spawn of `module` would get for want of wasm memories (shared by the threads). */
  checkMemoryRoom?(module: WebAssembly.Module): void;
}
