// A set of pids that costs no Set until one is added: a process's links, monitors and watchers.
// Most processes never link or monitor, and three Sets per process were a visible part of a
// spawn's time and garbage (bench/spawns.ts spawns 100,000 short children).

const NONE: ReadonlySet<number> = new Set();

export class Pids implements Iterable<number> {
  private set: Set<number> | undefined;

  add(pid: number): this {
    (this.set ??= new Set()).add(pid);
    return this;
  }

  delete(pid: number): boolean {
    return this.set?.delete(pid) ?? false;
  }

  has(pid: number): boolean {
    return this.set?.has(pid) ?? false;
  }

  get size(): number {
    return this.set?.size ?? 0;
  }

  [Symbol.iterator](): Iterator<number> {
    return (this.set ?? NONE)[Symbol.iterator]();
  }
}
