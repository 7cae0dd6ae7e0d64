// The suspension backends behind one interface, and the one place that chooses between them.
//
// A process's blocking imports may return a Promise; the backend makes the wasm code wait for
// it without blocking the event loop. Asyncify (suspend-asyncify.ts) unwinds and rewinds the
// wasm stack and works on every engine, for modules the instrumenter prepared. JSPI
// (suspend-jspi.ts: WebAssembly.Suspending / promising, Node 24, Chrome 137+) lets the engine
// switch stacks, needs no Asyncify and runs plain modules too.
import { isWaitable, Pending, type Waitable } from './pending.js';
import type { HostFunction } from './types.js';

export type BackendName = 'asyncify' | 'jspi';
/** `auto`: JSPI when the engine has it, else Asyncify; `auto-asyncify`: Asyncify when the module has it, else as `auto`. */
export type BackendChoice = 'auto' | 'auto-asyncify' | BackendName;

/** Raised when a module cannot run on the backends available; its message says what to do. */
export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

/** What a backend needs from the process it drives. */
export interface SuspendHost {
  /**
   * A blocking import returned `wait`: the process stops until it settles. The Asyncify backend
   * then unwinds; the JSPI backend suspends on the Promise returned here, which the process
   * settles when the scheduler resumes it.
   */
  park(wait: Waitable): Promise<unknown> | undefined;
  /**
   * JSPI, a module that catches exceptions: an import threw what ends the process (its exit, a
   * kill, a limit). The process ends with it now, and its stack stays suspended on the Promise
   * returned here, which never settles: thrown through the program, the error would meet its
   * catches, and a C++ `catch (...)` (catch_all) takes a JavaScript exception too.
   */
  abandon(error: unknown): Promise<never>;
}

/** Returned by `start`/`resume` of a synchronous backend when the process suspended. */
export const SUSPENDED: unique symbol = Symbol('suspended');

/** How a wait ended, as the process resumes: the value for the import, or the error it throws. */
export type Resumption = { ok: true; value: unknown } | { ok: false; error: unknown };

/** One process's suspension machinery: wrap the imports, attach the instance, then start it. */
export interface Suspender {
  readonly backend: BackendName;
  /** The import as wasm should see it. `blocking`: it may return a Promise or a Pending and suspend. */
  wrapImport(qualifiedName: string, fn: HostFunction, blocking: boolean): unknown;
  attach(instance: WebAssembly.Instance): void;
  /**
   * Calls the export. Asyncify runs synchronously until the process suspends (SUSPENDED) or the
   * export returns (its result) or throws. JSPI returns the Promise of the export's result; the
   * process suspends and resumes through `SuspendHost.park` meanwhile.
   */
  start(exportName: string, args: unknown[]): unknown;
  /** Asyncify: continues a suspended process with how its wait ended; as `start`. */
  resume(resumption: Resumption): unknown;
  /** Forgets the process it ran: the instance is about to run another. */
  reset(): void;
  /** Asyncify: what it keeps of a suspended process outside memory, to resume it in another instance (`load`). */
  save(): SuspenderState;
  load(state: SuspenderState): void;
  /** Where the memory its processes may have changed ends (Asyncify: the tail beyond its unwinds is untouched); undefined: all of it. */
  readonly changedEnd: number | undefined;
  /** Every function import goes through wrapImport, those that never wait too (link.ts). */
  readonly wrapsEveryImport: boolean;
}

/** A suspended process's part of a backend's state (Asyncify: its entry and where its stack was saved). */
export interface SuspenderState {
  entry: string;
  args: unknown[];
  data: number;
  /** Bytes of the reserved tail its unwinds used. */
  tailUsed: number;
}

export function jspiAvailable(): boolean {
  const wasm = WebAssembly as unknown as Record<string, unknown>;
  return typeof wasm.Suspending === 'function' && typeof wasm.promising === 'function';
}

/** What the module's `lunatic.instrument` section says about suspension (undefined: plain module). */
export interface SuspensionNeeds {
  asyncify: boolean;
}

/** Picks the backend: JSPI when the engine has it and the caller did not force Asyncify. */
export function chooseBackend(choice: BackendChoice, needs: SuspensionNeeds | undefined): BackendName {
  if (choice === 'auto-asyncify') {
    if (needs?.asyncify) return 'asyncify';
    choice = 'auto';
  }
  const jspi = jspiAvailable();
  if (choice === 'jspi' || (choice === 'auto' && jspi)) {
    if (!jspi)
      throw new BackendError(
        'the JSPI backend needs WebAssembly.Suspending and WebAssembly.promising (Node 24+, Chrome 137+); use the asyncify backend',
      );
    return 'jspi';
  }
  if (!needs)
    throw new BackendError(
      'the module is not instrumented: run lunatic-instrument on it first, or use a JSPI engine (Node 24+, Chrome 137+)',
    );
  if (!needs.asyncify)
    throw new BackendError(
      'the module was instrumented with --no-asyncify, so it needs JSPI (Node 24+, Chrome 137+); re-instrument without --no-asyncify to run it here',
    );
  return 'asyncify';
}

/**
 * Calls host functions for one process and checks the waits (Promise or Pending) they return:
 * only blocking imports may return one, and only when wasm was entered from the backend (not from a host
 * function calling back into wasm, which neither backend can suspend).
 */
export class ImportCalls {
  private depth = 0;

  invoke(qualifiedName: string, fn: HostFunction, blocking: boolean, args: unknown[]): unknown {
    this.depth++;
    let result: unknown;
    try {
      result = fn(...args);
    } finally {
      this.depth--;
    }
    if (!isWaitable(result)) return result;
    if (result instanceof Pending && result.settled && blocking) return result.unwrap(); // nothing to wait for
    if (!(result instanceof Pending)) result.then(undefined, () => {}); // dropped below on error: never an unhandled rejection
    if (!blocking) {
      throw new BackendError(
        `import ${qualifiedName} returned a Promise but is not a blocking import of this module; re-instrument with --blocking-imports ${qualifiedName}`,
      );
    }
    if (this.depth > 0) {
      throw new BackendError(
        `import ${qualifiedName} tried to suspend inside a nested call (host -> wasm -> host); only imports called from the process's own entry may block`,
      );
    }
    return result;
  }
}
