// The instrumenter's options, declared once. The CLI's flags (src/cli/commands/instrument.ts),
// the library's defaults (resolveOptions), the `options` recorded in the lunatic.instrument
// section and README's CLI table (scripts/options-table.ts, checked by test/options-table.test.ts)
// are all derived from OPTIONS.
import { UsageError } from './errors.js';

/** How the value is written on the command line: a switch, a number, or a list of globs. */
type OptionType = 'boolean' | 'number' | 'globs';

interface OptionEntry {
  /** The property of InstrumentOptions; the flag is its kebab-case. */
  readonly key: string;
  readonly type: OptionType;
  /** The default, or how it follows from the other options (undefined: none). */
  readonly default?: boolean | number | readonly string[] | ((options: ResolvedBase) => boolean);
  /** The default as README's table states it, when it is not just the value. */
  readonly defaultText?: string;
  /** What the option does: the CLI's help and README's table. */
  readonly describe: string;
  readonly alias?: string;
  /** What the CLI writes for the value in README's table (numbers). */
  readonly placeholder?: string;
  readonly choices?: readonly number[];
  /** The usage error for a value out of range, if any. */
  readonly check?: (value: number) => string | undefined;
  /** Recorded in the section's `options` (the report records the rest). */
  readonly inSection?: boolean;
}

/** What a computed default may read. */
interface ResolvedBase {
  asyncify: boolean;
}

const wholeNumber = (value: number, min: number, max = Infinity) => Number.isInteger(value) && value >= min && value <= max;

export const OPTIONS = [
  {
    key: 'reductions',
    type: 'boolean',
    default: true,
    describe: 'inject reduction checks and the lunatic.yield import (--no-reductions: no preemption)',
  },
  {
    key: 'asyncify',
    type: 'boolean',
    default: true,
    describe: 'apply Asyncify so blocking imports can suspend (--no-asyncify: counters only, for JSPI hosts)',
  },
  {
    key: 'blockingImports',
    type: 'globs',
    default: [],
    describe: 'extra imports that may block, as module.name globs, comma-separated (added to the WASI defaults and lunatic.*)',
  },
  {
    key: 'optimize',
    type: 'number',
    alias: 'O',
    default: 2,
    placeholder: '0..4',
    choices: [0, 1, 2, 3, 4],
    inSection: true,
    describe: 'optimization level 0-4 (1-2: clean up the code Asyncify added; 3-4: also optimize the whole module, slower)',
  },
  {
    key: 'reservedPages',
    type: 'number',
    default: 1,
    check: (value) => (wholeNumber(value, 1, 1024) ? undefined : '--reserved-pages must be a whole number from 1 to 1024'),
    describe:
      "64 KiB pages at the top of memory kept for the suspended stack (it grows with a deeper one, up to memory's maximum; fixed with --no-rewind-copies)",
  },
  {
    key: 'checkLimit',
    type: 'number',
    default: 10_000,
    inSection: true,
    check: (value) => (wholeNumber(value, 100) ? undefined : '--check-limit must be a whole number of at least 100'),
    describe: 'longest check-free stretch (instructions) before extra checks are added',
  },
  {
    key: 'checkReturns',
    type: 'boolean',
    default: false,
    inSection: true,
    describe:
      'also check after every return from a recursive call, so the bound does not grow with the depth of a recursion being unwound (costs a second check per call in recursive code)',
  },
  {
    key: 'unrollRecursion',
    type: 'boolean',
    default: true,
    inSection: true,
    describe:
      'inline one level of each small self-recursive function into itself, so one entry check covers two levels (--no-unroll-recursion: smaller output)',
  },
  {
    key: 'unrollLoops',
    type: 'boolean',
    default: (options) => !options.asyncify,
    defaultText: 'on with `--no-asyncify`',
    inSection: true,
    describe:
      'copy the body of each small loop without calls once more inside itself, so its check runs every other iteration; default: on with --no-asyncify, off otherwise (Asyncify output is already large)',
  },
  {
    key: 'rewindCopies',
    type: 'boolean',
    default: true,
    inSection: true,
    describe:
      "give each function that can suspend a fast copy, which only tests for an unwind after its calls, and a rewind copy used to resume (--no-rewind-copies: binaryen's own Asyncify, one copy: smaller output, slower)",
  },
  {
    key: 'singleCopyAbove',
    type: 'number',
    defaultText: 'none',
    inSection: true,
    check: (value) => (wholeNumber(value, 0) ? undefined : '--single-copy-above must be a whole number of expressions, 0 or more'),
    describe:
      'give a function of more than N expressions only its rewind copy, which then also runs normally: with 500, about a third smaller output on small C programs, slower in the large functions (malloc among them); default: every function gets both copies',
  },
  {
    key: 'handBackAbove',
    type: 'number',
    default: 10000,
    inSection: true,
    check: (value) => (wholeNumber(value, 0) ? undefined : '--hand-back-above must be a whole number of expressions, 0 or more'),
    describe:
      "a function of at least N expressions hands a frame resumed in one of its loops back to fast code (its re-entry copy, see --reentry-copies) at the loop's next turn (an interpreter's dispatch loop runs at full speed again after a suspension); smaller ones go on in their rewind copy, which costs them less than a third copy would",
  },
  {
    key: 'reentryCopies',
    type: 'boolean',
    default: true,
    inSection: true,
    describe:
      "give each function that hands frames back (--hand-back-above) a re-entry copy for them, so its fast copy, which every ordinary call runs, carries none of their guards: later runs faster (QuickJS 25%), first runs slower (the copy is compiled too) and output larger (5-9% on the bench's third-party programs); a command's _start, which runs once, goes without; --no-reentry-copies: the fast copy takes them",
  },
  {
    key: 'timeLimit',
    type: 'number',
    default: 30,
    placeholder: 'MINUTES',
    check: (value) => (wholeNumber(value, 0) ? undefined : '--time-limit must be a whole number of minutes, 0 or more'),
    describe:
      'refuse at once an input whose instrumentation is estimated to take longer than this, from its code size (25 s per MB of code, measured on a 28 MB C++ program); 0: no limit',
  },
] as const satisfies readonly OptionEntry[];

