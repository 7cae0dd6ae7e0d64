// Waiting with a timeout that also stops when the process ends. The operation gets an
// AbortSignal and must drop its waiter when it fires, so a timed-out wait leaks nothing and
// loses no data (an accept or a message that arrives later stays queued for the next call).

export const TIMED_OUT = Symbol('timed out');

/** Runs `operation`; `timeoutMs` < 0 waits forever, 0 only checks once. */
export function withDeadline<T>(operation: (signal: AbortSignal) => Promise<T>, timeoutMs: number, processSignal: AbortSignal): Promise<T | typeof TIMED_OUT> {
  if (timeoutMs < 0) return operation(processSignal); // the common case: no timer, no controller
  const controller = new AbortController();
  const stop = () => controller.abort();
  processSignal.addEventListener('abort', stop, { once: true });
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      resolve(TIMED_OUT);
    }, timeoutMs);
    operation(controller.signal).then(resolve, reject).finally(() => {
      clearTimeout(timer);
      processSignal.removeEventListener('abort', stop);
    });
  });
}

/** A promise that rejects when `signal` aborts; `detach` is called then, to drop the waiter. */
export function abortable<T>(signal: AbortSignal, register: (resolve: (value: T) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const detach = register((value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    });
    const onAbort = () => {
      detach();
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
