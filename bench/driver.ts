// The benchmark's program driver: runs ONE wasm32-wasi command module in this (child) process
// under node:wasi and reports how long it took (bench/driver-protocol.ts). The parent starts one
// child per run so that runs do not disturb each other.
//
// A minimal stand-in for the real runtime (src/runtime), which has no WASI host module yet: switch
// to `lunatic-instrument run` once it can run these programs. Modes:
//   plain     the module as is (also instrumented modules that do not import `lunatic.yield`)
//   asyncify  `lunatic.yield` refills `lunatic_reductions` and really suspends the module: Asyncify
//             unwind, one trip through the microtask queue, rewind (docs/ABI.md). That is what a
//             scheduler does when another process is runnable: the worst case for one process.
//   jspi      the same with JSPI (Node 24): `yield` is a `WebAssembly.Suspending` async function
//             and `_start` runs under `WebAssembly.promising`.
//   refill    `lunatic.yield` refills the counter and returns: what a process alone pays between
//             its suspensions (the runtime suspends one only when another is runnable or the
//             event loop is due): the checks and the fast path's code, no unwind or rewind.
import { writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { prepareEngine } from '../src/runtime/node/engine.js';
import { type DriverResult, type DriverSpec, RESULT_FD } from './driver-protocol.js';

const UNWINDING = 1;
const REWINDING = 2;
const PAGE = 65536;

/** JSPI, which TypeScript's lib does not describe yet (Node 24, Chrome 137). */
const jspi = WebAssembly as unknown as {
  Suspending: new (fn: () => Promise<void>) => unknown;
  promising: (fn: () => void) => () => Promise<void>;
};

class ProgramExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

interface ProgramExports {
  memory: WebAssembly.Memory;
  _start(): void;
  lunatic_reductions: WebAssembly.Global;
  lunatic_reserved_pages: WebAssembly.Global;
  asyncify_start_unwind(data: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(data: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
}

/** Writes Asyncify's data struct at the start of the reserved tail of memory 0; returns its address. */
function writeAsyncifyData(exports: ProgramExports): number {
  const end = exports.memory.buffer.byteLength;
  const data = end - exports.lunatic_reserved_pages.value * PAGE;
  const view = new DataView(exports.memory.buffer);
  view.setInt32(data, data + 8, true);
  view.setInt32(data + 4, end, true);
  return data;
}

/** The `lunatic` import namespace for a mode (none for plain runs). */
function lunaticImports(
  spec: DriverSpec,
  program: () => ProgramExports,
  suspended: (data: number) => void,
  counted: () => void,
): WebAssembly.ModuleImports | undefined {
  const refill = (): void => {
    program().lunatic_reductions.value = spec.reductions;
    counted();
  };
  if (spec.mode === 'jspi') return { yield: new jspi.Suspending(async () => refill()) as WebAssembly.ImportValue };
  if (spec.mode === 'refill') return { yield: refill };
  if (spec.mode !== 'asyncify') return undefined;
  return {
    yield: () => {
      const exports = program();
      if (exports.asyncify_get_state() === REWINDING) return exports.asyncify_stop_rewind();
      refill();
      const data = writeAsyncifyData(exports);
      suspended(data);
      exports.asyncify_start_unwind(data);
    },
  };
}

/** Calls `_start` again and again through Asyncify suspensions until it really returns. */
async function runAsyncified(exports: ProgramExports, suspendedData: () => number): Promise<void> {
  for (;;) {
    exports._start();
    if (exports.asyncify_get_state() !== UNWINDING) return;
    exports.asyncify_stop_unwind();
    await null; // the scheduler's turn: other processes would run here
    exports.asyncify_start_rewind(suspendedData());
  }
}

/** One run of the program in a fresh instance of `module`: instantiation plus `_start`. */
async function runOnce(spec: DriverSpec, module: WebAssembly.Module): Promise<Omit<DriverResult, 'compileMs'>> {
  const wasi = new WASI({ version: 'preview1', args: [spec.wasm, ...spec.args], env: {}, preopens: spec.preopens });
  const imports = wasi.getImportObject() as { wasi_snapshot_preview1: WebAssembly.ModuleImports } & WebAssembly.Imports;
  imports.wasi_snapshot_preview1.proc_exit = (code: number) => {
    throw new ProgramExit(code);
  };
  let exports: ProgramExports | undefined;
  let data = 0;
  let yields = 0;
  const lunatic = lunaticImports(
    spec,
    () => exports!,
    (address) => (data = address),
    () => yields++,
  );
  if (lunatic) imports.lunatic = lunatic;

  const runStart = performance.now();
  const cpuStart = process.cpuUsage();
  // Synchronously, as the runtime does (src/runtime/vessel.ts): awaiting the async instantiate
  // leaves Node's event loop idle, and Node 20 then waits (in DrainTasks) for every background
  // compile to end, so a second run waited for V8 to finish optimizing the whole module.
  exports = new WebAssembly.Instance(module, imports).exports as unknown as ProgramExports;
  wasi.initialize({ exports: { memory: exports.memory } }); // binds the memory, calls nothing
  if (lunatic) exports.lunatic_reductions.value = spec.reductions;
  let exitCode = 0;
  try {
    if (spec.mode === 'jspi') await jspi.promising(exports._start)();
    else if (spec.mode === 'asyncify') await runAsyncified(exports, () => data);
    else exports._start();
  } catch (error) {
    if (!(error instanceof ProgramExit)) throw error;
    exitCode = error.code;
  }
  const runMs = performance.now() - runStart;
  const cpu = process.cpuUsage(cpuStart);
  return { runMs, cpuMs: (cpu.user + cpu.system) / 1000, exitCode, yields };
}

async function runProgram(spec: DriverSpec): Promise<DriverResult> {
  const compileStart = performance.now();
  const module = await WebAssembly.compile(await readFile(spec.wasm));
  const compileMs = performance.now() - compileStart;
  const first = await runOnce(spec, module);
  if (!spec.warm || first.exitCode !== 0) return { compileMs, ...first };
  const second = await runOnce(spec, module);
  return { compileMs, ...first, exitCode: second.exitCode, warmRunMs: second.runMs };
}

prepareEngine(); // what the package's Node entry does for its users, for every mode alike
const result = await runProgram(JSON.parse(process.argv[2]!) as DriverSpec);
writeSync(RESULT_FD, `${JSON.stringify(result)}\n`);