type Entry = (typeof OPTIONS)[number];
type ValueOf<T extends OptionType> = T extends 'boolean' ? boolean : T extends 'number' ? number : string[];

/** The options of the table, as the library takes them (all optional). */
export type TableOptions = { -readonly [E in Entry as E['key']]?: ValueOf<E['type']> };

/** The options after defaults: those with a default are always set. */
export type ResolvedOptions = {
  -readonly [E in Entry as E['key']]: E extends { default: unknown } ? ValueOf<E['type']> : ValueOf<E['type']> | undefined;
};

export type OptionKey = Entry['key'];

/** The kebab-case flag of an option key. */
export function flagOf(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

function entry(key: OptionKey): OptionEntry {
  return OPTIONS.find((option) => option.key === key)!;
}

/** The fixed default of an option (not the computed ones). */
export function defaultOf(key: OptionKey): boolean | number | readonly string[] | undefined {
  const value = entry(key).default;
  return typeof value === 'function' ? undefined : value;
}

/** The options with every default applied, in the table's order. */
export function resolveOptions(options: TableOptions): ResolvedOptions {
  const asyncify = options.asyncify ?? true;
  const resolved: Record<string, unknown> = {};
  for (const option of OPTIONS as readonly OptionEntry[]) {
    const given = (options as Record<string, unknown>)[option.key];
    const fallback = typeof option.default === 'function' ? option.default({ asyncify }) : option.default;
    resolved[option.key] = given ?? (Array.isArray(fallback) ? [...fallback] : fallback);
  }
  return resolved as ResolvedOptions;
}

type SectionEntry = Extract<Entry, { inSection: true }>;

/** The section's `options`: the table's options it records, an option without a value as null, and the cost model. */
export type SectionOptions = {
  -readonly [E in SectionEntry as E['key']]: E extends { default: unknown } ? ValueOf<E['type']> : ValueOf<E['type']> | null;
} & { costModel: string };

/** The command's own flags beside the options: where to write, and the report. */
export const OUTPUT_DESCRIBE = 'where to write the instrumented module (.wasm, or .wat for text)';
export const REPORT_DESCRIBE = 'print what was done';
export const QUIET_DESCRIBE = 'no progress line (drawn on stderr only when it is a terminal and the job takes over 2 s)';

/** The keys the section's `options` records, in the table's order. */
export const SECTION_OPTION_KEYS: readonly OptionKey[] = OPTIONS.filter((option: OptionEntry) => option.inSection).map(
  (option) => option.key,
);

/** Throws the usage error of the first value out of range. */
export function checkOptionValues(options: TableOptions): void {
  for (const option of OPTIONS as readonly OptionEntry[]) {
    const value = (options as Record<string, unknown>)[option.key];
    const problem = typeof value === 'number' ? option.check?.(value) : undefined;
    if (problem) throw new UsageError(problem);
  }
}

/** A fixed default as README's table states it: on, off, a number, or nothing (an empty list). */
function defaultText(value: OptionEntry['default']): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return typeof value === 'number' ? String(value) : '';
}

/** README's CLI table: one row per option, with the command's own flags first and last. */
export function optionsMarkdown(): string {
  const rows = (OPTIONS as readonly OptionEntry[]).map((option) => {
    const flag = flagOf(option.key);
    const alias = option.alias ? `-${option.alias}, ` : '';
    const spelling =
      option.type === 'boolean'
        ? `\`--${flag}\`, \`--no-${flag}\``
        : `\`${alias}--${flag} ${option.type === 'globs' ? 'GLOBS' : (option.placeholder ?? 'N')}\``;
    const fallback = option.defaultText ?? defaultText(option.default);
    return `| ${spelling} | ${fallback} | ${option.describe.replaceAll('|', '\\|')} |`;
  });
  return [
    '| option | default | meaning |',
    '| --- | --- | --- |',
    `| \`-o, --output\` | required | ${OUTPUT_DESCRIBE} |`,
    ...rows,
    `| \`--report text\\|json\` | | ${REPORT_DESCRIBE} |`,
    `| \`-q, --quiet\` | off | ${QUIET_DESCRIBE} |`,
  ].join('\n');
}

/** Where README's CLI table stands. */
export const README_TABLE_BEGIN = '<!-- options:begin (npm run readme-options writes this table from src/options.ts) -->';
export const README_TABLE_END = '<!-- options:end -->';

/** The table as README holds it, or undefined when a marker is missing. */
export function readmeOptionsTable(readme: string): string | undefined {
  const begin = readme.indexOf(README_TABLE_BEGIN);
  const end = readme.indexOf(README_TABLE_END);
  return begin < 0 || end < begin ? undefined : readme.slice(begin + README_TABLE_BEGIN.length, end).trim();
}

/** README with the table between the markers written from OPTIONS; throws when a marker is missing. */
export function withOptionsTable(readme: string): string {
  if (readmeOptionsTable(readme) === undefined)
    throw new Error(`README.md lacks the markers ${README_TABLE_BEGIN} ... ${README_TABLE_END}`);
  const begin = readme.indexOf(README_TABLE_BEGIN) + README_TABLE_BEGIN.length;
  return `${readme.slice(0, begin)}\n${optionsMarkdown()}\n${readme.slice(readme.indexOf(README_TABLE_END))}`;
}
