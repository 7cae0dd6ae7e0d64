// Checks one module file the way a campaign checks a generated one and prints a stable
// signature of what went wrong (variant and kind of difference, not the exact values), exit
// code 1 when anything did. This is the "interestingness" command wasm-reduce runs on every
// candidate (scripts/fuzz/reduce.ts): it keeps a reduction only when the signature is unchanged.
//
//   node dist/scripts/fuzz/check.js module.wasm --seed S [--variant NAME]
import { readFile } from 'node:fs/promises';
import { checkModule, emptySummary, type Finding, VARIANTS } from './campaign.js';

/** A finding without its details: wasm-reduce must keep the kind, values may change. */
function signature(finding: Finding): string {
  const { what, detail } = finding.difference;
  return what === 'instrumenter error' ? `${finding.variant}: ${what}: ${detail}` : `${finding.variant}: ${what}`;
}

async function checkFile(path: string, seed: number, variant?: string): Promise<string[]> {
  const bytes = new Uint8Array(await readFile(path));
  const variants = VARIANTS.filter((v) => variant === undefined || v.name === variant);
  if (variants.length === 0) throw new Error(`unknown variant ${variant}; one of: ${VARIANTS.map((v) => v.name).join(', ')}`);
  const summary = emptySummary();
  const findings = await checkModule({ seed, profile: 'file', bytes }, { variants }, summary);
  if (summary.modules === 0) return [`not comparable: ${Object.keys(summary.skipped).join('; ')}`];
  return [...new Set(findings.map(signature))].sort();
}

async function main(argv: string[]): Promise<number> {
  const [path] = argv;
  const option = (name: string) => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  if (!path) {
    console.error('usage: check.js module.wasm --seed S [--variant NAME]');
    return 2;
  }
  const lines = await checkFile(path, Number(option('seed') ?? 0), option('variant'));
  for (const line of lines) console.log(line);
  return lines.length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
