// A one-shot wake-up without Promise machinery: what a blocking host function returns to make
// its process wait when it can name who will wake it (a mailbox, a timer, the scheduler).
//
// A Promise costs an allocation per `then` and a microtask per step; on the message path
// (receive, send, wake, resume) those were most of a hop. A Pending calls its one listener
// synchronously when settled, so a wake-up only queues the process in the scheduler, and
// `cancel` lets the runtime drop whatever the wait holds (a timer, a mailbox waiter) when the
// process is killed. Host functions may still return Promises; the runtime accepts both.

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export class Pending<T = unknown> {
  private outcome: Outcome<T> | undefined;
  private listener: ((outcome: Outcome<T>) => void) | undefined;
  /**
   * The wait may outlive its process's instance (hibernation, process.ts): nothing it does
   * before it settles touches the process's memory, and what must be written there once it has
   * settled is a Later, run when the process is back in an instance.
   */
  hibernatable = false;

  /** `cleanup` runs once when the wait is cancelled (its process killed) before it settled. */
  constructor(private cleanup?: () => void) {}

  get settled(): boolean {
    return this.outcome !== undefined;
  }

  resolve(value: T): void {
    this.settle({ ok: true, value });
  }

  reject(error: unknown): void {
    this.settle({ ok: false, error });
  }

  /** Drops what the wait holds and rejects it with `error`; no-op once settled. */
  cancel(error: unknown): void {
    if (this.outcome) return;
    const cleanup = this.cleanup;
    this.cleanup = undefined;
    cleanup?.();
    this.reject(error);
  }

  /** The value of a settled wait (or its error, thrown). */
  unwrap(): T {
    const outcome = this.outcome;
    if (!outcome) throw new Error('the wait has not settled');
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  /** The runtime's single listener: called at once when already settled, else when it settles. */
  listen(listener: (outcome: Outcome<T>) => void): void {
    if (this.outcome) listener(this.outcome);
    else this.listener = listener;
  }

  private settle(outcome: Outcome<T>): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.cleanup = undefined;
    const listener = this.listener;
    this.listener = undefined;
    listener?.(outcome);
  }
}

export type { Outcome };

/**
 * The value of a wait that its process must compute itself, once it runs again in an instance:
 * the completion of a receive or a read that arrived while the process was hibernated (it copies
 * into memory). The completion may return another wait (the bytes went to another reader).
 */
export class Later<T = unknown> {
  constructor(readonly complete: () => T | Pending<T>) {}
}

/** A hibernatable Pending (see `Pending.hibernatable`). */
export function hibernatable<T>(pending: Pending<T>): Pending<T> {
  pending.hibernatable = true;
  return pending;
}

/**
 * Returned by a blocking import to give up the CPU: the process goes to the back of the run
 * queue at once (it never settles; the runtime recognizes it).
 */
export const NEXT_TURN: Pending<undefined> = new Pending<undefined>();

/** A Promise or a Pending: what a blocking host function may return to make its process wait. */
export type Waitable = PromiseLike<unknown> | Pending;

export function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

export function isWaitable(value: unknown): value is Waitable {
  return value instanceof Pending || isPromise(value);
}

/**
 * Host functions that never return a Promise or a Pending, so a process never waits in them
 * (send, self, kill...), and never call back into wasm: linking gives them to the instance as
 * they are, with no backend around them, even when the module's globs say they block. Under
 * JSPI a blocking import is a `WebAssembly.Suspending`, and calling one costs some 75 ns more
 * than a plain import even when it returns at once (Node 24); and each wrapper is a closure
 * more in every instance.
 */
const NEVER_WAITS = Symbol('lunatic.neverWaits');

/**
 * Marks `fn` as never waiting. A mark on the function, not a WeakSet entry: every instance
 * declares its own functions, and a WeakSet of some 20 entries a process (ephemerons) was 7% of
 * spawning long-lived processes, and more of each full garbage collection.
 */
export function declareNeverWaits(fn: object): void {
  (fn as { [NEVER_WAITS]?: true })[NEVER_WAITS] = true;
}

export function neverWaits(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { [NEVER_WAITS]?: true })[NEVER_WAITS] === true;
}
