// A small seeded pseudo-random generator (splitmix32), so that a fuzz case is fully determined
// by its seed: the bytes fed to binaryen's translate-to-fuzz, the export arguments and the
// reduction slice. Math.random cannot be seeded, and reproducing a mismatch needs exactly that.

export class Random {
  private state: number;

  constructor(seed: number, stream = 0) {
    // Mixing in a stream number gives independent sequences for the same seed (module bytes,
    // arguments, ...), so adding a draw to one never changes the others.
    this.state = (Math.imul(seed >>> 0, 0x9e3779b9) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(count: number): Uint8Array {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = this.next() & 0xff;
    return out;
  }
}
