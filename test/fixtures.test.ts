// The fixtures themselves: every C fixture runs under the reference runner (plain node:wasi in a
// child process) and prints what an independent computation here says it must; the .wat
// fixtures' exports return what their header comments promise; the committed .wasm files are
// what fixtures/build.sh makes from the sources; and the runner's yield servicing works on an
// instrumented module.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { WASI } from 'node:wasi';
import { afterAll, describe, expect, test } from 'vitest';
import { instrument } from '../src/index.js';
import { findClang, requireTool } from './helpers/tools.js';
import { cFixtures, fixturesDir, runWasi, TRAP_EXIT_CODE } from './helpers/wasi-run.js';

const cFixture = (name: string) => readFileSync(join(fixturesDir, 'c', `${name}.wasm`));
const watFixture = (name: string) => readFileSync(join(fixturesDir, 'wat', `${name}.wasm`));
const run = async (name: string, opts?: Parameters<typeof runWasi>[1]) => {
  const result = await runWasi(cFixture(name), opts);
  return { ...result, out: result.stdout.toString(), err: result.stderr.toString() };
};

/** spin.c's loop, in JS. */
function spin(iterations: number): { state: number; mixed: number } {
  let state = 1;
  let mixed = 0;
  for (let i = 0; i < iterations; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    mixed = (mixed ^ (state >>> 13)) >>> 0;
  }
  return { state, mixed };
}

/** indirect.c's walk through the function table, in JS. */
function walk(n: number, depth: number): number {
  if (depth === 0) return n;
  return n & 1 ? (walk(((n >>> 1) + 7) >>> 0, depth - 1) ^ 5) >>> 0 : (walk((Math.imul(n, 3) + 1) >>> 0, depth - 1) + 1) >>> 0;
}

/** nbody.c, in JS: the same f64 operations in the same order give the same bits. */
function nbodyEnergies(steps: number): [string, string] {
  const solarMass = 4 * Math.PI * Math.PI;
  const year = 365.24;
  const planet = (x: number, y: number, z: number, vx: number, vy: number, vz: number, mass: number) => ({
    x,
    y,
    z,
    vx: vx * year,
    vy: vy * year,
    vz: vz * year,
    mass: mass * solarMass,
  });
  const bodies = [
    { x: 0, y: 0, z: 0, vx: 0, vy: 0, vz: 0, mass: solarMass },
    planet(
      4.8414314424647209,
      -1.16032004402742839,
      -1.03622044471123109e-1,
      1.66007664274403694e-3,
      7.69901118419740425e-3,
      -6.90460016972063023e-5,
      9.54791938424326609e-4,
    ),
    planet(
      8.34336671824457987,
      4.12479856412430479,
      -4.03523417114321381e-1,
      -2.76742510726862411e-3,
      4.99852801234917238e-3,
      2.30417297573763929e-5,
      2.85885980666130812e-4,
    ),
    planet(
      1.2894369562139131e1,
      -1.51111514016986312e1,
      -2.23307578892655734e-1,
      2.96460137564761618e-3,
      2.3784717395948095e-3,
      -2.96589568540237556e-5,
      4.36624404335156298e-5,
    ),
    planet(
      1.53796971148509165e1,
      -2.59193146099879641e1,
      1.79258772950371181e-1,
      2.68067772490389322e-3,
      1.62824170038242295e-3,
      -9.5159225451971587e-5,
      5.15138902046611451e-5,
    ),
  ];
  let px = 0,
    py = 0,
    pz = 0;
  for (const b of bodies) {
    px += b.vx * b.mass;
    py += b.vy * b.mass;
    pz += b.vz * b.mass;
  }
  bodies[0]!.vx = -px / solarMass;
  bodies[0]!.vy = -py / solarMass;
  bodies[0]!.vz = -pz / solarMass;
  const energy = () => {
    let e = 0;
    bodies.forEach((b, i) => {
      e += 0.5 * b.mass * (b.vx * b.vx + b.vy * b.vy + b.vz * b.vz);
      for (const c of bodies.slice(i + 1)) {
        const dx = b.x - c.x,
          dy = b.y - c.y,
          dz = b.z - c.z;
        e -= (b.mass * c.mass) / Math.sqrt(dx * dx + dy * dy + dz * dz);
      }
    });
    return e.toFixed(9);
  };
  const initial = energy();
  for (let step = 0; step < steps; step++) {
    bodies.forEach((b, i) => {
      for (const c of bodies.slice(i + 1)) {
        const dx = b.x - c.x,
          dy = b.y - c.y,
          dz = b.z - c.z;
        const d2 = dx * dx + dy * dy + dz * dz;
        const mag = 0.01 / (d2 * Math.sqrt(d2));
        b.vx -= dx * c.mass * mag;
        b.vy -= dy * c.mass * mag;
        b.vz -= dz * c.mass * mag;
        c.vx += dx * b.mass * mag;
        c.vy += dy * b.mass * mag;
        c.vz += dz * b.mass * mag;
      }
    });
    for (const b of bodies) {
      b.x += 0.01 * b.vx;
      b.y += 0.01 * b.vy;
      b.z += 0.01 * b.vz;
    }
  }
  return [initial, energy()];
}

