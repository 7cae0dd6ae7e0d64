// Instrumenting on a thread with a deep stack, for the command line. The passes walk expression
// trees recursively, and a function whose blocks nest a thousand or more deep (Go's wasm backend
// nests a block per basic block around its br_table) ran out of V8's default stack of about 1 MB:
// "internal error: Maximum call stack size exceeded". Such an input is instrumented again on a
// worker thread with a stack of DEEP_STACK_MB; every other one stays on this thread as before (a
// worker, and binaryen loaded again there, cost a few hundred milliseconds). The library's
// instrument() itself lets the RangeError through: an embedder can do the same.
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { InputError, isUserError, messageOf } from './errors.js';
import type { InstrumentOptions, InstrumentResult } from './instrument.js';
import type { ProgressListener } from '../passes/ir/progress.js';

/** The worker's stack: virtual memory, touched only as deep as the recursion goes. */
const DEEP_STACK_MB = 1024;

type WorkerMessage =
  | { progress: Parameters<ProgressListener> }
  | { result: InstrumentResult }
  | { error: { message: string; user: boolean } };

/** V8's stack overflow. */
export function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}

/** instrument(), on a deep-stack thread if this one's stack is too shallow for the input. */
export async function instrumentWithDeepStack(bytes: Uint8Array, options: InstrumentOptions): Promise<InstrumentResult> {
  const { instrument } = await import('./instrument.js');
  try {
    return await instrument(bytes, options);
  } catch (error) {
    if (!isStackOverflow(error)) throw error;
  }
  return instrumentOnDeepStack(bytes, options);
}

function instrumentOnDeepStack(bytes: Uint8Array, { progress, ...options }: InstrumentOptions): Promise<InstrumentResult> {
  // In the CLI's bundle this module's URL is the bundle's, which exports instrumentInWorker too (src/cli/main.ts).
  const worker = new Worker(`import(${JSON.stringify(import.meta.url)}).then((entry) => entry.instrumentInWorker())`, {
    eval: true,
    workerData: { bytes, options },
    resourceLimits: { stackSizeMb: DEEP_STACK_MB },
  });
  return new Promise((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if ('progress' in message) progress?.(...message.progress);
      else if ('result' in message) resolve(message.result);
      else reject(message.error.user ? new InputError(message.error.message) : new Error(message.error.message));
    });
    worker.on('error', reject);
    // after a result or an error this changes nothing
    worker.on('exit', (code) => reject(new Error(`the instrumenting thread ended early (exit code ${code})`)));
  });
}

/** The worker's side: instruments what it was given and posts progress, then the result or the error. */
export async function instrumentInWorker(): Promise<void> {
  const { bytes, options } = workerData as { bytes: Uint8Array; options: InstrumentOptions };
  const post = (message: WorkerMessage, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer);
  try {
    const { instrument } = await import('./instrument.js');
    const progress: ProgressListener = (...step) => post({ progress: step });
    const result = await instrument(bytes, { ...options, progress });
    post({ result }, [result.binary.buffer as ArrayBuffer]);
  } catch (error) {
    post({ error: { message: messageOf(error), user: isUserError(error) } });
  }
}
