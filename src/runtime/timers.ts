// Timers that never fire early. Node's timers count from the event loop's cached time, which
// lags the real clock, so a setTimeout of 2 ms can run 1 ms early as `performance.now()` sees it
// (measured: 2-4 of 400 short sleeps ended early, by up to 0.98 ms). A sleep must never end
// before its time: the callback runs only once the deadline has passed, waiting again if needed.

/** Calls `callback` no earlier than `ms` milliseconds from now; the result cancels it. */
export function after(ms: number, callback: () => void): () => void {
  const deadline = performance.now() + ms;
  let timer: ReturnType<typeof setTimeout>;
  const check = () => {
    const left = deadline - performance.now();
    if (left > 0) timer = setTimeout(check, Math.ceil(left));
    else callback();
  };
  timer = setTimeout(check, Math.ceil(ms));
  return () => clearTimeout(timer);
}