/** deep_pause.c's checksum for the line it reads, in JS. */
function deepPauseChecksum(line: string): number {
  const depthMax = 200;
  let lineSum = 0;
  for (const byte of Buffer.from(line)) lineSum = (Math.imul(lineSum, 31) + byte) >>> 0;
  let below = lineSum;
  for (let depth = depthMax; depth >= 1; depth--) {
    const i = depth % 24;
    const frameWord = (Math.imul(depth, 2654435761) ^ (Math.imul(i, 40503) + 17)) >>> 0;
    const token = (Math.imul(depth, 0x9e3779b9) + 0x7f4a7c15) >>> 0;
    below = (Math.imul((below ^ frameWord) >>> 0, 16777619) + token) >>> 0;
  }
  return below;
}

/** deep_pause.c's patterns, as the bytes it writes (little-endian words for the frames). */
const deepPausePatterns = {
  frame: (depth: number) =>
    new Uint8Array(Uint32Array.from({ length: 24 }, (_, i) => Math.imul(depth, 2654435761) ^ (Math.imul(i, 40503) + 17)).buffer),
  heap: (from: number) => Uint8Array.from({ length: 64 }, (_, k) => (from + k) * 13 + ((from + k) >> 11) + 5),
  static: (from: number) => Uint8Array.from({ length: 64 }, (_, k) => (from + k) * 7 + ((from + k) >> 8) + 1),
};

/**
 * Runs deep_pause in this process with a host whose stdin read flips one byte of `target`
 * (found in memory by content) while the program is blocked 200 frames deep.
 */
