// The bad-input corpus (fixtures/bad/, built by fixtures/bad/make-corpus.mjs) and bad paths,
// through the CLI as a user runs it and through the library. Every case must give exactly one
// line on stderr naming the file and the problem, exit code 1 (2 for usage errors), no stack
// trace, no output file (an existing one left as it was) and the input untouched.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, instrument } from '../src/index.js';
import { projectRoot } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const BAD = join(projectRoot, 'fixtures/bad');
const GOOD = join(projectRoot, 'fixtures/wat/spin.wasm');

interface Case {
  file: string;
  what: string;
  /** Words the message must contain (a case-insensitive regular expression). */
  expect: string;
}
const corpus = JSON.parse(await readFile(join(BAD, 'manifest.json'), 'utf8')) as Case[];

/**
 * Cases where the instrumenter is known to fall short, reported to the lead. They run as
 * `it.fails`: when the instrumenter is fixed they start failing, and the entry must go.
 */
const KNOWN_ISSUES: Record<string, string> = {};
const itUnlessKnown = (name: string) => (KNOWN_ISSUES[name] ? it.fails : it);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: projectRoot, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** Exactly one line on stderr, matching `pattern` and naming `subject`, with no stack frames. */
function expectOneLine(run: Run, code: number, subject: string | undefined, pattern: RegExp): void {
  expect(run.stderr).not.toMatch(/^\s+at /m);
  const lines = run.stderr.replace(/\n$/, '').split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^lunatic-instrument: /);
  expect(lines[0]).not.toMatch(/internal error/);
  if (subject) expect(lines[0]).toContain(subject);
  expect(lines[0]).toMatch(pattern);
  expect(run.code).toBe(code);
}

const hash = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

