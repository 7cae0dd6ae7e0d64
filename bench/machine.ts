// What the figures were measured on: CPU, cores, memory, OS, the Node versions and binaryen's.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { nativeWasmOpt, projectRoot } from './paths.js';
import type { Machine } from './results.js';

function versionOf(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 20_000 }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

/** `node --version` of another Node binary. */
export function nodeVersion(node: string): Promise<string> {
  return new Promise((resolve) => execFile(node, ['--version'], (_error, stdout) => resolve(stdout.trim())));
}

export function describeMachine(node24: string | undefined): Machine {
  const binaryen = JSON.parse(readFileSync(join(projectRoot, 'node_modules/binaryen/package.json'), 'utf8')) as { version: string };
  const node24Version = node24 ? versionOf(node24, ['--version']) : undefined;
  const native = existsSync(nativeWasmOpt) ? versionOf(nativeWasmOpt, ['--version']) : undefined;
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    ...(node24Version ? { node24: node24Version } : {}),
    binaryen: binaryen.version,
    ...(native ? { wasmOptNative: native } : {}),
  };
}

/** The commit the benchmark ran on, when this is a git checkout. */
export function currentCommit(): string | undefined {
  return versionOf('git', ['-C', projectRoot, 'rev-parse', '--short', 'HEAD']);
}