function runDeepPauseCorrupting(target: Uint8Array): { stdout: string; exitCode: number; found: boolean } {
  const dir = mkdtempSync(join(tmpdir(), 'deep-pause-'));
  writeFileSync(join(dir, 'in'), 'a line\n');
  const stdin = openSync(join(dir, 'in'), 'r');
  const stdout = openSync(join(dir, 'out'), 'w');
  try {
    const wasi = new WASI({ version: 'preview1', returnOnExit: true, args: ['deep_pause'], stdin, stdout });
    const host = wasi.wasiImport as Record<string, (...args: number[]) => number>;
    let memory: WebAssembly.Memory | undefined;
    let found = false;
    const fd_read = (...args: number[]) => {
      const result = host.fd_read!(...args);
      const bytes = new Uint8Array(memory!.buffer);
      const at = Buffer.from(bytes.buffer).indexOf(target);
      if (at >= 0) bytes[at + 1]! ^= 0x40;
      found = at >= 0;
      return result;
    };
    const instance = new WebAssembly.Instance(new WebAssembly.Module(cFixture('deep_pause')), {
      wasi_snapshot_preview1: { ...host, fd_read },
    });
    memory = instance.exports.memory as WebAssembly.Memory;
    const exitCode = wasi.start(instance) ?? 0;
    return { stdout: readFileSync(join(dir, 'out'), 'utf8'), exitCode, found };
  } finally {
    closeSync(stdin);
    closeSync(stdout);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('C fixtures under the reference runner', () => {
  test('every C fixture has a test here', () => {
    const tested = [
      'args_env',
      'cat',
      'deep_pause',
      'exit_code',
      'file_meta',
      'files',
      'hello',
      'indirect',
      'malloc_tree',
      'mutual',
      'nbody',
      'recursion',
      'sha256',
      'sleep',
      'spin',
      'stack_overflow',
      'trap',
    ];
    expect(cFixtures().map((path) => basename(path, '.wasm'))).toEqual(tested);
  });

  test('hello prints its computed greeting (and ignores a stdin too big for the pipe)', async () => {
    const result = await run('hello', { stdin: new Uint8Array(1 << 20) });
    expect([result.out, result.exitCode, result.yields]).toEqual(['hello, lunatic 42\n', 0, 0]);
  });

  test('args_env sees exactly the given argv and env', async () => {
    const result = await run('args_env', { args: ['two words', '-x'], env: { LUNATIC_GREETING: 'hi there' } });
    expect(result.out).toBe(
      'argc=3\nargv[0]=program.wasm\nargv[1]=two words\nargv[2]=-x\nenv LUNATIC_GREETING=hi there\nenv LUNATIC_MISSING=(unset)\n',
    );
    expect(result.exitCode).toBe(0);
  });

  test('cat copies binary stdin to stdout and counts it on stderr', async () => {
    const input = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7 + (i >> 9)) & 255));
    const result = await runWasi(cFixture('cat'), { stdin: input });
    expect(result.stdout.equals(input)).toBe(true);
    expect(result.stderr.toString()).toBe('cat: 100000 bytes\n');
    expect((await run('cat')).err).toBe('cat: 0 bytes\n');
  });

  test('exit_code flushes its line and exits with 3', async () => {
    const result = await run('exit_code');
    expect([result.out, result.exitCode, result.trap]).toEqual(['exiting with 3\n', 3, undefined]);
  });

  test('spin computes its 200M-step LCG', async () => {
    const { state, mixed } = spin(200_000_000);
    const result = await run('spin');
    expect([result.out, result.exitCode]).toEqual([`spin state=${state} mixed=${mixed}\n`, 0]);
  });

  test('recursion computes fib(27)', async () => {
    let [a, b] = [0, 1];
    for (let i = 0; i < 27; i++) [a, b] = [b, a + b];
    expect((await run('recursion')).out).toBe(`fib(27)=${a}\n`);
  });

  test('mutual answers parity through 5000 nested calls by default, or the depth given', async () => {
    expect((await run('mutual')).out).toBe('is_even(5000)=1 is_odd(5001)=1\n');
    expect((await run('mutual', { args: ['7'] })).out).toBe('is_even(7)=0 is_odd(8)=0\n');
  });

  test('indirect walks its function table and sorts with a comparator', async () => {
    let seed = 12345;
    const values = Array.from({ length: 1000 }, () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % 10000;
    }).sort((x, y) => y - x);
    const weighted = values.reduce((sum, value, i) => sum + value * (i + 1), 0);
    const result = await run('indirect');
    expect(result.out).toBe(`walk=${walk(27, 5000)}\nsorted first=${values[0]} last=${values[999]} weighted=${weighted}\n`);
  });

  test('malloc_tree counts the nodes of every tree it builds', async () => {
    const nodes = (depth: number) => 2 ** (depth + 1) - 1;
    const lines: string[] = [];
    let total = 0;
    for (let depth = 4; depth <= 14; depth += 2) {
      const iterations = 1 << (14 - depth + 4);
      lines.push(`${iterations} trees of depth ${depth} check ${iterations * nodes(depth)}`);
      total += iterations * nodes(depth);
    }
    lines.push(`long lived check ${nodes(14)} total ${total}`);
    const result = await run('malloc_tree');
    expect([result.out, result.exitCode]).toEqual([`${lines.join('\n')}\n`, 0]);
  });

  test('nbody matches the same simulation in JS to the last printed digit', async () => {
    const [initial, final] = nbodyEnergies(100_000);
    expect(initial).toBe('-0.169075164'); // the benchmark's published starting energy
    expect((await run('nbody')).out).toBe(`${initial}\n${final}\n`);
  });

  test('sha256 agrees with node:crypto', async () => {
    const input = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 31 + 7) & 255));
    const digest = createHash('sha256').update(input).digest('hex');
    expect((await run('sha256')).out).toBe(`sha256=${digest}\n`);
  });

  test('sleep waits as long as it asked, four times', async () => {
    const result = await run('sleep');
    const naps = [0, 1, 2, 3].map((i) => `before nap ${i}\nafter nap ${i}\n`).join('');
    expect([result.out, result.exitCode]).toEqual([`${naps}slept 4 times, 0 too short\n`, 0]);
  });

  describe('files', () => {
    const host = mkdtempSync(join(tmpdir(), 'fixture-files-'));
    afterAll(() => rmSync(host, { recursive: true, force: true }));

    test('writes, reads back, lists, renames and deletes under a preopened directory', async () => {
      const written = [1, 2, 3, 4, 5].map((i) => `line ${i} squared ${i * i}\n`).join('');
      const result = await run('files', { args: ['/sandbox'], preopens: { '/sandbox': host } });
      expect(result.out).toBe(
        `read back 5 lines, ${written.length} bytes, last: line 5 squared 25\n` +
          `stat size ${written.length}\n` +
          'list /sandbox: sub\nlist /sandbox/sub: first.txt\nlist /sandbox/sub: second.txt\n' +
          'list /sandbox/sub:\nlist /sandbox:\nfiles done\n',
      );
      expect(result.exitCode).toBe(0);
      expect(readdirSync(host)).toEqual([]);
    });

    test('fails with a message when the directory is not preopened', async () => {
      const result = await run('files', { args: ['/elsewhere'] });
      expect(result.out).toMatch(/^error: mkdir \/elsewhere\/sub: /);
      expect(result.exitCode).toBe(1);
    });
  });

  test('file_meta sets times, grows the file and appends under a preopened directory', async () => {
    const host = mkdtempSync(join(tmpdir(), 'fixture-meta-'));
    try {
      const result = await run('file_meta', { args: ['/sandbox'], preopens: { '/sandbox': host } });
      expect(result.exitCode).toBe(0);
      const lines = result.out.split('\n');
      for (const call of ['utimensat', 'futimens, mtime only', 'fcntl O_APPEND on', 'posix_fadvise', 'posix_fallocate to 4096'])
        expect(lines).toContain(`${call}: ok`);
      // node:wasi keeps whole seconds only, and F_GETFL does not show O_APPEND there.
      expect(result.out).toMatch(/^by descriptor: atime 1000000000\.\d{9} mtime 1300000000\.0{9} size 4$/m);
      expect(result.out).toMatch(/^not following: atime 1100000000\.0{9} mtime 1400000000\.0{9} size 4$/m);
      expect(result.out).toContain('size after fallocate: 4096\ntext: ONE\ntwo\nfile_meta done\n');
      expect(readdirSync(host)).toEqual([]);
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  });

  test('trap ends in a trap inside crash_here, after its line', async () => {
    const result = await run('trap');
    expect(result.out).toBe('about to trap\n');
    expect(result.exitCode).toBe(TRAP_EXIT_CODE);
    expect(result.trap).toBe('RuntimeError: unreachable');
    expect(result.err).toMatch(/^RuntimeError: unreachable\n\s+at crash_here /);
  });

  test('stack_overflow ends in a trap, never a normal exit', async () => {
    const result = await run('stack_overflow');
    expect(result.out).toBe('diving\n');
    expect(result.exitCode).toBe(TRAP_EXIT_CODE);
    expect(result.trap).toMatch(/memory access out of bounds|Maximum call stack size exceeded/);
    expect(result.err).toMatch(/at dive /);
  });

  test('deep_pause blocks 200 frames deep on stdin and finds its memory intact', async () => {
    const line = 'resume with this line';
    const result = await run('deep_pause', { stdin: `${line}\nignored\n` });
    expect(result.out).toBe(`blocking at depth 200\nwoke up, read "${line}"\nchecksum ${deepPauseChecksum(line)}\nmemory intact\n`);
    expect(result.exitCode).toBe(0);
  });

  test.each([
    // the frame pattern is unique (word 0 of depth 100); the others repeat, so any index will do
    ['frame', deepPausePatterns.frame(100), /^mismatch in frame at 2400: /m],
    ['heap', deepPausePatterns.heap(300_000), /^mismatch in heap at \d+: /m],
    ['static', deepPausePatterns.static(70_000), /^mismatch in static at \d+: /m],
  ])('deep_pause catches a host that flips a byte of its %s memory while it is blocked', (_, target, mismatch) => {
    const result = runDeepPauseCorrupting(target);
    expect(result.found).toBe(true);
    expect(result.stdout).toMatch(mismatch);
    expect(result.stdout).toMatch(/^1 mismatches$/m);
    expect(result.exitCode).toBe(1);
  });
});

