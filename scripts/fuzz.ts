// `npm run fuzz -- --count N --seed S`: differential fuzzing of the instrumenter. Generates N
// modules with binaryen's fuzzer from seeds S..S+N-1, compares each with its instrumented
// versions (scripts/fuzz/campaign.ts), prints a summary and the seed of every mismatch, and
// saves the mismatching modules so they can be reduced into fixtures/fuzz-regressions/.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { type Finding, runCampaign, type Summary } from './fuzz/campaign.js';
import { generateModule, generatorCommand, type GeneratorName, PROFILES } from './fuzz/generate.js';

interface Args {
  count: number;
  seed: number;
  generator: GeneratorName;
  jobs: number;
  save: string;
  profile?: string;
}

function parseArgs(): Args {
  return yargs(hideBin(process.argv))
    .scriptName('npm run fuzz --')
    .option('count', { type: 'number', default: 100, describe: 'how many modules to generate' })
    .option('seed', { type: 'number', default: 1, describe: 'the first seed (then seed+1, ...)' })
    .option('generator', {
      choices: ['npm', 'native'] as const,
      default: 'npm' as GeneratorName,
      describe: "npm: binaryen's wasm-opt from node_modules (reproducible); native: /usr/bin/wasm-opt (faster, another version)",
    })
    .option('jobs', { type: 'number', default: 2, describe: 'generator processes running ahead' })
    .option('save', { type: 'string', default: 'fuzz-findings', describe: 'directory for the modules that mismatch' })
    .option('profile', {
      choices: PROFILES.map((profile) => profile.name),
      describe: "every module's features (default: the seed's, core or tail-ref; simd only when named)",
    })
    .strict()
    .parseSync() as Args;
}

function describe(finding: Finding): string {
  return `seed ${finding.seed} (${finding.profile}) ${finding.variant}: ${finding.difference.what}: ${finding.difference.detail}`;
}

function printSummary(summary: Summary, args: Args): void {
  const profiles = Object.entries(summary.profiles)
    .map(([name, n]) => `${n} ${name}`)
    .join(', ');
  console.log(
    `\n${summary.modules} modules (${profiles}) from seeds ${args.seed}..${args.seed + args.count - 1}, generator ${args.generator}, in ${(summary.milliseconds / 1000).toFixed(1)} s`,
  );
  console.log(
    `${summary.runs} instrumented runs, ${summary.exportsCalled} export calls, ${summary.yields} yields, ${summary.suspensions} suspensions (unwind + rewind)`,
  );
  for (const [reason, seeds] of Object.entries(summary.refused))
    console.log(`refused by the instrumenter (${seeds.length}): ${reason} - seeds ${seeds.join(' ')}`);
  for (const [reason, seeds] of Object.entries(summary.skipped))
    console.log(`skipped (${seeds.length}): ${reason} - seeds ${seeds.join(' ')}`);
  for (const [variant, seeds] of Object.entries(summary.stackLimited))
    console.log(
      `inconclusive (${seeds.length}): ${variant} overflowed the engine's stack at another depth than the original - seeds ${seeds.join(' ')}`,
    );
  console.log(summary.findings.length === 0 ? 'no mismatches' : `${summary.findings.length} mismatches:`);
  for (const finding of summary.findings) console.log(`  ${describe(finding)}`);
}

async function saveFindings(findings: Finding[], args: Args, command: string[]): Promise<void> {
  if (findings.length === 0) return;
  await mkdir(args.save, { recursive: true });
  for (const seed of new Set(findings.map((f) => f.seed))) {
    const { bytes } = await generateModule(seed, command, args.profile);
    await writeFile(join(args.save, `seed-${seed}-${args.generator}.wasm`), bytes);
  }
  console.log(`modules saved in ${args.save}/; reduce one with scripts/fuzz/reduce.ts (see docs/robustness.md)`);
}

async function main(): Promise<number> {
  const args = parseArgs();
  const command = generatorCommand(args.generator);
  if (!command) {
    console.error(`fuzz: the ${args.generator} wasm-opt is not installed (npm: node_modules/binaryen; native: Debian package binaryen)`);
    return 1;
  }
  const seeds = Array.from({ length: args.count }, (_, i) => args.seed + i);
  const summary = await runCampaign({
    seeds,
    generator: command,
    jobs: args.jobs,
    ...(args.profile ? { profile: args.profile } : {}),
    onModule: (seed, findings) => {
      for (const finding of findings) console.log(`MISMATCH ${describe(finding)}`);
      if ((seed - args.seed + 1) % 25 === 0) console.log(`... ${seed - args.seed + 1}/${args.count}`);
    },
  });
  printSummary(summary, args);
  await saveFindings(summary.findings, args, command);
  return summary.findings.length === 0 ? 0 : 1;
}

process.exitCode = await main();
