// Running a command at test time (a build step, a program): its exit code and output, with
// optional stdin.
import { spawn } from 'node:child_process';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Kills the command (SIGKILL) after this long: a test that gave up on it must not leave it running (default: vitest's hook timeout). */
  timeoutMs?: number;
}

/** vitest.config.ts's hookTimeout: the longest any test or hook waits for a command. */
const LONGEST_WAIT_MS = 300_000;

export function run(
  cmd: string,
  args: string[],
  { cwd, input = '', env = process.env, timeoutMs = LONGEST_WAIT_MS }: RunOptions,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: 'pipe', timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    // A step that exits without reading its input (make, cmake) closes the pipe first: the EPIPE
    // that follows is expected, and the exit code still tells the outcome.
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(input);
  });
}

/** Runs a build step and fails the test with its log when it does not exit 0. */
export async function build(cmd: string, args: string[], options: RunOptions): Promise<string> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result.stdout + result.stderr;
}
