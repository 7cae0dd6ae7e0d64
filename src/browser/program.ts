// Running a WASI program as a process in a page: the WASI host module wired to callbacks
// (stdout/stderr text out, stdin pulled in) and to in-memory preopened directories, plus the
// page's clock and crypto. Sleeps and blocking reads wait on the page's event loop.
import type { Process } from '../runtime/process.js';
import type { Runtime } from '../runtime/runtime.js';
import type { HostModule, InputStream } from '../runtime/types.js';
import type { Directory } from '../runtime/wasi/fs.js';
import { wasiPreview1 } from '../runtime/wasi/index.js';
import { type InputSource, pulledInput, textOutput, type TextSink } from './stdio.js';

export interface ProgramOptions {
  /** argv, program name first (default ['program']). */
  args?: string[];
  env?: Record<string, string>;
  /** Gets the program's standard output as text (default: dropped). */
  stdout?: TextSink;
  /** Gets the program's standard error as text (default: dropped). */
  stderr?: TextSink;
  /**
   * Standard input: a stream (e.g. a QueueInput the page pushes typed lines into), or a callback
   * called when the program reads and nothing is buffered. Default: end of input at once.
   */
  stdin?: InputStream | InputSource;
  /** Directories the program sees, by guest path: e.g. { '/data': memoryDirectory }. */
  preopens?: Record<string, Directory>;
  /** More import providers (your own host functions); they override WASI name by name. */
  hostModules?: HostModule[];
}

/** Fetches and compiles a module (streaming when the server sends application/wasm, which it requires). */
export async function loadModule(url: string | URL): Promise<WebAssembly.Module> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  if (response.headers.get('content-type')?.startsWith('application/wasm')) return WebAssembly.compileStreaming(response);
  return WebAssembly.compile(await response.arrayBuffer());
}

/** Starts `module` as a process of `runtime`; its end shows in `process.exited`. */
export function spawnProgram(runtime: Runtime, module: WebAssembly.Module | Uint8Array, options: ProgramOptions = {}): Process {
  const wasi = wasiPreview1({
    args: options.args ?? ['program'],
    env: options.env ?? {},
    preopens: Object.entries(options.preopens ?? {}).map(([guestPath, dir]) => ({ guestPath, dir })),
    stdin: typeof options.stdin === 'object' ? options.stdin : pulledInput(options.stdin ?? (() => null)),
    stdout: textOutput(options.stdout ?? (() => {})),
    stderr: textOutput(options.stderr ?? (() => {})),
  });
  return runtime.spawn(module, { hostModules: [wasi, ...(options.hostModules ?? [])] });
}
