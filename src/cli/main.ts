// The command line: yargs with one module per subcommand (src/cli/commands/). Every user error
// becomes one line on stderr and an exit code (1 bad input, 2 bad usage); only an internal error
// shows more, and its stack only with LUNATIC_DEBUG=1.
import yargs from 'yargs';
import { isUserError, messageOf, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { instrumentCommand } from './commands/instrument.js';
import { runCommand } from './commands/run.js';

// The instrumenting thread's code is this bundle's too (src/instrument-thread.ts).
export { instrumentInWorker } from '../instrument-thread.js';

const NAME = 'lunatic-instrument';

function fail(error: unknown): number {
  if (isUserError(error)) {
    process.stderr.write(`${NAME}: ${error.message}\n`);
    return error.exitCode;
  }
  process.stderr.write(`${NAME}: internal error: ${messageOf(error).split('\n')[0]} (please report it; LUNATIC_DEBUG=1 shows details)\n`);
  if (process.env.LUNATIC_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return 1;
}

/** yargs reports its own validation (and coerce) failures as YError: those are usage errors. */
function asUsageError(message: string | undefined, error: Error | undefined): Error {
  if (error && (isUserError(error) || error.name !== 'YError')) return error;
  const text = (message ?? error?.message ?? 'invalid arguments').replace(/\s*\n\s*/g, ' ').trim();
  return new UsageError(`${text} (see --help)`);
}

/**
 * Whether the command line asks for help (before any `--`, after which the program's own
 * arguments come). yargs lays out a subcommand's help as it runs it, in case it must show it;
 * laying it out to the terminal's width cost `run` 25 ms of its start, for help nobody sees
 * (a failure is one line here).
 */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

export async function main(args: string[]): Promise<number> {
  try {
    await yargs(args)
      .scriptName(NAME)
      .usage(`${NAME} <input.wasm|.wat> -o <output.wasm|.wat> [options]\n${NAME} run <prog.wasm> [options] [-- args...]`)
      .command(instrumentCommand)
      .command(runCommand)
      .strict()
      .version(VERSION)
      .help()
      .alias('h', 'help')
      .wrap(asksForHelp(args) ? Math.min(110, process.stdout.columns ?? 100) : null)
      .fail((message, error) => {
        throw asUsageError(message, error);
      })
      .parseAsync();
    return 0;
  } catch (error) {
    return fail(error);
  }
}
