// User-facing errors: each carries one line that names the file, what is wrong and what to do.
// The CLI prints the message alone (no stack) and exits with the error's code. InputError is
// defined with the passes, which throw it (passes/ir/errors.ts).
import { InputError } from '../passes/ir/errors.js';

export { InputError };

/** The command line itself is wrong. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type UserError = InputError | UsageError;

export function isUserError(error: unknown): error is UserError {
  return error instanceof InputError || error instanceof UsageError;
}

/** The message of anything thrown, including binaryen's C++ exceptions once decoded. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
