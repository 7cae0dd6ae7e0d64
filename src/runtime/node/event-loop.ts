// What Node's event loop holds, for RuntimeOptions.eventLoopIdle.
//
// `process.getActiveResourcesInfo()` names every handle and request that keeps the loop alive:
// timers, immediates, sockets and servers, file-system and DNS requests, pending writes,
// workers and message ports, signal listeners. The handles of the process's own stdio streams
// (TTYWrap, PipeWrap) stay there whether anyone reads them or not, so they are left out: a
// process waiting for stdin is a second process in the runtime, which rules out running alone
// anyway. A call costs about 0.2 us.

const STDIO_HANDLES: ReadonlySet<string> = new Set(['TTYWrap', 'PipeWrap']);

/** Whether the event loop holds nothing but the handles of stdio streams. */
export function onlyStdioOnEventLoop(): boolean {
  for (const resource of process.getActiveResourcesInfo()) if (!STDIO_HANDLES.has(resource)) return false;
  return true;
}
