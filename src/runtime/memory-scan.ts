// A wasm scanner over a process's memory: finds the 256-byte blocks that are not all zero, 16
// bytes a step (SIMD). Hibernation (snapshot.ts) compares a waiting process's memory with the
// module's initial memory, which is zero almost everywhere; in JS that scan cost 20-50 us for a
// small C program's 192 KiB, here about 6 us. One scanner instance per memory (it imports it).
// MEMORY_SCAN_BYTES is MEMORY_SCAN_WAT assembled (test/process-pool.test.ts checks it with wabt).

export const MEMORY_SCAN_WAT = `(module
  (import "m" "memory" (memory 0))
  (func (export "nonzero") (param $from i32) (param $to i32) (result i32)
    (local $at i32) (local $end i32)
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        (local.set $at (local.get $from))
        (local.set $end (i32.add (local.get $from) (i32.const 256)))
        (loop $words
          (if (v128.any_true
                (v128.or
                  (v128.or (v128.load (local.get $at)) (v128.load offset=16 (local.get $at)))
                  (v128.or (v128.load offset=32 (local.get $at)) (v128.load offset=48 (local.get $at)))))
            (then (return (local.get $from))))
          (local.set $at (i32.add (local.get $at) (i32.const 64)))
          (br_if $words (i32.lt_u (local.get $at) (local.get $end))))
        (local.set $from (local.get $end))
        (br $blocks)))
    (local.get $to)))`;

export const MEMORY_SCAN_BYTES = Uint8Array.from(
  atob(
    'AGFzbQEAAAABBwFgAn9/AX8CDQEBbQZtZW1vcnkCAAADAgEABwsBB25vbnplcm8AAApfAV0BAn8CQANAIAAgAU8NASAAIQIgAEGAAmohAwNAIAL9AAQAIAL9AAQQ/VAgAv0ABCAgAv0ABDD9UP1Q/VMEQCAADwsgAkHAAGohAiACIANJDQALIAMhAAwACwsgAQs=',
  ),
  (char) => char.charCodeAt(0),
);

/** Bytes a block: what the scanner steps by. */
export const SCAN_BLOCK_BYTES = 256;

interface ScanExports {
  /** The first block from `from` (a multiple of 256) up to `to` with a non-zero byte, or `to`. */
  nonzero(from: number, to: number): number;
}

let compiled: WebAssembly.Module | undefined;

/** The scanner of `memory`. */
export function memoryScanner(memory: WebAssembly.Memory): ScanExports {
  compiled ??= new WebAssembly.Module(MEMORY_SCAN_BYTES);
  return new WebAssembly.Instance(compiled, { m: { memory } }).exports as unknown as ScanExports;
}
