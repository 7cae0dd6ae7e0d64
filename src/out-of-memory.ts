// Running out of memory as one clear line instead of an abort. Two heaps can fill up:
// - binaryen's: a wasm32 program, so at most 4 GB whatever the machine has. When an allocation
//   fails it throws a C++ std::bad_alloc, which arrives here as an opaque exception.
// - V8's JavaScript heap (our passes' analyses): when it is full V8 kills the process, which
//   cannot be caught. So the memory guard looks at the heap as the passes report progress and
//   stops the work first, while it can still say why.
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { binaryenMessage, type Binaryen } from '../passes/ir/binaryen.js';
import type { ProgressListener } from '../passes/ir/progress.js';
import { InputError } from './errors.js';

/** The module is too large for the memory at hand. Exit code 1, like bad input. */
export class OutOfMemoryError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'OutOfMemoryError';
  }
}

const MB = 1024 * 1024;
const WAY_OUT = 'instrument a smaller module, or one part of it at a time';

/** The one-line error for an exception binaryen threw when its heap was full, else undefined. */
export function binaryenOutOfMemory(binaryen: Binaryen, error: unknown, phase: string): OutOfMemoryError | undefined {
  if (!/bad_alloc|out of memory|Cannot enlarge memory/i.test(binaryenMessage(binaryen, error))) return undefined;
  return new OutOfMemoryError(`ran out of memory while ${phase}: binaryen's heap is full (a wasm32 program: 4 GB at most); ${WAY_OUT}`);
}

export interface HeapReading {
  used: number;
  limit: number;
}

/**
 * V8's heap limit includes the young generation, at most three 16 MB semi-spaces on 64-bit
 * machines; what runs out is the old generation, the rest.
 */
const YOUNG_GENERATION_MAX = 48 * 1024 * 1024;
const YOUNG_SPACES = new Set(['new_space', 'new_large_object_space']);

/** A full collection of V8's heap, without `--expose-gc` at start. */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc'); // takes effect in new contexts
  (runInNewContext('gc') as () => void)();
}

/** The old generation as it is, or after a full collection (what is used may be mostly garbage until then). */
function readHeap(collect: boolean): HeapReading {
  if (collect) collectGarbage();
  const used = getHeapSpaceStatistics()
    .filter((space) => !YOUNG_SPACES.has(space.space_name))
    .reduce((sum, space) => sum + space.space_used_size, 0);
  return { used, limit: getHeapStatistics().heap_size_limit - YOUNG_GENERATION_MAX };
}

/** How full the JavaScript heap may get before the guard stops the work (V8 dies at the limit). */
export const HEAP_FULL = 0.85;
/** Reading the heap costs a few microseconds: at most this often. */
const GUARD_INTERVAL_MS = 100;

/**
 * A progress listener that throws OutOfMemoryError when the JavaScript heap is over HEAP_FULL of
 * its limit. The clock and the heap reading can be replaced, for tests.
 */
export function heapGuard(
  read: (collect: boolean) => HeapReading = readHeap,
  now: () => number = () => performance.now(),
): ProgressListener {
  let next = 0;
  return (phase) => {
    const time = now();
    if (time < next) return;
    next = time + GUARD_INTERVAL_MS;
    const full = (reading: HeapReading) => reading.used > HEAP_FULL * reading.limit;
    // Only a heap that looks full is collected and read again: a full collection takes time.
    if (!full(read(false))) return;
    const { used, limit } = read(true);
    if (used <= HEAP_FULL * limit) return;
    const limitMB = Math.round(limit / MB);
    throw new OutOfMemoryError(
      `ran out of memory while ${phase}: the JavaScript heap holds ${Math.round(used / MB)} MB of its ${limitMB} MB (--max-old-space-size); run Node with a larger one (NODE_OPTIONS=--max-old-space-size=${2 * limitMB}) or ${WAY_OUT}`,
    );
  };
}
