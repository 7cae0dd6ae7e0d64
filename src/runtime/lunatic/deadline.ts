// Waiting with a timeout that also stops when the process ends. The operation gets an
// AbortSignal and must drop its waiter when it fires, so a timed-out wait leaks nothing and
// loses no data (an accept that arrives later stays queued for the next call). The timeout
// never ends early (src/runtime/timers.ts).

import { after } from '../timers.js';

export const TIMED_OUT = Symbol('timed out');

/** Runs `operation`; `timeoutMs` < 0 waits forever, 0 only checks once. */
export function withDeadline<T>(
  operation: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  processSignal: AbortSignal,
): Promise<T | typeof TIMED_OUT> {
  if (timeoutMs < 0) return operation(processSignal); // the common case: no timer, no controller
  const controller = new AbortController();
  const stop = () => controller.abort();
  processSignal.addEventListener('abort', stop, { once: true });
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    const cancelTimer = after(timeoutMs, () => {
      controller.abort();
      resolve(TIMED_OUT);
    });
    operation(controller.signal)
      .then(resolve, reject)
      .finally(() => {
        cancelTimer();
        processSignal.removeEventListener('abort', stop);
      });
  });
}
