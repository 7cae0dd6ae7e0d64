// Contracts shared by the runtime core and the host modules it gives to processes
// (WASI preview1, the lunatic process API). Core code: no `node:` imports here or below
// src/runtime/ except in src/runtime/node/.

/** A host function as wasm calls it. It may return a Promise when its import is blocking. */
export type HostFunction = (...args: any[]) => unknown;
export type ImportNamespace = Record<string, HostFunction>;
export type Imports = Record<string, ImportNamespace>;

/** Thrown by a host function to end its process with an exit code (WASI proc_exit). */
export class ProcessExit extends Error {
  constructor(readonly code: number) {
    super(`process exited with code ${code}`);
  }
}

/** What a host module sees of the process it serves. */
export interface ProcessContext {
  readonly pid: number;
  /** The program's memory (memory 0). Views must be re-created after every call that may grow it. */
  memory(): WebAssembly.Memory;
  /** Resolves after `ms` milliseconds, on the runtime's timers. */
  sleep(ms: number): Promise<void>;
  /** Lets the other runnable processes run once, then resolves. */
  yieldNow(): Promise<void>;
  /**
   * Counts `reductions` against the process's time slice, for host work done on its behalf (a
   * message sent costs the host far more than the few instructions of the call): a process that
   * sends in a tight loop is preempted like one that computes.
   */
  charge(reductions: number): void;
  /** Aborted when the process is killed or ends: pending host work should stop. */
  readonly signal: AbortSignal;
}

/** Bytes that a process reads (stdin, a socket). */
export interface InputStream {
  /**
   * Whether it is a terminal, which WASI then reports (a program's isatty(), and wasi-libc's line
   * buffering of stdout, follow it). Unset: a terminal, so output held in memory or shown on a page
   * comes line by line.
   */
  readonly terminal?: boolean;
  /** Resolves with up to `max` bytes, or null at end of stream. Never resolves with 0 bytes. */
  read(max: number): Promise<Uint8Array | null>;
  /** Bytes available without waiting (for poll_oneoff and non-blocking reads). */
  readonly buffered: number;
  /** Resolves when `read` would not wait (data or end of stream). */
  readable(): Promise<void>;
}

/** Bytes that a process writes (stdout, stderr). */
export interface OutputStream {
  /** As InputStream's. */
  readonly terminal?: boolean;
  write(bytes: Uint8Array): void | Promise<void>;
}

/**
 * A host module. The simple form, given the process, returns its import namespaces: new
 * functions for every process, whose instance is then never reused. The reusable form keeps
 * its per-process state apart from its functions, so pooled instances serve process after
 * process (and a hibernated process wakes in any of them).
 */
export type HostModule = ((ctx: ProcessContext) => Imports) | ReusableHostModule<any>;

/** The functions of a reusable host module: made once per instance. */
export interface HostModuleKind<State> {
  /**
   * The import namespaces of one instance. `ctx` and `tenant()` are the process the instance
   * runs now and its state: read them at every call, never keep them.
   */
  imports(ctx: ProcessContext, tenant: () => State): Imports;
}

/** A host module whose functions (its kind) are shared by every instance and whose state is per process. */
export interface ReusableHostModule<State> {
  /** The same object for every process: instances made for one serve the others. */
  readonly kind: HostModuleKind<State>;
  /**
   * The state of one process, made when it is spawned: data, not functions; or, for a process
   * that moved here from another thread, from what `carry` gave there.
   */
  state(ctx: ProcessContext, carried?: unknown): State;
  /**
   * What of `state` a process moving to another thread takes along (plain, cloneable data), or
   * undefined when the state cannot move (an open file, bytes read from stdin). A module
   * without `carry` makes a fresh state on the other side.
   */
  carry?(state: State): unknown;
}

export function isReusable(hostModule: HostModule): hostModule is ReusableHostModule<unknown> {
  return typeof hostModule !== 'function';
}

/** The import namespaces of one process from a host module of either form (its own functions, not shared). */
export function importsOf(hostModule: HostModule, ctx: ProcessContext): Imports {
  if (typeof hostModule === 'function') return hostModule(ctx);
  const state = hostModule.state(ctx);
  return hostModule.kind.imports(ctx, () => state);
}
