// Proves that a change to the instrumenter leaves its output byte for byte as it was: instruments
// every fixture, bench and example module through the CLI with the default options and the main
// option variants, and compares the SHA-256 of each output with scripts/identical-digests.json.
// The digests cover the lunatic.instrument section, which carries the tool version: a new version
// changes every digest, and then the manifest is recorded again on purpose.
//   node dist/scripts/check-identical.js           compare (exit 1 on any difference)
//   node dist/scripts/check-identical.js --write   record the manifest from the code as it is
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { main } from '../src/cli/main.js';
import { projectRoot } from '../src/project-root.js';
import { writeFileWhole } from '../src/wasm-io.js';

const MANIFEST = join(projectRoot, 'scripts', 'identical-digests.json');

/** The option sets every module is instrumented with, by name. */
const VARIANTS: Record<string, string[]> = {
  default: [],
  'no-asyncify': ['--no-asyncify'],
  'no-rewind-copies': ['--no-rewind-copies'],
  'single-copy-above-500': ['--single-copy-above', '500'],
  'no-reductions': ['--no-reductions'],
};

/** Folders whose uninstrumented .wasm files are inputs (instrumented copies, *.inst.wasm, are not). */
const INPUT_DIRS = [
  'fixtures/c',
  'fixtures/wat',
  'fixtures/fuzz-regressions',
  'bench/c',
  'examples/quickstart',
  'examples/chat',
  'examples/echo-server',
  'examples/browser/wasm',
];

function inputs(): string[] {
  return INPUT_DIRS.flatMap((dir) => {
    let names: string[];
    try {
      names = readdirSync(join(projectRoot, dir));
    } catch {
      return [];
    }
    return names
      .filter((name) => name.endsWith('.wasm') && !name.endsWith('.inst.wasm'))
      .sort()
      .map((name) => `${dir}/${name}`);
  });
}

async function digests(): Promise<Record<string, string>> {
  const scratch = mkdtempSync(join(tmpdir(), 'lunatic-identical-'));
  const result: Record<string, string> = {};
  try {
    for (const input of inputs()) {
      for (const [variant, flags] of Object.entries(VARIANTS)) {
        const output = join(scratch, 'out.wasm');
        const code = await main([join(projectRoot, input), '-o', output, ...flags]);
        result[`${input} ${variant}`] = code === 0 ? createHash('sha256').update(readFileSync(output)).digest('hex') : `exit ${code}`;
        rmSync(output, { force: true });
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return result;
}

function compare(expected: Record<string, string>, actual: Record<string, string>): string[] {
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return keys.flatMap((key) => {
    if (expected[key] === actual[key]) return [];
    return [`${key}: ${expected[key] ?? '(not in the manifest)'} -> ${actual[key] ?? '(no longer instrumented)'}`];
  });
}

const actual = await digests();
if (process.argv.includes('--write')) {
  await writeFileWhole(MANIFEST, `${JSON.stringify(actual, null, 2)}\n`);
  process.stdout.write(`recorded ${Object.keys(actual).length} digests in ${relative(projectRoot, MANIFEST)}\n`);
} else {
  const differences = compare(JSON.parse(readFileSync(MANIFEST, 'utf8')) as Record<string, string>, actual);
  for (const line of differences) process.stdout.write(`differs: ${line}\n`);
  process.stdout.write(
    `${Object.keys(actual).length - differences.length} of ${Object.keys(actual).length} outputs identical to ${relative(projectRoot, MANIFEST)}\n`,
  );
  process.exitCode = differences.length ? 1 : 0;
}
