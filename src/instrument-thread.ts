// Instrumenting on a worker thread, for the command line (`instrument`, and `run` of a plain
// module), where this thread's limits would end the work:
// - The stack. The passes walk expression trees recursively, and a function whose blocks nest a
//   thousand or more deep (Go's wasm backend nests a block per basic block around its br_table:
//   npm's esbuild 3,232 deep) ran out of V8's default stack of about 1 MB: "internal error:
//   Maximum call stack size exceeded". Such an input is instrumented again on a thread whose
//   stack is STACK_MB (virtual memory, touched only as deep as the recursion goes).
// - The heap. V8 kills a process whose heap is full, and the memory guard (src/out-of-memory.ts)
//   only looks between progress steps: npm's @yowasp/clang (75 MB) took `run` down with
//   "JavaScript heap out of memory" after 8 minutes. An input expected to take minutes goes to the
//   thread from the start, with a heap limit of most of the machine's memory (it needed 10 GB),
//   and a thread that fills it anyway ends alone: one line says so.
// Every other input stays on this thread (a thread, and binaryen loaded again there, cost a few
// hundred milliseconds). The library's instrument() itself lets the RangeError through.
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import type { ProgressListener } from '../passes/ir/progress.js';
import { codeBytes } from './binary.js';
import { InputError, isUserError, messageOf } from './errors.js';
import type { InstrumentOptions, InstrumentResult } from './instrument.js';
import { OutOfMemoryError } from './out-of-memory.js';
import { estimatedMinutes } from './refusals.js';

const STACK_MB = 1024;
/** Inputs expected to take this long go to a thread from the start (about 5 MB of code). */
const THREAD_FROM_MINUTES = 2;
const MB = 1024 * 1024;

type WorkerMessage =
  | { progress: Parameters<ProgressListener> }
  | { result: InstrumentResult }
  | { error: { message: string; user: boolean } };

/** V8's stack overflow. */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}

/** The thread's heap limit: this thread's (--max-old-space-size), or three quarters of the machine's memory if that is more. */
export function threadHeapMb(): number {
  return Math.max(Math.floor(getHeapStatistics().heap_size_limit / MB), Math.floor((totalmem() * 0.75) / MB));
}

/**
 * instrument(), on a thread of its own when this one's stack turns out too shallow for the input,
 * or from the start when the input is large. `heapMb`: the thread's heap limit (tests).
 */
export async function instrumentOnThreadIfNeeded(
  bytes: Uint8Array,
  options: InstrumentOptions,
  heapMb = threadHeapMb(),
): Promise<InstrumentResult> {
  if (estimatedMinutes(codeBytes(bytes) ?? 0) >= THREAD_FROM_MINUTES) return instrumentOnThread(bytes, options, heapMb);
  const { instrument } = await import('./instrument.js');
  try {
    return await instrument(bytes, options);
  } catch (error) {
    if (!isStackOverflow(error)) throw error;
  }
  return instrumentOnThread(bytes, options, heapMb);
}

/** instrument() on a worker thread with a deep stack and a heap of `heapMb`. */
export function instrumentOnThread(
  bytes: Uint8Array,
  { progress, ...options }: InstrumentOptions,
  heapMb: number,
): Promise<InstrumentResult> {
  // In the CLI's bundle this module's URL is the bundle's, which exports instrumentInWorker too (src/cli/main.ts).
  const worker = new Worker(`import(${JSON.stringify(import.meta.url)}).then((entry) => entry.instrumentInWorker())`, {
    eval: true,
    workerData: { bytes, options },
    resourceLimits: { stackSizeMb: STACK_MB, maxOldGenerationSizeMb: heapMb },
  });
  const file = options.fileName ?? 'the module';
  return new Promise((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if ('progress' in message) progress?.(...message.progress);
      else if ('result' in message) resolve(message.result);
      else reject(message.error.user ? new InputError(message.error.message) : new Error(message.error.message));
    });
    worker.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ERR_WORKER_OUT_OF_MEMORY') return reject(error);
      reject(
        new OutOfMemoryError(
          `${file}: ran out of memory while instrumenting: the instrumenting thread's JavaScript heap of ${heapMb} MB is full; run Node with a larger one (NODE_OPTIONS=--max-old-space-size=${2 * heapMb}), or instrument a smaller module, or one part of it at a time`,
        ),
      );
    });
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
