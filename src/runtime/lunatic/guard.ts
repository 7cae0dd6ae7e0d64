// Wraps the lunatic host functions: checks the process's limits before each call, and turns a
// LunaticError (thrown, or rejected by a blocking call) into the negative error code wasm gets
// back. Any other error, including ProcessExit, passes through and ends the process.
import { isPromise } from '../pending.js';
import type { HostFunction, ImportNamespace } from '../types.js';
import { LunaticError } from './errno.js';

function codeOf(error: unknown): number {
  if (error instanceof LunaticError) return -error.errno;
  throw error;
}

/** `beforeEach` (optional: a process without limits has nothing to check) runs before every call. */
export function guarded(functions: Record<string, HostFunction>, beforeEach?: () => void): ImportNamespace {
  const wrapped: ImportNamespace = {};
  for (const [name, fn] of Object.entries(functions)) {
    wrapped[name] = (...args: unknown[]) => {
      try {
        beforeEach?.();
        const result = fn(...args);
        return isPromise(result) ? result.then(undefined, codeOf) : result;
      } catch (error) {
        return codeOf(error);
      }
    };
  }
  return wrapped;
}
