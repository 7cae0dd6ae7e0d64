// What Node's event loop holds, for RuntimeOptions.eventLoopIdle.
//
// `process.getActiveResourcesInfo()` names every handle and request that keeps the loop alive:
// timers, immediates, sockets and servers, file-system and DNS requests, pending writes,
// workers and message ports, signal listeners. The handles of the process's own stdio streams
// (TTYWrap, PipeWrap) stay there whether anyone reads them or not, so they are left out: a
// process waiting for stdin waits on a host Promise, which the scheduler counts itself. A call
// costs about 0.2 us.

const STDIO_HANDLES: ReadonlySet<string> = new Set(['TTYWrap', 'PipeWrap']);

/**
 * Also the message ports between the threads of one runtime (a worker's port to the main
 * thread, its stdio streams): what the threads send each other travels in the rings, which
 * ThreadPeers.quiet reads, and the shutdown is in the shared memory too.
 */
const THREAD_HANDLES: ReadonlySet<string> = new Set([...STDIO_HANDLES, 'MessagePort']);

function holdsOnly(handles: ReadonlySet<string>): boolean {
  for (const resource of process.getActiveResourcesInfo()) if (!handles.has(resource)) return false;
  return true;
}

/** Whether the event loop holds nothing but the handles of stdio streams. */
export function onlyStdioOnEventLoop(): boolean {
  return holdsOnly(STDIO_HANDLES);
}

/** Whether it holds nothing but those and the message ports of a runtime's threads (for one of them). */
export function onlyStdioAndThreadPortsOnEventLoop(): boolean {
  return holdsOnly(THREAD_HANDLES);
}
