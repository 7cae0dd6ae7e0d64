// The error a pass throws when the input module is one it cannot instrument: one line that says
// what is wrong and what to do (the instrumenter prefixes the file name). The CLI prints it alone
// and exits 1; src/errors.ts adds the usage error and the helpers around both.

/** Bad input or output: the file is not usable as given. Exit code 1. */
export class InputError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