describe('wat fixtures', () => {
  const instantiate = async (name: string, imports: WebAssembly.Imports = {}) =>
    (await WebAssembly.instantiate(watFixture(name), imports)).instance.exports as Record<string, any>;

  test('spin runs its LCG n times', async () => {
    const { run: spinWat } = await instantiate('spin');
    expect(spinWat(0)).toBe(1);
    expect(spinWat(123_457) >>> 0).toBe(spin(123_457).state);
  });

  test('mutual answers parity', async () => {
    const { even, odd } = await instantiate('mutual');
    expect([even(0), odd(0), even(1001), odd(1001), even(1000)]).toEqual([1, 0, 0, 1, 1]);
  });

  test('indirect sums through call_indirect and dispatches by slot', async () => {
    const { sum, pick } = await instantiate('indirect');
    expect([sum(0), sum(1), sum(1000)]).toEqual([0, 1, 500_500]);
    expect([pick(1, 9), pick(2, 9)]).toEqual([9, 18]);
    expect(() => pick(3, 9)).toThrow(WebAssembly.RuntimeError);
  });

  test('tail recurses a million times without growing the stack', async () => {
    const { count, ping } = await instantiate('tail');
    expect(count(1_000_000) >>> 0).toBe(((1_000_000 * 1_000_001) / 2) % 2 ** 32);
    expect([ping(0), ping(1), ping(10), ping(1_000_001)]).toEqual([0, 1, 5, 500_001]);
  });

  test('many_imports calls env.tick in its loop and only there', async () => {
    const ticks: number[] = [];
    const unused = () => {
      throw new Error('not to be called by run()');
    };
    const exports = await instantiate('many_imports', {
      env: {
        tick: (i: number) => {
          ticks.push(i);
          return i * 2;
        },
        log: unused,
        now: unused,
      },
      wasi_snapshot_preview1: { fd_write: unused, poll_oneoff: unused, proc_exit: unused },
    });
    expect(exports.run(100)).toBe(9900);
    expect(ticks).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('grow sees zeroed new pages and checksums what it wrote', async () => {
    const { size, grow_and_check } = await instantiate('grow');
    expect(size()).toBe(1);
    const first = grow_and_check(2);
    expect(Math.floor(first / 1_000_000)).toBe(1); // the old size
    expect(size()).toBe(3);
    expect(Math.floor(grow_and_check(1) / 1_000_000)).toBe(3);
    expect(grow_and_check(100)).toBe(-1); // beyond max 64
  });

  test('bulk mixes bulk memory with sign extension, and declares no features', async () => {
    const { run: bulk } = await instantiate('bulk');
    expect([bulk(0x80), bulk(0xffff), bulk(5)]).toEqual([128, 253, 15]);
    const sections = WebAssembly.Module.customSections(new WebAssembly.Module(watFixture('bulk')), 'target_features');
    expect(sections).toHaveLength(0);
  });

  test('start computes its sum before any export runs', async () => {
    let sum = 0;
    for (let i = 0; i < 1_000_000; i++) sum = (sum + Math.imul(i, i)) >>> 0;
    expect((await instantiate('start')).get() >>> 0).toBe(sum);
  });
});

describe('committed binaries match their sources', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');

  test.skipIf(!clang)('fixtures/build.sh rebuilds a few fixtures byte for byte', () => {
    const out = mkdtempSync(join(tmpdir(), 'fixtures-rebuild-'));
    try {
      const names = ['hello', 'trap', 'deep_pause', 'tail'];
      execFileSync('bash', [join(fixturesDir, 'build.sh'), '--out', out, ...names], { stdio: 'pipe' });
      const rebuilt = [...names.slice(0, 3).map((name) => `c/${name}.wasm`), 'wat/tail.wasm'];
      for (const file of rebuilt) {
        expect(readFileSync(join(out, file)).equals(readFileSync(join(fixturesDir, file))), file).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('the runner services lunatic.yield', () => {
  test('an instrumented spin prints the same, and its yields scale with 1/slice', async () => {
    const plain = await runWasi(cFixture('spin'));
    const { binary } = await instrument(cFixture('spin'), { asyncify: false });
    const [small, large] = await Promise.all([runWasi(binary, { slice: 10_000 }), runWasi(binary, { slice: 100_000 })]);
    expect(small.stdout.equals(plain.stdout)).toBe(true);
    expect([plain.yields, small.exitCode, large.exitCode]).toEqual([0, 0, 0]);
    // every one of the 200M iterations costs at least one reduction
    expect(small.yields).toBeGreaterThanOrEqual(200_000_000 / 10_000);
    expect(small.yields / large.yields).toBeCloseTo(10, 0);
  });
});
