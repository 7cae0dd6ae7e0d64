// Turning what ended a process abnormally into a report: the message and the wasm functions
// on the stack, innermost first, named from the name section when V8 only knows an index.
import { functionNames } from './names.js';

export interface TrapReport {
  /** The trap or error message, e.g. "unreachable" or "memory access out of bounds". */
  message: string;
  /** Wasm functions on the stack when it happened, innermost first. */
  functions: string[];
}

// V8 frames: "at name (wasm://wasm/<hash>:wasm-function[12]:0x1a2)" or "at wasm://wasm/<hash>:wasm-function[12]:0x1a2".
const WASM_FRAME = /at (?:(\S+) \()?wasm:\/\/wasm\/[^:]*:wasm-function\[(\d+)\]/;

// Frames of the instrumenter's own making (passes/asyncify/asyncify-copies.ts): a rewind or re-entry
// copy is reported as the function it copies, and the frame-stack helpers (pop, the tail's growth, the saver of each function, which
// pushes its frame, and the resume of a function that hands frames back, whose copy is the frame
// below it: passes/asyncify/reentry.ts) are left out, as are the frames that only passed a call
// on between a function's copies: a rewind copy that passed an ordinary call on to its function,
// and an exported or address-taken function that passed a rewind on to its rewind copy or resume
// (each the frame right outside the one it called).
const REWIND_COPY = /\$(?:rewind|reenter)(?:_\d+)?$/;
const PASSING_ON = /\$rewind(?:_\d+)?$/;
const REWOUND_THROUGH = /\$(?:rewind|resume)(?:_\d+)?$/;
const FRAME_HELPER = /^lunatic_asyncify_(?:pop|grow_tail)(?:_\d+)?$|\$save(?:_\d+)?$|\$resume(?:_\d+)?$/;

/** The wasm functions named in a V8 stack trace. */
export function wasmFunctionsOf(stack: string, module: WebAssembly.Module | undefined): string[] {
  const names = module ? functionNames(module) : new Map<number, string>();
  const functions: string[] = [];
  let inner: string | undefined;
  for (const line of stack.split('\n')) {
    const match = WASM_FRAME.exec(line);
    if (!match) continue;
    const index = Number(match[2]);
    const name = names.get(index) ?? match[1] ?? `wasm-function[${index}]`;
    const passedOn =
      (PASSING_ON.test(name) && name.replace(PASSING_ON, '') === inner) ||
      (inner !== undefined && REWOUND_THROUGH.test(inner) && inner.replace(REWOUND_THROUGH, '') === name);
    if (!FRAME_HELPER.test(name) && !passedOn) functions.push(name.replace(REWIND_COPY, ''));
    inner = name;
  }
  return functions;
}

/** Engines that know wasm exceptions (their JavaScript class), to tell one that nothing caught. */
const WasmException = (WebAssembly as { Exception?: abstract new (...args: never[]) => object }).Exception;

export function trapReport(error: unknown, module: WebAssembly.Module | undefined): TrapReport {
  // A wasm `throw` that no catch took carries no stack (V8 records one only for exceptions made in JavaScript).
  if (WasmException && error instanceof WasmException) return { message: 'a wasm exception that nothing caught', functions: [] };
  if (!(error instanceof Error)) return { message: String(error), functions: [] };
  return { message: error.message, functions: wasmFunctionsOf(error.stack ?? '', module) };
}
