// The worker_threads of a runtime on several threads (src/runtime/threads/): started one by one
// on first use (the first spawn placed on that thread), each running a worker entry module that
// builds its own lunatic world. What a worker writes through its process.stdout and stderr
// (Node's own warnings: its processes write to the descriptors themselves, stdio.ts) is copied to
// this thread's. `shutdown` asks every worker to flush and stop and waits until it has (ending it
// after a grace period), so no worker outlives the main process and no output is lost. A worker
// that fails (an error outside any process) is fatal: its processes are gone unannounced.
import { Worker } from 'node:worker_threads';

/** How long a worker may take to stop after being asked, before it is terminated. */
const SHUTDOWN_GRACE_MS = 2000;

export interface WorkerThreadsOptions {
  /** The worker's entry module. */
  entry: URL;
  /** The worker's workerData for thread `index` (structured-cloneable: SharedArrayBuffers are shared). */
  data(index: number): unknown;
  /** A worker failed: the error, once (the caller reports it and ends the runtime). */
  onFailure(index: number, error: Error): void;
}

interface Running {
  worker: Worker;
  /** Resolves once the worker exited and its stdout and stderr were copied out. */
  done: Promise<void>;
}

export class WorkerThreads {
  private readonly running = new Map<number, Running>();
  private stopping = false;

  constructor(private readonly options: WorkerThreadsOptions) {}

  /** How many workers have started. */
  get started(): number {
    return this.running.size;
  }

  /** Starts the worker of thread `index` unless it runs already. */
  readonly ensureStarted = (index: number): void => {
    if (this.running.has(index) || this.stopping) return;
    // The entry is imported from a line of code, not named as the worker's file: a worker inherits
    // this thread's Node options, and one started from a file refuses `--input-type` (a program
    // run from `node --input-type=module -e`). Passing other options instead would be refused too
    // for V8's (`--stack-size`, `--prof`).
    const worker = new Worker(`import(${JSON.stringify(this.options.entry.href)})`, {
      eval: true,
      workerData: this.options.data(index),
      stdout: true,
      stderr: true,
    });
    const copied = (from: NodeJS.ReadableStream, to: NodeJS.WritableStream) =>
      new Promise<void>((resolve) => {
        from.on('data', (chunk: Uint8Array) => to.write(chunk));
        from.on('end', resolve);
        from.on('close', resolve);
      });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.once('error', (error) => {
      if (!this.stopping) this.options.onFailure(index, error);
    });
    const done = Promise.all([exited, copied(worker.stdout, process.stdout), copied(worker.stderr, process.stderr)]).then(() => {});
    this.running.set(index, { worker, done });
  };

  /** Asks every worker to stop, and resolves once all have (their output copied out). */
  async shutdown(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.running.values()].map(async ({ worker, done }) => {
        worker.postMessage('shutdown');
        const timer = setTimeout(() => void worker.terminate(), SHUTDOWN_GRACE_MS);
        await done;
        clearTimeout(timer);
      }),
    );
  }
}
