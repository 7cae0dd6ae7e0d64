// The runtime core on this Node (Asyncify backend, in-process): C fixtures give the same output
// and exit code as under node:wasi, stdin is read, a deep suspension leaves memory intact,
// crashes stay inside their process, and the clear errors of the suspension layer.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { type ExitStatus, type HostModule, ProcessLimitError, Runtime } from '../src/runtime/index.js';
import { HOST_CALL_REDUCTIONS } from '../src/runtime/lunatic/imports.js';
import { addressSpaceBits, engineFlags, wasmMemoryCapacity } from '../src/runtime/node/engine.js';
import { wasmFunctionsOf } from '../src/runtime/trap.js';
import { CollectedOutput, MAY_WAIT_IMPORTS, QueueInput, wasiPreview1 } from '../src/runtime/wasi/index.js';
import { cFixtures, fixturesDir, runWasi } from './helpers/wasi-run.js';
import { wat } from './helpers/wat.js';

// files needs a preopened directory: test/runtime-cli.test.ts runs it.
const FIXTURES = cFixtures()
  .map((path) => basename(path, '.wasm'))
  .filter((name) => name !== 'files');
const ARGS = ['program.wasm', 'one', 'two words'];
const ENV = { HOME: '/home/lunatic', LANG: 'C.UTF-8' };
const STDIN = 'first line\nsecond line\n';

const fixture = (name: string) => readFileSync(join(fixturesDir, 'c', `${name}.wasm`));
const instrumented = new Map<string, Uint8Array>();

beforeAll(async () => {
  for (const name of FIXTURES) instrumented.set(name, (await instrument(fixture(name), { blockingImports: [...MAY_WAIT_IMPORTS] })).binary);
}, 120_000);

interface Outcome {
  stdout: string;
  stderr: string;
  code?: number;
  /** The trap message and the innermost wasm function, when it trapped. */
  trap?: { message: string; innermost?: string };
}

