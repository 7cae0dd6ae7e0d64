// README's quickstart, as a user runs it right after `npm install`: instrument the committed
// examples/quickstart/quickstart.wasm with the CLI, run it, and see preemption (two spinners that
// never yield take turns) and a blocking read (main waits in fgets while the spinners run to the
// end: the line is only sent once both have finished).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const dir = mkdtempSync(join(tmpdir(), 'lunatic-quickstart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  lines: string[];
}

/** Runs the module, sending a line on stdin once both spinners have printed their last round. */
function runQuickstart(module: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    // One thread, as the README runs it: the spinners must take turns (on two they would not need to).
    const child = spawn(process.execPath, [BIN, 'run', module, '--threads', '1'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/spinner 1: round 3 of 3/.test(stdout) && /spinner 2: round 3 of 3/.test(stdout) && child.stdin.writable)
        child.stdin.end('hello\n');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, lines: stdout.trim().split('\n') }));
  });
}

describe('the quickstart', () => {
  it('instruments the example, then runs it: the spinners take turns while main waits in a read', async () => {
    const output = join(dir, 'quickstart.inst.wasm');
    execFileSync(process.execPath, [BIN, join(projectRoot, 'examples/quickstart/quickstart.wasm'), '-o', output]);
    const { code, lines } = await runQuickstart(output);
    expect(code).toBe(0);
    expect(lines[0]).toBe('main: two spinners started; waiting for a line on stdin');
    // Preemption: each spinner's first round ends before either's last one.
    const lastRoundStart = Math.min(lines.indexOf('spinner 1: round 3 of 3'), lines.indexOf('spinner 2: round 3 of 3'));
    expect(lines.indexOf('spinner 1: round 1 of 3')).toBeLessThan(lastRoundStart);
    expect(lines.indexOf('spinner 2: round 1 of 3')).toBeLessThan(lastRoundStart);
    // The blocking read: main read only after the spinners were done, so it did not hold them up.
    expect(lines.slice(-2)).toEqual(['main: read hello', 'main: both spinners done']);
    expect(lines.filter((line) => line.startsWith('spinner'))).toHaveLength(6);
  });
});
