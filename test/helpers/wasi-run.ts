// The reference runner: executes a wasm32-wasi command module under plain `node:wasi`
// (preview1) in a child Node process, so a trap or a stack overflow cannot take the test worker
// down and the program's stdio are real file descriptors. Instrumented modules run too: the
// child services `lunatic.yield` by refilling `lunatic_reductions` and counts the calls, but
// never unwinds (Asyncify exports are ignored, every call is a plain call). Tests compare the
// lunatic runtime against this runner's output.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from './tools.js';

export interface WasiRunOptions {
  /** argv[1..]; argv[0] is always the module's name. */
  args?: string[];
  /** The whole environment the program sees (nothing is inherited). */
  env?: Record<string, string>;
  /** Fed to the program's stdin, which is then closed; an empty stdin by default. */
  stdin?: string | Uint8Array;
  /** Preopened directories, as node:wasi takes them: guest path -> host path. */
  preopens?: Record<string, string>;
  /** Budget the host puts into `lunatic_reductions` at start and on every yield (default 10_000). */
  slice?: number;
  /** The child is killed and runWasi rejects after this long (default 60 s). */
  timeoutMs?: number;
}

export interface WasiRunResult {
  stdout: Buffer;
  stderr: Buffer;
  /** The program's exit code; TRAP_EXIT_CODE when it trapped. */
  exitCode: number;
  /** How many times the module called `lunatic.yield` (0 when it does not import it). */
  yields: number;
  /** The trap's first line (e.g. "RuntimeError: unreachable") when the module trapped. */
  trap?: string;
}

/** Exit code of a run that ended in a trap (as a process killed by SIGABRT would report). */
export const TRAP_EXIT_CODE = 134;

const DEFAULT_SLICE = 10_000;
const DEFAULT_TIMEOUT_MS = 60_000;
const REPORT_FD = 3;

/**
 * The child: argv = [module path, JSON options]. Stdout/stderr belong to the program; the
 * report `{ yields, trap? }` goes to fd 3. A trap prints its stack (with wasm function names
 * from the name section) on stderr.
 */
const CHILD_SCRIPT = `
import { WASI } from 'node:wasi';
import { readFileSync, writeSync } from 'node:fs';
const [modulePath, optionsJson] = process.argv.slice(-2);
const options = JSON.parse(optionsJson);
const wasi = new WASI({ version: 'preview1', returnOnExit: true, args: options.args, env: options.env, preopens: options.preopens });
const module = await WebAssembly.compile(readFileSync(modulePath));
const needsYield = WebAssembly.Module.imports(module).some((i) => i.module === 'lunatic' && i.name === 'yield');
let yields = 0;
let instance;
const refill = () => { const budget = instance?.exports.lunatic_reductions; if (budget) budget.value = options.slice; };
const imports = { ...wasi.getImportObject() };
if (needsYield) imports.lunatic = { yield: () => { yields++; refill(); } };
const report = {};
try {
  instance = await WebAssembly.instantiate(module, imports);
  refill();
  process.exitCode = wasi.start(instance);
} catch (error) {
  report.trap = String(error).split('\\n')[0];
  process.stderr.write((error && error.stack) || report.trap);
  process.stderr.write('\\n');
  process.exitCode = ${TRAP_EXIT_CODE};
}
report.yields = yields;
writeSync(${REPORT_FD}, JSON.stringify(report));
`;

/** Runs `bytes` as a WASI command in a fresh Node child process. */
export async function runWasi(bytes: Uint8Array, opts: WasiRunOptions = {}): Promise<WasiRunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'wasi-run-'));
  try {
    const modulePath = join(dir, 'program.wasm');
    await writeFile(modulePath, bytes);
    const childOptions = {
      args: ['program.wasm', ...(opts.args ?? [])],
      env: opts.env ?? {},
      preopens: opts.preopens ?? {},
      slice: opts.slice ?? DEFAULT_SLICE,
    };
    return await runChild([modulePath, JSON.stringify(childOptions)], opts.stdin, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runChild(args: string[], stdin: string | Uint8Array | undefined, timeoutMs: number): Promise<WasiRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', CHILD_SCRIPT, '--', ...args], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const report: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    (child.stdio[REPORT_FD] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => report.push(chunk));
    // The program may exit without reading all of its stdin: that EPIPE is not an error.
    child.stdin!.on('error', () => {});
    child.stdin!.end(stdin ?? '');

    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`runWasi: the program did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const errText = Buffer.concat(stderr);
      const reportText = Buffer.concat(report).toString();
      if (!reportText) {
        reject(new Error(`runWasi: the runner died (code ${code}, signal ${signal}) without a report:\n${errText}`));
        return;
      }
      const { yields, trap } = JSON.parse(reportText) as { yields: number; trap?: string };
      resolve({ stdout: Buffer.concat(stdout), stderr: errText, exitCode: code ?? TRAP_EXIT_CODE, yields, ...(trap ? { trap } : {}) });
    });
  });
}

export const fixturesDir = join(projectRoot, 'fixtures');

/** Absolute paths of the compiled C fixtures (fixtures/c/*.wasm), sorted by name. */
export function cFixtures(): string[] {
  const cDir = join(fixturesDir, 'c');
  return readdirSync(cDir)
    .filter((name) => name.endsWith('.wasm'))
    .sort()
    .map((name) => join(cDir, name));
}
