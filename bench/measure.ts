// Child processes, measured: one program run through bench/driver.ts (time reported by the child,
// output hashed to check that instrumented runs compute the same thing), or one tool run (wall
// time from here, peak RSS from the child). One child at a time, so runs do not disturb each other.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DriverResult, type DriverSpec, RESULT_FD } from './driver-protocol.js';

interface ChildOutput {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** What the child wrote on RESULT_FD. */
  result: string;
  ms: number;
}

/** Runs a command to completion, collecting stdout, stderr and the extra result pipe. */
export function runChild(command: string, args: string[], timeoutMs: number): Promise<ChildOutput> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    const [stdout, stderr, result] = [1, 2, RESULT_FD].map((fd) => {
      const chunks: Buffer[] = [];
      (child.stdio[fd] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => chunks.push(chunk));
      return chunks;
    }) as [Buffer[], Buffer[], Buffer[]];
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        code,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString(),
        result: Buffer.concat(result).toString(),
        ms: performance.now() - started,
      });
    });
  });
}

/** The last line of a child's stderr, for one-line failure notes. */
function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** Hash of what a program produced: its stdout and every file it wrote into its output dir. */
function outputChecksum(stdout: Buffer, outputDir: string): string {
  const hash = createHash('sha256').update(stdout);
  for (const name of readdirSync(outputDir).sort()) hash.update(name).update(readFileSync(join(outputDir, name)));
  return hash.digest('hex');
}

export interface ProgramRun extends DriverResult {
  checksum: string;
}

const DRIVER = fileURLToPath(new URL('./driver.js', import.meta.url));
/** The guest directory a program may write its output files to. */
export const OUTPUT_DIR = '/out';

/** Runs one program once in a fresh child of `node`; throws with a one-line reason on failure. */
export async function runProgram(node: string, spec: Omit<DriverSpec, 'preopens'>, timeoutMs: number): Promise<ProgramRun> {
  const outputDir = mkdtempSync(join(tmpdir(), 'lunatic-bench-'));
  try {
    const full: DriverSpec = { ...spec, preopens: { [OUTPUT_DIR]: outputDir } };
    const child = await runChild(node, ['--no-warnings', DRIVER, JSON.stringify(full)], timeoutMs);
    if (child.code !== 0 || !child.result) throw new Error(`driver failed (exit ${child.code}): ${lastLine(child.stderr) || 'no result'}`);
    const result = JSON.parse(child.result) as DriverResult;
    if (result.exitCode !== 0) throw new Error(`program exited with ${result.exitCode}: ${lastLine(child.stderr)}`);
    return { ...result, checksum: outputChecksum(child.stdout, outputDir) };
  } finally {
    rmSync(outputDir, { recursive: true, force: true });
  }
}

export interface ToolRun {
  ms: number;
  cpuMs?: number;
  maxRssKiB?: number;
}

const RSS_REPORTER = new URL('./rss-reporter.js', import.meta.url).href;
/** Peak RSS in KiB, user and system CPU seconds: written by rss-reporter or /usr/bin/time. */
const USAGE_MARK = /@@usage (\d+) ([\d.]+) ([\d.]+)/;
const TIME = '/usr/bin/time';

/**
 * Runs one instrumenting tool once. A Node script gets rss-reporter preloaded; a native binary
 * runs under /usr/bin/time when it exists (else its memory and CPU time are not measured).
 */
export async function runTool(command: { node?: string; program: string; args: string[] }, timeoutMs: number): Promise<ToolRun> {
  let child: ChildOutput;
  if (command.node) {
    child = await runChild(command.node, ['--import', RSS_REPORTER, command.program, ...command.args], timeoutMs);
  } else if (existsSync(TIME)) {
    child = await runChild(TIME, ['-f', '@@usage %M %U %S', command.program, ...command.args], timeoutMs);
  } else {
    child = await runChild(command.program, command.args, timeoutMs);
  }
  if (child.code !== 0)
    throw new Error(
      `${command.program} failed (exit ${child.code ?? 'killed: timeout'}): ${lastLine(child.stderr.replace(USAGE_MARK, ''))}`,
    );
  const usage = USAGE_MARK.exec(child.stderr);
  if (!usage) return { ms: child.ms };
  return { ms: child.ms, maxRssKiB: Number(usage[1]), cpuMs: (Number(usage[2]) + Number(usage[3])) * 1000 };
}
