// Several lunatic worlds joined as the threads of one runtime, inside this JS thread: each world
// (its own Runtime and scheduler) is one thread of src/runtime/threads/, and the shared-memory
// rings carry everything between them exactly as between worker threads. So the in-process API
// tests run their scenarios across "threads" with their host modules (test.report) at hand;
// test/threads.test.ts runs real worker threads through the CLI.
import type { Runtime } from '../../src/runtime/index.js';
import type { Lunatic, Program } from '../../src/runtime/lunatic/index.js';
import { createSharedMemory } from '../../src/runtime/threads/shared.js';
import { ThreadPeers } from '../../src/runtime/threads/threads.js';

/** Joins `worlds` (world i is thread i) without reading the rings yet: each starts with its `listen()`. */
export function joinThreads(
  worlds: Array<{ runtime: Runtime; lunatic: Lunatic }>,
  program: Program,
  { moves = true }: { moves?: boolean } = {},
): ThreadPeers[] {
  const memory = createSharedMemory(worlds.length);
  return worlds.map(
    ({ runtime, lunatic }, index) => new ThreadPeers({ index, memory, world: lunatic, program, runnable: () => runtime.runnable, moves }),
  );
}

/** Joins `worlds` (world i is thread i); call before any of them starts a process. Returns a function that stops them listening. */
export function joinAsThreads(worlds: Array<{ runtime: Runtime; lunatic: Lunatic }>, program: Program): () => void {
  const peers = joinThreads(worlds, program);
  for (const peer of peers) peer.listen();
  return () => {
    for (const peer of peers) peer.close();
  };
}
