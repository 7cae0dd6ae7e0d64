// Values crossing the JS/wasm boundary in the harness: deterministic arguments for exports
// (edge cases first, drawn from the seed) and a canonical text for anything wasm hands back.
// The text is what both runs are compared on, so it decides what counts as "the same".
import type { ValueKind } from './exports.js';
import { Random } from './random.js';

const I32_EDGES = [0, 1, -1, 2, 0x7fffffff, -0x80000000, 65535, 65536];
const I64_EDGES = [0n, 1n, -1n, 0x7fffffffffffffffn, -0x8000000000000000n, 4294967296n];
const FLOAT_EDGES = [0, -0, 1, -1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3.4e38, 1e-310];

/** Argument lists drawn in call order: both runs draw the same lists while they behave alike. */
export class Arguments {
  private readonly random: Random;

  constructor(seed: number) {
    this.random = new Random(seed, 2);
  }

  for(params: readonly ValueKind[]): unknown[] {
    return params.map((kind) => this.value(kind));
  }

  private value(kind: ValueKind): unknown {
    const edge = this.random.below(2) === 0;
    switch (kind) {
      case 'i32':
        return edge ? this.random.pick(I32_EDGES) : this.random.next() | 0;
      case 'i64':
        return edge ? this.random.pick(I64_EDGES) : BigInt.asIntN(64, (BigInt(this.random.next()) << 32n) | BigInt(this.random.next()));
      case 'f32':
        return edge ? this.random.pick(FLOAT_EDGES) : Math.fround((this.random.next() | 0) / 256);
      case 'f64':
        return edge ? this.random.pick(FLOAT_EDGES) : (this.random.next() | 0) / 1024;
      // v128 cannot cross into JS at all (TypeError on both sides alike); references: null.
      default:
        return kind === 'v128' ? 0 : null;
    }
  }
}

/**
 * Canonical text of a value. Every NaN is "nan": binaryen's optimizer (run on the instrumented
 * code) may change NaN payloads, which wasm semantics allow and JS cannot observe reliably.
 */
export function show(value: unknown): string {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `[${value.map(show).join(' ')}]`;
  if (value === undefined) return '';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'funcref';
  return typeof value;
}
