// A wasm scanner over a process's memory: finds the 256-byte blocks that are not all zero, 16
// bytes a load and one branch a block (SIMD). The pool (vessel.ts) compares a memory with the
// module's initial memory, which is zero almost everywhere; in JS that scan cost 20-50 us for a
// small C program's 192 KiB, here about 2 us when the memory is in cache. One scanner instance per
// memory (it imports it). MEMORY_SCAN_BYTES is MEMORY_SCAN_WAT assembled
// (test/process-pool.test.ts checks it with wabt).

export const MEMORY_SCAN_WAT = `(module
  (import "m" "memory" (memory 0))
  (func (export "nonzero") (param $from i32) (param $to i32) (result i32)
    (local $any v128)
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        ;; the block's 16 vectors or-ed together: one branch a block
        (local.set $any (v128.or (v128.load offset=0 (local.get $from)) (v128.load offset=16 (local.get $from))))
        (local.set $any (v128.or (local.get $any) (v128.or (v128.load offset=32 (local.get $from)) (v128.load offset=48 (local.get $from)))))
        (local.set $any (v128.or (local.get $any) (v128.or (v128.load offset=64 (local.get $from)) (v128.load offset=80 (local.get $from)))))
        (local.set $any (v128.or (local.get $any) (v128.or (v128.load offset=96 (local.get $from)) (v128.load offset=112 (local.get $from)))))
        (local.set $any (v128.or (local.get $any) (v128.or (v128.load offset=128 (local.get $from)) (v128.load offset=144 (local.get $from)))))
        (local.set $any (v128.or (local.get $any) (v128.or (v128.load offset=160 (local.get $from)) (v128.load offset=176 (local.get $from)))))
        (local.set $any (v128.or (local.get $any) (v128.or (v128.load offset=192 (local.get $from)) (v128.load offset=208 (local.get $from)))))
        (local.set $any (v128.or (local.get $any) (v128.or (v128.load offset=224 (local.get $from)) (v128.load offset=240 (local.get $from)))))
        (if (v128.any_true (local.get $any)) (then (return (local.get $from))))
        (local.set $from (i32.add (local.get $from) (i32.const 256)))
        (br $blocks)))
    (local.get $to)))`;

export const MEMORY_SCAN_BYTES = Uint8Array.from(
  atob(
    'AGFzbQEAAAABBwFgAn9/AX8CDQEBbQZtZW1vcnkCAAADAgEABwsBB25vbnplcm8AAArOAQHLAQEBewJAA0AgACABTw0BIAD9AAQAIAD9AAQQ/VAhAiACIAD9AAQgIAD9AAQw/VD9UCECIAIgAP0ABEAgAP0ABFD9UP1QIQIgAiAA/QAEYCAA/QAEcP1Q/VAhAiACIAD9AASAASAA/QAEkAH9UP1QIQIgAiAA/QAEoAEgAP0ABLAB/VD9UCECIAIgAP0ABMABIAD9AATQAf1Q/VAhAiACIAD9AATgASAA/QAE8AH9UP1QIQIgAv1TBEAgAA8LIABBgAJqIQAMAAsLIAEL',
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
