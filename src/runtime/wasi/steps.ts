// Calls that answer at once when they can and wait only when they must. A WASI call is written
// as a generator that passes every value that may be a Promise through `wait`; `drive` runs it
// synchronously until something really is a Promise, and only then returns one. So a write to a
// memory stream or a lookup in the in-memory file system is a plain call (no suspension of the
// process at all), while the same code on Node's fs/promises suspends.
import { isPromise } from '../pending.js';
import type { MaybePromise } from './fs.js';

/** A call in progress: it yields the Promises it waits for and returns its result. */
export type Steps<T> = Generator<Promise<unknown>, T, unknown>;

/** `const x = yield* wait(maybePromise)`: the value, waiting only when it is a Promise. */
export function* wait<T>(value: MaybePromise<T>): Steps<T> {
  if (!isPromise(value)) return value;
  return (yield value) as T;
}

/** Runs `steps`: its result at once if it never waited, else a Promise of it. */
export function drive<T>(steps: Steps<T>): MaybePromise<T> {
  const first = steps.next();
  return first.done ? first.value : resume(steps, first.value);
}

async function resume<T>(steps: Steps<T>, pending: Promise<unknown>): Promise<T> {
  for (;;) {
    const settled = await pending.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    // A rejection is thrown into the generator, where the call may catch it.
    const next = settled.ok ? steps.next(settled.value) : steps.throw(settled.error);
    if (next.done) return next.value;
    pending = next.value;
  }
}
