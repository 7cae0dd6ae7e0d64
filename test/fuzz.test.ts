// Differential fuzzing of the instrumenter (scripts/fuzz/): first that the harness itself can
// tell same from different (a module against itself; deliberately broken transforms, one per
// thing it observes), then a fixed-seed campaign of binaryen-generated modules against their
// instrumented versions, then the minimized modules of past mismatches (fixtures/fuzz-regressions/).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { loadWabt } from '../src/wabt.js';
import { checkModule, emptySummary, type Finding, runCampaign, type Transform, VARIANTS } from '../scripts/fuzz/campaign.js';
import { compare } from '../scripts/fuzz/compare.js';
import { generatorCommand } from '../scripts/fuzz/generate.js';
import { inCI, projectRoot, requireTool } from './helpers/tools.js';

async function wat(text: string): Promise<Uint8Array> {
  const wabt = await loadWabt();
  const module = wabt.parseWat('case.wat', text, { multi_value: true, bulk_memory: true });
  try {
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

const describeFinding = (f: Finding) => `seed ${f.seed} ${f.variant}: ${f.difference.what}: ${f.difference.detail}`;

/** The generator for the campaign: the native wasm-opt (fast), else npm's on fewer seeds. */
function campaignGenerator(): { command: string[]; seeds: number } | undefined {
  const native = generatorCommand('native');
  if (native) return { command: native, seeds: 58 }; // about 50 valid modules
  if (inCI) requireTool('native wasm-opt', undefined, 'Debian package binaryen');
  const npm = generatorCommand('npm');
  if (!npm) return undefined;
  console.warn('native wasm-opt not found (Debian package binaryen): fuzzing 12 modules from the slower npm wasm-opt instead');
  return { command: npm, seeds: 12 };
}

describe('the fuzz harness', () => {
  it('finds no difference between a generated module and itself', async () => {
    const generator = generatorCommand('native') ?? generatorCommand('npm');
    expect(generator).toBeDefined();
    const identity: Transform = async (bytes) => bytes;
    const summary = await runCampaign({
      seeds: [2, 4, 5],
      generator: generator!,
      transform: identity,
      variants: [{ name: 'identity', options: {}, mode: 'refill' }],
    });
    expect(summary.modules).toBeGreaterThan(0);
    expect(summary.exportsCalled).toBeGreaterThan(0);
    expect(summary.findings.map(describeFinding)).toEqual([]);
  });

  it('calls a first difference at a stack overflow inconclusive, but not one before it', () => {
    const run = (...events: string[]) => ({ events, globals: [], memory: undefined, yields: 0, suspensions: 0 });
    const original = run('call-export f', 'caught stack overflow', 'f() = 1');
    expect(compare(original, run('call-export f', 'call-export f', 'f() = 1'))?.what).toBe('stack limit');
    expect(compare(run('f() ! stack overflow'), run('f() = 3'))?.what).toBe('stack limit');
    expect(compare(original, run('call-export g', 'caught stack overflow', 'f() = 1'))?.what).toBe('events');
    expect(compare(original, original)).toBeUndefined();
    // An error raised at the limit while describing the overflow still counts as one.
    expect(
      compare(run('caught SyntaxError Invalid regular expression: Maximum call stack size exceeded'), run('call-export f'))?.what,
    ).toBe('stack limit');
  });

  // Each case: a program, the same program with one change, and what the harness must report.
  const BROKEN: Array<{ name: string; text: string; from: string; to: string; what: string | undefined }> = [
    {
      name: 'a result',
      text: '(module (func (export "f") (param i32) (result i32) local.get 0 i32.const 41 i32.add))',
      from: 'i32.const 41',
      to: 'i32.const 42',
      what: 'events',
    },
    {
      name: 'the kind of trap',
      text: '(module (func (export "f") (result i32) i32.const 1 i32.const 0 i32.div_u))',
      from: 'div_u',
      to: 'rem_u',
      what: 'events',
    },
    {
      name: 'a host call',
      text: '(module (import "fuzzing-support" "log-i32" (func $log (param i32))) (func (export "f") i32.const 7 call $log))',
      from: 'i32.const 7',
      to: 'i32.const 8',
      what: 'events',
    },
    {
      name: 'a memory byte',
      text: '(module (memory 1) (func (export "f") i32.const 100 i32.const 5 i32.store))',
      from: 'i32.const 5',
      to: 'i32.const 6',
      what: 'memory',
    },
    {
      name: 'the memory size',
      text: '(module (memory 1 4) (func (export "f") i32.const 1 memory.grow drop))',
      from: 'const 1',
      to: 'const 2',
      what: 'memory size',
    },
    {
      name: 'an exported global',
      text: '(module (global (export "g") (mut i32) (i32.const 0)) (func (export "f") i32.const 3 global.set 0))',
      from: 'i32.const 3',
      to: 'i32.const 4',
      what: 'globals',
    },
    {
      name: 'zero and minus zero',
      text: '(module (func (export "f") (result f64) f64.const 0))',
      from: 'const 0',
      to: 'const -0',
      what: 'events',
    },
    // NaN payloads may change under binaryen's optimizer, legitimately: not a difference.
    {
      name: 'nothing for another NaN payload',
      text: '(module (func (export "f") (result f32) f32.const nan:0x200000))',
      from: '0x200000',
      to: '0x400001',
      what: undefined,
    },
    // ... nor when it is stored to memory (fuzz seed 720716: binaryen folded a division into the canonical NaN).
    {
      name: 'nothing for another NaN payload stored to memory',
      text: '(module (memory 1) (func (export "f") i32.const 22 f32.const 206 f32.const -nan:0x7f8565 f32.div f32.store))',
      from: '-nan:0x7f8565',
      to: 'nan:0x400000',
      what: undefined,
    },
    {
      name: 'a NaN stored in place of a number',
      text: '(module (memory 1) (func (export "f") i32.const 22 f64.const 1.5 f64.store))',
      from: 'f64.const 1.5',
      to: 'f64.const nan',
      what: 'memory',
    },
  ];

  for (const { name, text, from, to, what } of BROKEN) {
    it(`detects a transform that changes ${name}`, async () => {
      const broken = await wat(text.replace(from, to));
      const transform: Transform = async (_bytes, options) => (await instrument(broken, options)).binary;
      const summary = emptySummary();
      const findings = await checkModule({ seed: 1, profile: 'wat', bytes: await wat(text) }, { transform }, summary);
      expect(summary.runs).toBe(VARIANTS.length);
      expect(findings.map((f) => f.difference.what)).toEqual(what ? VARIANTS.map(() => what) : []);
    });
  }

  it('suspends and resumes a loop at every yield without changing what it computes', async () => {
    // The end is a mutable global, so the loop is not a counted loop and keeps its check.
    const text = `(module (import "fuzzing-support" "log-i32" (func $log (param i32))) (memory 1)
      (global $end (mut i32) (i32.const 300))
      (func (export "f") (param $n i32) (result i32) (local $i i32) (local $sum i32)
        (loop $l
          (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $i) (local.get $i))))
          (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $sum))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (global.get $end))))
        (call $log (local.get $sum)) (local.get $sum)))`;
    const summary = emptySummary();
    const findings = await checkModule({ seed: 2, profile: 'wat', bytes: await wat(text) }, {}, summary);
    expect(findings.map(describeFinding)).toEqual([]);
    // seed 2's slice is 1: a pause at every check, one per two iterations of the unrolled loop.
    expect(summary.suspensions).toBeGreaterThanOrEqual(150);
  });
});

describe('differential fuzzing of instrument()', () => {
  const generator = campaignGenerator();
  it.skipIf(!generator)('a fixed-seed campaign finds no mismatch', async () => {
    const seeds = Array.from({ length: generator!.seeds }, (_, i) => 1000 + i);
    const summary = await runCampaign({ seeds, generator: generator!.command });
    console.log(
      `fuzz: ${summary.modules} modules, ${summary.runs} runs, ${summary.exportsCalled} export calls, ${summary.yields} yields, ${summary.suspensions} suspensions in ${summary.milliseconds} ms`,
    );
    expect(summary.modules).toBeGreaterThanOrEqual(Math.floor(generator!.seeds * 0.6));
    expect(summary.suspensions).toBeGreaterThan(0);
    expect(summary.findings.map(describeFinding)).toEqual([]);
  });

  // Native only: npm's binaryen 132 generates no module with exceptions that Node 20 compiles.
  const native = generatorCommand('native');
  it.skipIf(!native)('modules that throw and catch: refused for Asyncify, counters alone the same', async () => {
    const variants = VARIANTS.filter((v) => v.name === 'asyncify+reductions/refill' || v.name === 'reductions/refill');
    const seeds = Array.from({ length: 40 }, (_, i) => 800000 + i);
    const summary = await runCampaign({ seeds, generator: native!, profile: 'eh', variants });
    const refused = Object.entries(summary.refused).flatMap(([message, of]) => (/uses exception handling/.test(message) ? of : []));
    expect(summary.modules).toBeGreaterThanOrEqual(30);
    expect(refused.length).toBeGreaterThanOrEqual(15); // those with exceptions, which the counters-only runs still ran
    expect(summary.runs).toBe(summary.modules * 2 - refused.length);
    expect(summary.findings.map(describeFinding)).toEqual([]);
  });
});

/** Minimized modules of past mismatches, each with a JSON note of where it came from. */
interface Regression {
  seed: number;
  variant: string;
  found: string;
  /** Set while the instrumenter still fails on it: the test then runs as it.fails. */
  knownIssue?: string;
  /** The variant overflows the engine's stack at another depth than the original: inconclusive. */
  stackLimited?: boolean;
}

describe('fuzz regressions (fixtures/fuzz-regressions/)', async () => {
  const dir = join(projectRoot, 'fixtures/fuzz-regressions');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.wasm'));
  it('has the minimized modules of the mismatches found so far', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    const note = JSON.parse(await readFile(join(dir, file.replace(/\.wasm$/, '.json')), 'utf8')) as Regression;
    (note.knownIssue ? it.fails : it)(`${file}: ${note.found}`, async () => {
      const bytes = new Uint8Array(await readFile(join(dir, file)));
      const summary = emptySummary();
      const findings = await checkModule({ seed: note.seed, profile: 'regression', bytes }, {}, summary);
      expect(summary.modules).toBe(1);
      expect(findings.map(describeFinding)).toEqual([]);
      // Where the stack runs out depends on the thread running the test: both sides may also overflow alike.
      if (note.stackLimited) expect(summary.stackLimited[note.variant] ?? [note.seed]).toEqual([note.seed]);
    });
  }
});
