// Shrinks a module that mismatches into a small regression fixture with binaryen's wasm-reduce,
// keeping only reductions for which scripts/fuzz/check.ts prints the same signature (same
// variant, same kind of difference). Run after `npm run build`:
//
//   node dist/scripts/fuzz/reduce.js fuzz-findings/seed-28-npm.wasm --seed 28 \
//     [--variant reductions/refill] [--generator npm|native] -o fixtures/fuzz-regressions/x.wasm
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PROFILES } from './generate.js';

const run = promisify(execFile);

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** wasm-reduce and the directory of the wasm-opt it drives, from npm's binaryen or the system. */
function reducer(generator: string): { exe: string[]; binaries: string } {
  if (generator === 'native') return { exe: ['/usr/bin/wasm-reduce'], binaries: '/usr/bin' };
  const bin = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'node_modules', 'binaryen', 'bin');
  return { exe: [process.execPath, join(bin, 'wasm-reduce')], binaries: bin };
}

async function main(argv: string[]): Promise<number> {
  const [input] = argv;
  const output = option(argv, '-o');
  const seed = option(argv, '--seed') ?? '0';
  const variant = option(argv, '--variant');
  if (!input || !output) {
    console.error('usage: reduce.js module.wasm --seed S [--variant NAME] [--generator npm|native] -o out.wasm');
    return 2;
  }
  const dir = await mkdtemp(join(tmpdir(), 'lunatic-reduce-'));
  try {
    const check = [
      process.execPath,
      join(dirname(fileURLToPath(import.meta.url)), 'check.js'),
      join(dir, 'test.wasm'),
      '--seed',
      seed,
      ...(variant ? ['--variant', JSON.stringify(variant)] : []),
    ];
    const { exe, binaries } = reducer(option(argv, '--generator') ?? 'npm');
    // Every profile's features: a reduction must stay within what the fuzzer may have generated.
    const features = [...new Set(PROFILES.flatMap((profile) => profile.flags))].join(' ');
    const [command, ...args] = exe;
    await run(
      command!,
      [
        ...args,
        input,
        '-t',
        join(dir, 'test.wasm'),
        '-w',
        join(dir, 'work.wasm'),
        '-b',
        binaries,
        '--timeout',
        '120',
        '--extra-flags',
        features,
        '--command',
        check.join(' '),
      ],
      { maxBuffer: 64 << 20 },
    );
    await copyFile(join(dir, 'work.wasm'), output);
    const before = (await stat(input)).size;
    const after = (await readFile(output)).length;
    console.log(`${input}: ${before} -> ${after} bytes, written to ${output}`);
    return 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2));