let work: string;
beforeAll(async () => {
  await readFile(join(projectRoot, 'dist/src/cli/main.js')).catch(() => {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  });
  work = await mkdtemp(join(tmpdir(), 'lunatic-bad-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('the bad-input corpus', () => {
  it('is the committed one, with every kind of case', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
    for (const kind of [
      'truncated-',
      'flip-',
      'empty',
      'wrong-magic',
      'wrong-version',
      'section-size-',
      'shared-memory',
      'exception-handling',
      'gc-',
      'memory64',
      'already-instrumented',
    ]) {
      expect(
        corpus.some((c) => c.file.startsWith(kind)),
        kind,
      ).toBe(true);
    }
  });

  describe.concurrent('through the CLI: one line, exit 1, no output, input untouched', () => {
    for (const c of corpus) {
      itUnlessKnown(c.file)(`${c.file}: ${c.what}`, async () => {
        const input = join(BAD, c.file);
        const dir = await mkdtemp(join(work, 'case-'));
        const before = await hash(input);
        const run = await runCli([input, '-o', join(dir, 'out.wasm')]);
        expectOneLine(run, 1, input, new RegExp(c.expect, 'i'));
        expect(await readdir(dir)).toEqual([]); // neither the output nor a temporary file
        expect(await hash(input)).toBe(before);
      });
    }
  });

  describe.concurrent('leaves an existing output file as it was', () => {
    for (const file of ['truncated-08-code-middle.wasm', 'shared-memory-threads.wasm', 'already-instrumented.wasm', 'bad-text.wat']) {
      it(file, async () => {
        const output = join(await mkdtemp(join(work, 'keep-')), 'out.wasm');
        await writeFile(output, 'previous output');
        const run = await runCli([join(BAD, file), '-o', output]);
        expect(run.code).toBe(1);
        expect(await readFile(output, 'utf8')).toBe('previous output');
      });
    }
  });

  describe('through the library: instrument() rejects with InputError', () => {
    for (const c of corpus) {
      itUnlessKnown(c.file)(c.file, async () => {
        const bytes = new Uint8Array(await readFile(join(BAD, c.file)));
        const copy = bytes.slice();
        const error = await instrument(bytes, { fileName: c.file }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InputError);
        const message = (error as Error).message;
        expect(message).toContain(c.file);
        expect(message).not.toContain('\n');
        // Text is only text to the CLI; as bytes it is not a module at all.
        expect(message).toMatch(c.file.endsWith('.wat') ? /not a WebAssembly module/ : new RegExp(c.expect, 'i'));
        expect(bytes).toEqual(copy);
      });
    }
  });
});

describe.concurrent('bad paths through the CLI', () => {
  it('a directory as input', async () => {
    expectOneLine(await runCli([BAD, '-o', join(work, 'dir-in.wasm')]), 1, BAD, /directory/);
  });

  it('an input that does not exist', async () => {
    const missing = join(work, 'missing.wasm');
    expectOneLine(await runCli([missing, '-o', join(work, 'missing-out.wasm')]), 1, missing, /does not exist/);
  });

  it('an input that cannot be read (a read error from /proc/self/mem)', async () => {
    expectOneLine(await runCli(['/proc/self/mem', '-o', join(work, 'proc-out.wasm')]), 1, '/proc/self/mem', /cannot read/);
  });

  // chmod 000 stops nobody running as root (as in CI containers): then the file is readable
  // and this case cannot be produced; /proc/self/mem above gives a real read error instead.
  const root = process.getuid?.() === 0;
  it.skipIf(root)('an input without read permission (skipped as root: root reads it anyway)', async () => {
    const locked = join(work, 'locked.wasm');
    await writeFile(locked, await readFile(GOOD));
    await chmod(locked, 0o000);
    expectOneLine(await runCli([locked, '-o', join(work, 'locked-out.wasm')]), 1, locked, /permission|not accessible/);
  });

  it('an output in a directory that does not exist', async () => {
    const output = join(work, 'no-such-dir', 'out.wasm');
    expectOneLine(await runCli([GOOD, '-o', output]), 1, output, /does not exist|no such/i);
  });

  it('an output that is a directory (left as it was)', async () => {
    const output = await mkdtemp(join(work, 'out-dir-'));
    await writeFile(join(output, 'inside'), 'x');
    expectOneLine(await runCli([GOOD, '-o', output]), 1, output, /directory/);
    expect(await readdir(output)).toEqual(['inside']);
  });

  itUnlessKnown('output under a regular file')('an output under a regular file', async () => {
    const file = join(work, 'plain-file');
    await writeFile(file, 'x');
    expectOneLine(await runCli([GOOD, '-o', join(file, 'out.wasm')]), 1, join(file, 'out.wasm'), /not a directory|directory/);
  });

  it('an output that is the input', async () => {
    const input = join(work, 'same.wasm');
    await writeFile(input, await readFile(GOOD));
    const before = await hash(input);
    expectOneLine(await runCli([input, '-o', input]), 1, input, /overwrite the input/);
    expect(await hash(input)).toBe(before);
  });
});

describe.concurrent('usage errors through the CLI: one line, exit 2, nothing written', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['no arguments', [], /argument/i],
    ['a missing -o', [GOOD], /output/],
    ['an unknown flag', [GOOD, '-o', 'OUT', '--frobnicate'], /frobnicate/],
    ['an optimization level out of range', [GOOD, '-o', 'OUT', '-O', '9'], /optimize/],
    ['a bad --reserved-pages', [GOOD, '-o', 'OUT', '--reserved-pages', '0'], /reserved-pages/],
    ['a malformed --blocking-imports glob', [GOOD, '-o', 'OUT', '--blocking-imports', 'nodot'], /blocking-imports/],
  ];
  for (const [name, args, pattern] of cases) {
    it(name, async () => {
      const dir = await mkdtemp(join(work, 'usage-'));
      const run = await runCli(args.map((a) => (a === 'OUT' ? join(dir, 'out.wasm') : a)));
      expectOneLine(run, 2, undefined, pattern);
      expect(await readdir(dir)).toEqual([]);
    });
  }
});
