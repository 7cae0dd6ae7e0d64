// The programs the benchmark runs: six small C programs (bench/c, built by bench/build.sh and
// committed) that each stress one thing the instrumentation touches, plus the largest real
// WASI command module found on the npm registry (bench/external.ts).
import { join } from 'node:path';
import { benchDir } from './paths.js';

export interface BenchProgram {
  name: string;
  description: string;
  wasm: string;
  args: string[];
  /** Where the module came from, when it is not one of ours. */
  origin?: string;
}

const C_PROGRAMS: [name: string, description: string][] = [
  ['fib', 'deep recursion (naive Fibonacci)'],
  ['nbody', 'floating-point loops (planetary simulation)'],
  ['trees', 'malloc-heavy binary trees'],
  ['qsort', 'libc qsort with a comparator (indirect calls)'],
  ['sha256', 'hashing (SHA-256 chain)'],
  ['interp', 'interpreter dispatch loop (bytecode VM)'],
];

export function cPrograms(): BenchProgram[] {
  return C_PROGRAMS.map(([name, description]) => ({ name, description, wasm: join(benchDir, 'c', `${name}.wasm`), args: [] }));
}