/** The reference: the uninstrumented module under node:wasi (a trap's stack goes to its stderr). */
async function runUnderNodeWasi(name: string): Promise<Outcome> {
  const result = await runWasi(fixture(name), { args: ARGS.slice(1), env: ENV, stdin: STDIN });
  const stderr = result.stderr.toString();
  if (result.trap === undefined) return { stdout: result.stdout.toString(), stderr, code: result.exitCode };
  const innermost = /^\s+at (\S+) \(wasm:/m.exec(stderr)?.[1];
  return { stdout: result.stdout.toString(), stderr: '', trap: { message: result.trap.replace(/^RuntimeError: /, ''), innermost } };
}

/** WASI for one process: the given args, env and stdin (kept open without end when `stdin` is undefined), output collected. */
function wasi(options: {
  args?: string[];
  env?: Record<string, string>;
  stdin?: string;
  stdout?: CollectedOutput;
  stderr?: CollectedOutput;
}): HostModule {
  const stdin = new QueueInput(options.stdin ?? '', { end: options.stdin !== undefined });
  return wasiPreview1({
    args: options.args ?? ['program.wasm'],
    env: options.env ?? {},
    preopens: [],
    stdin,
    stdout: options.stdout,
    stderr: options.stderr,
  });
}

async function runInRuntime(runtime: Runtime, module: Uint8Array, stdin = STDIN): Promise<Outcome & { status: ExitStatus }> {
  const [stdout, stderr] = [new CollectedOutput(), new CollectedOutput()];
  const process = runtime.spawn(module, { hostModules: [wasi({ args: ARGS, env: ENV, stdin, stdout, stderr })] });
  const status = await process.exited;
  const trap = status.trap && { message: status.trap.message, innermost: status.trap.functions[0] };
  return { stdout: stdout.text(), stderr: stderr.text(), code: status.code, trap, status };
}

describe('C fixtures on the Asyncify backend', () => {
  it.each(FIXTURES)('%s: same stdout, stderr and exit as under node:wasi', async (name) => {
    const reference = await runUnderNodeWasi(name);
    const ours = await runInRuntime(new Runtime({ backend: 'asyncify' }), instrumented.get(name)!);
    expect(ours.stdout).toBe(reference.stdout);
    expect(ours.stderr).toBe(reference.stderr);
    expect(ours.trap).toEqual(reference.trap);
    expect(ours.code).toBe(reference.code);
  });

  it('reads the stdin it is given (cat)', async () => {
    const text = `${'x'.repeat(10_000)}\nend\n`;
    const ours = await runInRuntime(new Runtime({ backend: 'asyncify' }), instrumented.get('cat')!, text);
    expect(ours.stdout).toBe(text);
    expect(ours.stderr).toBe(`cat: ${text.length} bytes\n`);
  });

  it('deep_pause: suspended 200 frames deep, memory intact', async () => {
    const ours = await runInRuntime(new Runtime({ backend: 'asyncify' }), instrumented.get('deep_pause')!, 'a line\n');
    expect(ours.stdout).toContain('woke up, read "a line"');
    expect(ours.stdout).toMatch(/memory intact\n$/);
    expect(ours.code).toBe(0);
  });
});

describe('crashes stay inside their process', () => {
  it('a trapping process ends with its report; its siblings finish normally', async () => {
    const runtime = new Runtime({ backend: 'asyncify' });
    const [before, crashing, after] = await Promise.all([
      runInRuntime(runtime, instrumented.get('sleep')!),
      runInRuntime(runtime, instrumented.get('trap')!),
      runInRuntime(runtime, instrumented.get('hello')!),
    ]);
    expect(crashing.status.trap?.message).toBe('unreachable');
    expect(crashing.status.trap?.functions.slice(0, 2)).toEqual(['crash_here', 'main']);
    expect(crashing.stdout).toBe('about to trap\n');
    expect(before.status).toEqual({ code: 0 });
    expect(after.status).toEqual({ code: 0 });
  });

  it("names a trap's functions as the program has them: copies as their function, the frame helpers left out", () => {
    const frame = (name: string, index: number) => `    at ${name} (wasm://wasm/00ab12cd:wasm-function[${index}]:0x1a2)`;
    const stack = [
      'RuntimeError: unreachable',
      frame('crash_here$rewind', 9),
      frame('crash_here$resume', 8),
      frame('main$save', 7),
      frame('main', 3),
      frame('lunatic_asyncify_pop', 2),
      frame('_start$rewind_1', 1),
    ].join('\n');
    expect(wasmFunctionsOf(stack, undefined)).toEqual(['crash_here', 'main', '_start']);
    // A frame handed back to its re-entry copy, under the resume that called it.
    const handedBack = [frame('crash_here$reenter', 10), frame('crash_here$resume', 8), frame('main', 3)].join('\n');
    expect(wasmFunctionsOf(handedBack, undefined)).toEqual(['crash_here', 'main']);
    // An ordinary call from a resumed frame, which the callee's rewind copy passed on to it; a
    // recursive one from a resumed frame of the same function stays.
    const passedOn = [frame('crash_here', 4), frame('crash_here$rewind', 9), frame('main$rewind', 5), frame('main$rewind_2', 6)].join('\n');
    expect(wasmFunctionsOf(passedOn, undefined)).toEqual(['crash_here', 'main', 'main']);
    const recursive = [frame('dive', 4), frame('dive$rewind', 9), frame('dive$rewind', 9)].join('\n');
    expect(wasmFunctionsOf(recursive, undefined)).toEqual(['dive', 'dive']);
    // A rewind that entered exported or address-taken functions, which passed it on to their rewind copy or resume.
    const rewound = [
      frame('crash_here', 4),
      frame('main$rewind', 5),
      frame('main', 3),
      frame('_start$rewind', 6),
      frame('_start$resume', 7),
      frame('_start', 1),
    ].join('\n');
    expect(wasmFunctionsOf(rewound, undefined)).toEqual(['crash_here', 'main', '_start']);
  });

  it('stack overflow is a trap naming the recursive function', async () => {
    const { status } = await runInRuntime(new Runtime({ backend: 'asyncify' }), instrumented.get('stack_overflow')!);
    expect(status.trap?.functions[0]).toBe('dive');
  });

  it('kill ends a waiting process at once (deep_pause waits for a stdin that never comes)', async () => {
    const runtime = new Runtime({ backend: 'asyncify' });
    const process = runtime.spawn(instrumented.get('deep_pause')!, { hostModules: [wasi({})] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill();
    expect(await process.exited).toEqual({ killed: true });
    expect(process.state).toBe('exited');
  });
});

describe('suspension errors are clear', () => {
  /** Recurses `depth` times, then calls the blocking env.pause; the frames hold many locals. */
  const deepModule = (depth: number, memory = '1') =>
    wat(`(module
      (import "env" "pause" (func $pause (result i32)))
      (memory (export "memory") ${memory})
      (func $dive (param $n i32) (result i32)
        (local $a i64) (local $b i64) (local $c i64) (local $d i64)
        (local.set $a (i64.extend_i32_u (local.get $n)))
        (if (result i32) (i32.eqz (local.get $n))
          (then (call $pause))
          (else (i32.add (call $dive (i32.sub (local.get $n) (i32.const 1))) (i32.wrap_i64 (local.get $a))))))
      (func (export "_start") (drop (call $dive (i32.const ${depth})))))`);
  const pauseHost: HostModule = (ctx) => ({ env: { pause: () => ctx.sleep(1).then(() => 7) } });
  /** The pages of memory 0 after the process's run (the tail grows it). */
  const pagesAfter = async (binary: Uint8Array, options: { reservedPages?: number } = {}) => {
    let memory: WebAssembly.Memory | undefined;
    const host: HostModule = (ctx) => ({ env: { pause: () => ctx.sleep(1).then(() => ((memory = ctx.memory()), 7)) } });
    const status = await new Runtime({ backend: 'asyncify', ...options }).spawn(binary, { hostModules: [host] }).exited;
    return { status, pages: memory!.buffer.byteLength / 65536 };
  };

  it('a suspended stack deeper than the reserved tail grows the tail, and memory with it', async () => {
    const { binary } = await instrument(await deepModule(5000), { blockingImports: ['env.pause'] });
    const shallow = await pagesAfter((await instrument(await deepModule(10), { blockingImports: ['env.pause'] })).binary);
    expect(shallow).toEqual({ status: { code: 0 }, pages: 2 }); // the program's page and the 64 KiB tail
    const deep = await pagesAfter(binary);
    expect(deep.status).toEqual({ code: 0 });
    expect(deep.pages).toBeGreaterThan(2);
  });

  it('a suspended stack that memory cannot hold ends the process with the remedy', async () => {
    // A memory at its maximum from the start (2 pages with the tail): 5,000 frames do not fit in 64 KiB.
    const { binary } = await instrument(await deepModule(5000, '1 1'), { blockingImports: ['env.pause'] });
    const status = await new Runtime({ backend: 'asyncify' }).spawn(binary, { hostModules: [pauseHost] }).exited;
    expect(status.trap?.message).toMatch(/^stack overflow: the suspended stack did not fit in the 64 KiB reserved .*cannot grow further/);
    // The frame being saved when it overflowed, innermost: the frame helpers are left out.
    expect(status.trap?.functions[0]).toBe('dive');
  });

  it("binaryen's single-copy Asyncify keeps a fixed tail, which the runtime's reservedPages raises", async () => {
    const { binary } = await instrument(await deepModule(5000), { blockingImports: ['env.pause'], rewindCopies: false });
    const status = await new Runtime({ backend: 'asyncify' }).spawn(binary, { hostModules: [pauseHost] }).exited;
    expect(status.trap?.message).toMatch(/^stack overflow: .*--no-rewind-copies build .*--reserved-pages/);
    const grown = await new Runtime({ backend: 'asyncify', reservedPages: 16 }).spawn(binary, { hostModules: [pauseHost] }).exited;
    expect(grown).toEqual({ code: 0 });
  });

  it('a Promise from a non-blocking import names the import and the fix', async () => {
    const { binary } = await instrument(await deepModule(3), { blockingImports: [] });
    const status = await new Runtime({ backend: 'asyncify' }).spawn(binary, { hostModules: [pauseHost] }).exited;
    expect(status.trap?.message).toBe(
      'import env.pause returned a Promise but is not a blocking import of this module; re-instrument with --blocking-imports env.pause',
    );
  });

  it('a module built with --no-asyncify needs JSPI', async () => {
    const { binary } = await instrument(await deepModule(3), { asyncify: false });
    const status = await new Runtime({ backend: 'asyncify' }).spawn(binary, { hostModules: [pauseHost] }).exited;
    expect(status.trap?.message).toMatch(/^could not start: .*--no-asyncify, so it needs JSPI/);
  });

  it('a missing import is named', async () => {
    const status = await new Runtime({ backend: 'asyncify' }).spawn(instrumented.get('hello')!).exited;
    expect(status.trap?.message).toMatch(
      /^could not start: the module imports function wasi_snapshot_preview1\.\w+, which no host module provides$/,
    );
  });
});

describe('time slices', () => {
  /** The longest stretch of `log` with one value. */
  function longestRun(log: string[]): number {
    let longest = 0;
    for (let at = 0, run = 0; at < log.length; at++) {
      run = at > 0 && log[at] === log[at - 1] ? run + 1 : 1;
      longest = Math.max(longest, run);
    }
    return longest;
  }

  it('a process whose host calls take long gives up the CPU after about a slice, not after a budget of them', async () => {
    // Calls `env.work` until it returns 0 (an unknown trip count: the loop is checked).
    const { binary } = await instrument(
      await wat(`(module (import "env" "work" (func $work (result i32)))
        (func (export "_start") (loop $again (br_if $again (call $work)))))`),
      { blockingImports: [] },
    );
    // Each call takes 0.2 ms and costs what a lunatic call does: a budget of 4,000,000 reductions
    // is 2,000 calls, 400 ms, against a slice of about 1 ms.
    const log: string[] = [];
    const worker =
      (name: string): HostModule =>
      (ctx) => {
        let left = 100;
        const work = () => {
          for (const until = performance.now() + 0.2; performance.now() < until; );
          ctx.charge(HOST_CALL_REDUCTIONS);
          log.push(name);
          return --left;
        };
        return { env: { work } };
      };
    const runtime = new Runtime({ backend: 'asyncify' });
    const statuses = await Promise.all(['a', 'b'].map((name) => runtime.spawn(binary, { hostModules: [worker(name)] }).exited));
    expect(statuses).toEqual([{ code: 0 }, { code: 0 }]);
    expect(log).toHaveLength(200);
    // The clock is read every 16 calls (3.2 ms here): each turn ends within 32 calls; before, a ran its 100 at once.
    expect(longestRun(log)).toBeLessThanOrEqual(32);
  });
});

describe('nested calls', () => {
  it('a host function that calls back into wasm cannot have that call suspend', async () => {
    const { ImportCalls } = await import('../src/runtime/suspend.js');
    const calls = new ImportCalls();
    const inner = () => calls.invoke('env.inner', () => Promise.resolve(1), true, []);
    expect(() => calls.invoke('env.outer', inner, true, [])).toThrow(
      'import env.inner tried to suspend inside a nested call (host -> wasm -> host)',
    );
  });
});

describe('limits', () => {
  it('a spawn beyond maxProcesses throws ProcessLimitError in the caller; the others run, and room frees up as they end', async () => {
    const runtime = new Runtime({ backend: 'asyncify', maxProcesses: 2 });
    const spawn = () => runtime.spawn(instrumented.get('hello')!, { hostModules: [wasi({ stdin: '' })] }).exited;
    const running = [spawn(), spawn()];
    expect(spawn).toThrow(ProcessLimitError);
    expect(spawn).toThrow(/^too many processes: 2 are alive/);
    expect(await Promise.all(running)).toEqual([{ code: 0 }, { code: 0 }]);
    expect(await spawn()).toEqual({ code: 0 });
  });
});

describe('the V8 flags', () => {
  // Node 20 (V8 11.3) crashed under concurrent marking (src/runtime/node/engine.ts); Node 24 did not.
  const MARKING = '--no-concurrent-marking';
  // Memories counted as external memory started a full collection every 64 MB of them (engine.ts).
  const EXTERNAL = '--external-memory-accounted-in-global-limit';
  it('turn concurrent marking off below V8 13 only, and count external memory in the global limit on V8 13', () => {
    expect(engineFlags('11.3.244.8-node.33')).toEqual([MARKING]);
    expect(engineFlags('12.4.254.21-node.33')).toEqual([MARKING]);
    expect(engineFlags('13.6.233.10-node.28')).toEqual([EXTERNAL]);
    expect(engineFlags('14.0.1')).toEqual([]);
    expect(engineFlags('unknown')).toEqual([]);
  });

  it('leave a flag the command line sets, either way and in either spelling', () => {
    expect(engineFlags('11.3.244.8', ['--stack-size=2000', '--concurrent-marking'])).toEqual([]);
    expect(engineFlags('11.3.244.8', ['--no-concurrent_marking'])).toEqual([]);
    expect(engineFlags('11.3.244.8', ['--stack-size=2000', '--no-liftoff'])).toEqual([MARKING]);
    expect(engineFlags('13.6.233.10', ['--no-external_memory_accounted_in_global_limit'])).toEqual([]);
  });
});

describe("the engine's wasm memories (src/runtime/memory-limit.ts)", () => {
  // measured here: Node 24 failed at its 15,889th memory, Node 20 between 12,500 and 13,500
  it('are estimated under what V8 gave in a 47-bit address space: 8 GiB each on V8 13, 10 GiB before', () => {
    expect(wasmMemoryCapacity('13.6.233.10-node.28', [], 47)).toBe(15_360);
    expect(wasmMemoryCapacity('11.3.244.8-node.33', [], 47)).toBe(12_288);
    expect(wasmMemoryCapacity('unknown', [], 47)).toBe(12_288);
    expect(wasmMemoryCapacity('13.6.233.10', [], 39)).toBe(0); // a 512 GiB address space: none left past V8's own
  });

  it('are not estimated with the trap handler off (a memory then reserves its maximum only)', () => {
    expect(wasmMemoryCapacity('11.3.244.8', ['--disable-wasm-trap-handler'], 47)).toBe(Number.POSITIVE_INFINITY);
    expect(wasmMemoryCapacity('13.6.233.10', ['--no-wasm-trap-handler'], 47)).toBe(Number.POSITIVE_INFINITY);
    expect(wasmMemoryCapacity('13.6.233.10', ['--wasm-trap-handler'], 47)).toBe(15_360);
  });

  it("read the address space's size from where the stack is mapped", () => {
    const maps = (stack: string) =>
      `55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1 /usr/bin/node\n${stack} rw-p 00000000 00:00 0    [stack]\n`;
    expect(addressSpaceBits(maps('7ffc9f549000-7ffc9f56a000'))).toBe(47);
    expect(addressSpaceBits(maps('7fe9b45000-7fe9b66000'))).toBe(39);
    expect(addressSpaceBits('no stack here\n')).toBe(47);
    expect(addressSpaceBits()).toBeGreaterThanOrEqual(39); // this machine's
  });
});
