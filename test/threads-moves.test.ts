// Processes moving between threads (src/runtime/threads/migration.ts and threads.ts `balance`):
// the MOVE record's round trip, the choice of the thread to move to, and test/threads/movers.c on
// two worlds joined as threads in this JS thread (test/helpers/threads.ts), where its workers must
// move (counted) and its output (checksums, messages in order, a configuration used after the
// move, a crash seen by a monitor and through a link) must be the output on one world.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { Runtime } from '../src/runtime/index.js';
import { type Emigrant, Lunatic, type LunaticProcess, NO_PERMISSIONS, type Program } from '../src/runtime/lunatic/index.js';
import { callbackOutput, wasiPreview1 } from '../src/runtime/wasi/index.js';
import { decodeMove, encodeMove, moveTarget } from '../src/runtime/threads/migration.js';
import { Kind } from '../src/runtime/threads/outbox.js';
import { compileLunaticC } from './helpers/clang.js';
import { joinThreads } from './helpers/threads.js';
import { findClang, projectRoot, requireTool } from './helpers/tools.js';

describe('the MOVE record', () => {
  const emigrant: Emigrant = {
    pid: 42,
    permissions: { ...NO_PERMISSIONS, canSpawn: true },
    entry: '__lunatic_table_entry',
    args: [3, -5n],
    links: [1, 7],
    monitoredBy: [2],
    monitoring: [],
    trapLinks: true,
    messages: [
      { tag: 5n, sender: 9, data: new Uint8Array([1, 2, 3]) },
      { tag: -1n, sender: 7, data: new Uint8Array(12).fill(0xee) },
      { tag: 6n, sender: 9, data: new Uint8Array(0) },
    ],
    configs: [{ handle: 11, permissions: NO_PERMISSIONS }],
    departure: {
      hibernated: {
        snapshot: {
          length: 3 * 65536,
          runs: new Uint32Array([256, 768, 70000, 70256]),
          bytes: Uint8Array.from({ length: 768 }, (_, i) => i & 0xff),
          globals: [1024, -1n, Number.NaN, -0, Number.POSITIVE_INFINITY, 0.5],
        },
        suspender: { entry: '_start', args: [], data: 131072, tailUsed: 48 },
      },
      budgetsSpent: 17,
      yields: 4,
      hibernations: 1,
      carried: [{ monotonic: '123456789012', started: '5' }, undefined],
    },
  };

  it('carries a preempted process whole: snapshot, globals JSON cannot hold, arguments, mailbox, links and handles', () => {
    const record = encodeMove(emigrant, true);
    expect(record[0]).toBe(Kind.MOVE);
    // as the ring hands it over: somewhere inside a larger buffer
    const ring = new Uint8Array(record.length + 13);
    ring.set(record, 5);
    const { emigrant: back, named } = decodeMove(ring, 5, record.length);
    expect(named).toBe(true);
    const globals = back.departure.hibernated!.snapshot.globals;
    expect(Object.is(globals[3], -0)).toBe(true);
    expect(globals[2]).toBeNaN();
    expect({ ...back, departure: { ...back.departure, carried: back.departure.carried.slice(0, 1) } }).toEqual({
      ...emigrant,
      departure: { ...emigrant.departure, carried: emigrant.departure.carried.slice(0, 1) },
    });
    expect(back.departure.hibernated!.snapshot.runs).toBeInstanceOf(Uint32Array);
  });

  it('carries a process that has not started: its start and mailbox only', () => {
    const unstarted: Emigrant = { ...emigrant, departure: { ...emigrant.departure, hibernated: undefined, carried: [] } };
    const record = encodeMove(unstarted, false);
    expect(decodeMove(record, 0, record.length)).toEqual({ emigrant: unstarted, named: false });
  });
});

describe('the thread a process moves to', () => {
  const busy = (counts: number[]) => (thread: number) => counts[thread]!;

  it('is the one with the least waiting, when it has at least two fewer than this one', () => {
    expect(moveTarget(0, 3, 3, busy([3, 2, 0]))).toBe(2);
    expect(moveTarget(1, 2, 2, busy([0, 2]))).toBe(0);
  });

  it('is none when a move would only swap which thread waits', () => {
    expect(moveTarget(0, 2, 2, busy([2, 1]))).toBeUndefined();
    expect(moveTarget(0, 1, 2, busy([1, 0]))).toBeUndefined();
    expect(moveTarget(0, 5, 3, busy([5, 4, 4]))).toBeUndefined();
  });
});

