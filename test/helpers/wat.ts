// Test helpers for hand-written modules: .wat text to bytes, and instantiation with a host that
// services `lunatic.yield` by refilling the budget and counting the calls.
import wabtInit from 'wabt';

const wabtReady = wabtInit();

export async function wat(text: string): Promise<Uint8Array> {
  const wabt = await wabtReady;
  const module = wabt.parseWat('test.wat', text, { bulk_memory: true, tail_call: true, sign_extension: true, mutable_globals: true, threads: true, exceptions: true });
  try {
    module.resolveNames();
    return module.toBinary({ write_debug_names: true }).buffer;
  } finally {
    module.destroy();
  }
}

export interface Counted {
  instance: WebAssembly.Instance;
  exports: Record<string, any>;
  /** How many times `lunatic.yield` was called so far. */
  yields(): number;
}

/** Instantiates with `lunatic.yield` refilling `lunatic_reductions` to `slice`, plus `extra` imports. */
export async function instantiateCounted(bytes: Uint8Array, slice = 1000, extra: WebAssembly.Imports = {}): Promise<Counted> {
  let yields = 0;
  let instance: WebAssembly.Instance | undefined;
  const refill = () => {
    const counter = instance?.exports['lunatic_reductions'] as WebAssembly.Global | undefined;
    if (counter) counter.value = slice;
  };
  const imports: WebAssembly.Imports = { ...extra, lunatic: { yield: () => { yields++; refill(); } } };
  instance = (await WebAssembly.instantiate(bytes as BufferSource, imports)).instance;
  refill();
  return { instance, exports: instance.exports as Record<string, any>, yields: () => yields };
}
