// The default command: `lunatic-instrument <input> -o <output>`. Its option flags are made from
// the table of instrumenter options (src/options.ts).
import type { ArgumentsCamelCase, Argv, CommandModule, Options } from 'yargs';
import { parseGlobList } from '../../blocking-imports.js';
import { UsageError } from '../../errors.js';
import type { InstrumentOptions, InstrumentReport, InstrumentResult } from '../../instrument.js';
import { checkOptionValues, flagOf, OPTIONS, OUTPUT_DESCRIBE, QUIET_DESCRIBE, REPORT_DESCRIBE, type TableOptions } from '../../options.js';
import { checkDistinctPaths, readModuleFile, writeModuleFile } from '../../wasm-io.js';
import { codeBytes } from '../../binary.js';
import { instrumentOnThreadIfNeeded } from '../../instrument-thread.js';
import type { ProgressListener } from '../../../passes/ir/progress.js';
import { isQuickJob, memoryTuning, tuneEngineFor } from '../engine-tuning.js';
import { estimatedMinutes } from '../../refusals.js';
import { ProgressLine } from '../progress-line.js';
import { formatReport } from '../report.js';

/**
 * A job estimated this long (src/refusals.ts, a pessimistic rate: 0.3 MB of code) draws its
 * progress line from the start, so binaryen's reading of a large module shows too.
 */
const LONG_JOB_MINUTES = 0.5;

type InstrumentArgs = TableOptions & {
  input: string;
  output: string;
  report?: 'text' | 'json';
  quiet: boolean;
};

function globs(value: string | string[]): string[] {
  const list = (Array.isArray(value) ? value : [value]).flatMap(parseGlobList);
  for (const glob of list) {
    if (!glob.includes('.')) throw new UsageError(`--blocking-imports: "${glob}" is not of the form module.name (e.g. env.sleep or env.*)`);
  }
  return list;
}

/** The yargs spelling of one row of the table. */
function yargsOption(option: (typeof OPTIONS)[number]): Options {
  const alias = 'alias' in option ? { alias: option.alias } : {};
  const fixedDefault = 'default' in option && typeof option.default !== 'function' ? { default: option.default } : {};
  const choices = 'choices' in option ? { choices: [...option.choices] } : {};
  if (option.type === 'globs') return { describe: option.describe, type: 'string', array: true, default: [] as string[], coerce: globs };
  return { ...alias, describe: option.describe, type: option.type, ...fixedDefault, ...choices };
}

function builder(yargs: Argv): Argv<InstrumentArgs> {
  let argv = yargs
    .positional('input', { describe: 'the module to instrument (.wasm, or .wat text)', type: 'string', demandOption: true })
    .option('output', { alias: 'o', describe: OUTPUT_DESCRIBE, type: 'string', demandOption: true });
  for (const option of OPTIONS) argv = argv.option(flagOf(option.key), yargsOption(option));
  return argv
    .option('report', { describe: REPORT_DESCRIBE, choices: ['text', 'json'] as const })
    .option('quiet', { alias: 'q', describe: QUIET_DESCRIBE, type: 'boolean', default: false })
    .check((args) => checkArgs(args as unknown as InstrumentArgs)) as unknown as Argv<InstrumentArgs>;
}

function checkArgs(argv: InstrumentArgs): true {
  checkOptionValues(argv);
  if (!argv.reductions && !argv.asyncify) throw new UsageError('--no-reductions and --no-asyncify together leave nothing to do');
  return true;
}

/** The library's options from the parsed flags: the table's keys that were given or have a default. */
function optionsOf(argv: InstrumentArgs): InstrumentOptions {
  const given = OPTIONS.map((option) => [option.key, argv[option.key]] as const).filter(([, value]) => value !== undefined);
  return { fileName: argv.input, ...(Object.fromEntries(given) as InstrumentOptions) };
}

async function handler(argv: ArgumentsCamelCase<InstrumentArgs>): Promise<void> {
  await checkDistinctPaths(argv.input, argv.output);
  const bytes = await readModuleFile(argv.input);
  tuneEngineFor(bytes);
  const expectedLong = estimatedMinutes(codeBytes(bytes) ?? 0) >= LONG_JOB_MINUTES;
  const line = argv.quiet ? undefined : new ProgressLine(argv.input, process.stderr, () => performance.now(), expectedLong);
  const draw = line?.enabled ? line.listener : undefined;
  const tuneMemory = memoryTuning(isQuickJob(bytes));
  const progress: ProgressListener = (phase, done, total) => {
    tuneMemory(phase, done, total);
    draw?.(phase, done, total);
  };
  let result: InstrumentResult;
  try {
    result = await instrumentOnThreadIfNeeded(bytes, { ...optionsOf(argv), progress });
  } finally {
    line?.clear();
  }
  const { binary, report } = result;
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