describe('test/threads/movers.c on two worlds joined as threads', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  let bytes: Uint8Array;
  beforeAll(async () => {
    if (!clang) return;
    const plain = compileLunaticC(clang, readFileSync(join(projectRoot, 'test/threads/movers.c'), 'utf8'), { command: true });
    bytes = (await instrument(plain)).binary;
  }, 60_000);

  /**
   * Runs the program on `threads` joined worlds: what it printed, its exit, and how many processes
   * moved. `copiesAgree` checks the copies a move leaves behind (each world's onSpawn saw one per
   * arrival): one per move, each settling with the status of the process's real end.
   */
  async function runMovers(threads: number, moves = true): Promise<{ stdout: string; code: number | undefined; moved: number }> {
    const spawned: LunaticProcess[] = [];
    let stdout = '';
    const stdoutOutput = callbackOutput((chunk) => {
      stdout += new TextDecoder().decode(chunk);
    });
    const wasi = wasiPreview1({ args: ['movers'], env: {}, preopens: [], stdout: stdoutOutput });
    const worlds = Array.from({ length: threads }, () => {
      const runtime = new Runtime({ backend: 'asyncify' });
      const onSpawn = (process: LunaticProcess) => void spawned.push(process);
      return { runtime, lunatic: new Lunatic({ core: runtime, hostModules: () => [wasi], reductions: 100_000, onSpawn }) };
    });
    const program: Program = await worlds[0]!.lunatic.load(bytes);
    const peers = threads > 1 ? joinThreads(worlds, program, { moves }) : [];
    for (const peer of peers) peer.listen();
    try {
      const status = await worlds[0]!.lunatic.start(program, { permissions: { ...NO_PERMISSIONS, canSpawn: true } }).exited;
      const moved = peers.reduce((sum, peer) => sum + peer.moved, 0);
      await copiesAgree(spawned, moved);
      return { stdout, code: status.code, moved };
    } finally {
      for (const { lunatic } of worlds) for (const process of lunatic.processes.values()) process.core.kill();
      for (const peer of peers) peer.close();
    }
  }

  /** Every copy of a process (one per world it was in) settles its `exited` with one status; as many extra copies as moves. */
  async function copiesAgree(spawned: LunaticProcess[], moved: number): Promise<void> {
    const endings = new Map<number, Set<string>>();
    for (const process of spawned) {
      const status = JSON.stringify(await process.exited);
      endings.set(process.pid, (endings.get(process.pid) ?? new Set()).add(status));
    }
    expect(spawned.length - endings.size).toBe(moved);
    expect([...endings.values()].filter((statuses) => statuses.size > 1)).toEqual([]);
  }

  it.skipIf(!clang)(
    'moves busy workers to the idle thread, and prints what one thread prints',
    async () => {
      const one = await runMovers(1);
      expect(one.code).toBe(0);
      expect(one.stdout).toContain('workers ended: 5 exited, 1 crashed (worker 3), 0 killed\nbuddy: reason 2\n');
      const two = await runMovers(2);
      expect(two.moved).toBeGreaterThan(0);
      expect(two).toEqual({ ...one, moved: two.moved });
      const staying = await runMovers(2, false);
      expect(staying).toEqual({ ...one, moved: 0 });
    },
    60_000,
  );

  // with a third thread, every move asks two threads to FLUSH, and a moving sender's old and new
  // messages take different rings (test/threads.test.ts runs it on three worker threads too)
  it.skipIf(!clang)(
    'prints what one thread prints on three threads, moves and all',
    async () => {
      const one = await runMovers(1);
      for (let run = 0; run < 3; run++) {
        const three = await runMovers(3);
        expect(three.moved).toBeGreaterThan(0);
        expect(three).toEqual({ ...one, moved: three.moved });
      }
    },
    60_000,
  );
});
