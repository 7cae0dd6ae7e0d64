// The entry of each worker thread of a program run on N > 1 threads (runProgram,
// src/run-program.ts; `lunatic-instrument run --threads N`): builds this thread's lunatic world
// as the main thread built its own (world.ts), with the module the main thread compiled, and
// serves the processes placed here until the main thread says `shutdown` (then it flushes its
// stdout and stderr and ends). worker-threads.ts starts it.
import { parentPort, workerData } from 'node:worker_threads';
import type { SharedMemory } from '../threads/shared.js';
import { ThreadPeers } from '../threads/threads.js';
import { onlyStdioAndThreadPortsOnEventLoop } from './event-loop.js';
import { stdioFlushed } from './stdio.js';
import { buildWorld, type WorldConfig } from './world.js';

export interface ThreadWorkerData {
  index: number;
  memory: SharedMemory;
  config: WorldConfig;
  module: WebAssembly.Module;
  bytes: Uint8Array;
}

const data = workerData as ThreadWorkerData;
// this thread's only runnable process skips the event-loop turns that would find nothing to do
// while the other threads send it nothing (run-program.ts does the same on the main thread)
const { runtime, lunatic } = await buildWorld(data.config, () => peers.quiet() && onlyStdioAndThreadPortsOnEventLoop(), data.index);
const peers: ThreadPeers = new ThreadPeers({
  index: data.index,
  memory: data.memory,
  world: lunatic,
  program: lunatic.program(data.bytes, data.module),
  maxProcesses: data.config.maxProcesses,
  runnable: () => runtime.runnable,
  moves: data.config.moves,
});
parentPort!.on('message', (message) => {
  if (message !== 'shutdown') return;
  peers.close();
  void stdioFlushed().then(() => process.exit(0));
});
peers.listen();
