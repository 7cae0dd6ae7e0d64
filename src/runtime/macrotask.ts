// Yielding to the host event loop between time slices, so timers and I/O run between them.
// A resolved promise is not enough (microtasks run before any timer or I/O); setTimeout(0) is
// clamped to 1-4 ms. Node's setImmediate runs after the I/O poll of each loop turn; browsers
// get the same from a MessageChannel message. Feature-detected: no Node import in the core.

type Callback = () => void;

function messageChannelMacrotask(): (callback: Callback) => void {
  const channel = new MessageChannel();
  const pending: Callback[] = [];
  channel.port1.onmessage = () => pending.shift()?.();
  return (callback) => {
    pending.push(callback);
    channel.port2.postMessage(null);
  };
}

function pickMacrotask(): (callback: Callback) => void {
  const setImmediate = (globalThis as { setImmediate?: (callback: Callback) => unknown }).setImmediate;
  if (typeof setImmediate === 'function') return (callback) => void setImmediate(callback);
  return messageChannelMacrotask();
}

/** Runs `callback` in a later turn of the event loop, after pending timers and I/O had a chance. */
export const macrotask: (callback: Callback) => void = pickMacrotask();
