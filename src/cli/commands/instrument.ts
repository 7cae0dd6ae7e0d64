// The default command: `lunatic-instrument <input> -o <output>`.
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parseGlobList } from '../../blocking-imports.js';
import { UsageError } from '../../errors.js';
import { DEFAULT_OPTIONS, instrument, type InstrumentReport, type OptimizeLevel } from '../../instrument.js';
import { checkDistinctPaths, readModuleFile, writeModuleFile } from '../../wasm-io.js';
import { tuneEngineFor } from '../engine-tuning.js';
import { formatReport } from '../report.js';

interface InstrumentArgs {
  input: string;
  output: string;
  reductions: boolean;
  asyncify: boolean;
  blockingImports: string[];
  optimize: number;
  reservedPages: number;
  checkLimit: number;
  checkReturns: boolean;
  unrollRecursion: boolean;
  unrollLoops: boolean | undefined;
  rewindCopies: boolean;
  singleCopyAbove: number | undefined;
  report?: 'text' | 'json';
}

function globs(value: string | string[]): string[] {
  const list = (Array.isArray(value) ? value : [value]).flatMap(parseGlobList);
  for (const glob of list) {
    if (!glob.includes('.')) throw new UsageError(`--blocking-imports: "${glob}" is not of the form module.name (e.g. env.sleep or env.*)`);
  }
  return list;
}

function builder(yargs: Argv): Argv<InstrumentArgs> {
  return yargs
    .positional('input', { describe: 'the module to instrument (.wasm, or .wat text)', type: 'string', demandOption: true })
    .option('output', { alias: 'o', describe: 'where to write the instrumented module (.wasm, or .wat for text)', type: 'string', demandOption: true })
    .option('reductions', { describe: 'inject reduction checks and the lunatic.yield import (--no-reductions: no preemption)', type: 'boolean', default: true })
    .option('asyncify', { describe: 'apply Asyncify so blocking imports can suspend (--no-asyncify: counters only, for JSPI hosts)', type: 'boolean', default: true })
    .option('blocking-imports', { describe: 'extra imports that may block, as module.name globs, comma-separated (added to the WASI defaults and lunatic.*)', type: 'string', array: true, default: [] as string[], coerce: globs })
    .option('optimize', { alias: 'O', describe: 'optimization level 0-4 (1-2: clean up the code Asyncify added; 3-4: also optimize the whole module, slower)', type: 'number', default: DEFAULT_OPTIONS.optimize, choices: [0, 1, 2, 3, 4] })
    .option('reserved-pages', { describe: '64 KiB pages at the top of memory kept for the suspended stack', type: 'number', default: DEFAULT_OPTIONS.reservedPages })
    .option('check-limit', { describe: 'longest check-free stretch (instructions) before extra checks are added', type: 'number', default: DEFAULT_OPTIONS.checkLimit })
    .option('check-returns', { describe: 'also check after every return from a recursive call, so the bound does not grow with the depth of a recursion being unwound (costs a second check per call in recursive code)', type: 'boolean', default: false })
    .option('unroll-recursion', { describe: 'inline one level of each small self-recursive function into itself, so one entry check covers two levels (--no-unroll-recursion: smaller output)', type: 'boolean', default: true })
    .option('unroll-loops', { describe: 'copy the body of each small loop without calls once more inside itself, so its check runs every other iteration; default: on with --no-asyncify, off otherwise (Asyncify output is already large)', type: 'boolean' })
    .option('rewind-copies', { describe: 'give each function that can suspend a fast copy, which only tests for an unwind after its calls, and a rewind copy used to resume (--no-rewind-copies: binaryen\'s own Asyncify, one copy: smaller output, slower)', type: 'boolean', default: true })
    .option('single-copy-above', { describe: 'give a function of more than N expressions only its rewind copy, which then also runs normally: with 500, about a third smaller output on small C programs, slower in the large functions (malloc among them); default: every function gets both copies', type: 'number' })
    .option('report', { describe: 'print what was done', choices: ['text', 'json'] as const })
    .check((argv) => checkArgs(argv as unknown as InstrumentArgs)) as unknown as Argv<InstrumentArgs>;
}

function checkArgs(argv: InstrumentArgs): true {
  if (!Number.isInteger(argv.reservedPages) || argv.reservedPages < 1 || argv.reservedPages > 1024) throw new UsageError('--reserved-pages must be a whole number from 1 to 1024');
  if (!Number.isInteger(argv.checkLimit) || argv.checkLimit < 100) throw new UsageError('--check-limit must be a whole number of at least 100');
  if (argv.singleCopyAbove !== undefined && !(Number.isInteger(argv.singleCopyAbove) && argv.singleCopyAbove >= 0)) throw new UsageError('--single-copy-above must be a whole number of expressions, 0 or more');
  if (!argv.reductions && !argv.asyncify) throw new UsageError('--no-reductions and --no-asyncify together leave nothing to do');
  return true;
}

async function handler(argv: ArgumentsCamelCase<InstrumentArgs>): Promise<void> {
  await checkDistinctPaths(argv.input, argv.output);
  const bytes = await readModuleFile(argv.input);
  tuneEngineFor(bytes);
  const { binary, report } = await instrument(bytes, {
    fileName: argv.input,
    reductions: argv.reductions,
    asyncify: argv.asyncify,
    blockingImports: argv.blockingImports,
    optimize: argv.optimize as OptimizeLevel,
    reservedPages: argv.reservedPages,
    checkLimit: argv.checkLimit,
    checkReturns: argv.checkReturns,
    unrollRecursion: argv.unrollRecursion,
    unrollLoops: argv.unrollLoops,
    rewindCopies: argv.rewindCopies,
    ...(argv.singleCopyAbove !== undefined ? { singleCopyAbove: argv.singleCopyAbove } : {}),
  });
  await writeModuleFile(argv.output, binary);
  printReport(report, argv.report);
}

function printReport(report: InstrumentReport, format: 'text' | 'json' | undefined): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else if (format === 'text') process.stdout.write(formatReport(report));
  for (const warning of report.warnings) process.stderr.write(`lunatic-instrument: warning: ${report.file}: ${warning}\n`);
}

export const instrumentCommand: CommandModule<object, InstrumentArgs> = {
  command: '$0 <input>',
  describe: 'Instrument a module: reduction counters for preemption, Asyncify for suspension',
  builder,
  handler,
};
