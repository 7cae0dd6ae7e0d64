// Processes moving between threads (src/runtime/threads/migration.ts and threads.ts `balance`):
// the MOVE record's round trip, the choice of the thread to move to, and test/threads/movers.c on
// two worlds joined as threads in this JS thread (test/helpers/threads.ts), where its workers must
// move (counted) and its output (checksums, messages in order, a configuration used after the
// move, a crash seen by a monitor and through a link) must be the output on one world; and, on
// three worlds with the interleaving forced, a moving sender's messages in the order sent.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { instrument } from '../src/index.js';
import { Runtime } from '../src/runtime/index.js';
import { type Emigrant, Lunatic, type LunaticProcess, NO_PERMISSIONS, type Program } from '../src/runtime/lunatic/index.js';
import { callbackOutput, wasiPreview1 } from '../src/runtime/wasi/index.js';
import type { Mailbox } from '../src/runtime/lunatic/mailbox.js';
import type { ThreadPeers } from '../src/runtime/threads/threads.js';
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

  /** Three worlds joined as threads, those in `listening` reading their rings, for `body`; what they run is killed after. */
  async function onThreeThreads(listening: number[], body: (threads: ThreeThreads) => Promise<void>): Promise<void> {
    const wasi = wasiPreview1({ args: ['movers'], env: {}, preopens: [] });
    const joined = Array.from({ length: 3 }, () => {
      const runtime = new Runtime({ backend: 'asyncify' });
      return { runtime, lunatic: new Lunatic({ core: runtime, hostModules: () => [wasi], reductions: 100_000 }) };
    });
    const worlds = joined.map(({ lunatic }) => lunatic);
    const program = await worlds[0]!.load(bytes);
    const peers = joinThreads(joined, program);
    for (const thread of listening) peers[thread]!.listen();
    try {
      await body({
        peers,
        // buddy waits for tag 1 (never sent here): what comes with tag 2 stays in its mailbox
        buddy: (thread) => worlds[thread]!.start(program, { permissions: NO_PERMISSIONS, entry: 'buddy' }),
        send: (thread, from, to, value) => expect(peers[thread]!.send(from, to, 2n, new Uint8Array([value]))).toBe(0),
        mailbox: (thread, pid) => worlds[thread]!.processes.get(pid)?.mailbox,
        arrived: (thread, pid) => worlds[thread]!.processes.has(pid),
      });
    } finally {
      for (const lunatic of worlds) for (const process of lunatic.processes.values()) process.core.kill();
      for (const peer of peers) peer.close();
    }
  }

  // A sender S on thread 2 sends m1 to P on thread 1, which is still starting (it reads nothing
  // yet), then moves to thread 0 and sends m2 from there. Thread 1 reads the ring from thread 0
  // first, so S must not run on thread 0 before thread 1 read m1 (its FLUSH answers that).
  it.skipIf(!clang)(
    'keeps a sender’s order when it moved while the receiver’s thread was starting',
    () =>
      onThreeThreads([0, 2], async ({ peers, buddy, send, mailbox }) => {
        const receiver = buddy(1);
        const sender = buddy(2);
        sender.mobile = true;
        send(2, sender.pid, receiver.pid, 1);
        expect(peers[2]!.move(sender.pid, 0)).toBe(true);
        setTimeout(() => peers[1]!.listen(), 200);
        await vi.waitFor(() => expect(peers[0]!.isHere(sender.pid)).toBe(true));
        send(0, sender.pid, receiver.pid, 2);
        await vi.waitFor(() => expect(mailbox(1, receiver.pid)?.size).toBe(2));
        expect(takeAllValues(mailbox(1, receiver.pid)!)).toEqual([1, 2]);
      }),
    30_000,
  );

  // A sender S on thread 0 sends m1 to P as P moves from thread 1 to 2: thread 2 holds m1 until P
  // settles. S then moves to thread 1 and sends m2 from there. m2 must wait behind m1, though it
  // comes from the thread P moved from: only what that thread forwards may pass. Thread 0 is
  // counted as started but reads nothing until the end, so P stays unsettled meanwhile (it waits
  // for thread 0's FLUSHED). S's pid is enough for its sends: the rings do not check where it runs.
  it.skipIf(!clang)(
    'keeps a sender’s order when it moved to the thread the receiver left (what was held first)',
    () =>
      onThreeThreads([1, 2], async ({ peers, buddy, send, mailbox, arrived }) => {
        peers[0]!.shared.markStarted(0);
        const sender = 1_000_000;
        const receiver = buddy(1);
        receiver.mobile = true;
        expect(peers[1]!.move(receiver.pid, 2)).toBe(true);
        send(0, sender, receiver.pid, 1);
        await vi.waitFor(() => expect(peers[2]!.shared.ring(0, 2).empty && arrived(2, receiver.pid)).toBe(true));
        send(1, sender, receiver.pid, 2);
        await vi.waitFor(() => expect(peers[2]!.shared.ring(1, 2).empty).toBe(true));
        peers[0]!.listen();
        await vi.waitFor(() => expect(mailbox(2, receiver.pid)?.size).toBe(2));
        expect(takeAllValues(mailbox(2, receiver.pid)!)).toEqual([1, 2]);
      }),
    30_000,
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

/** The first byte of each message in `mailbox`, in order, taking them out. */
function takeAllValues(mailbox: Mailbox): number[] {
  const values: number[] = [];
  for (let position = mailbox.find(0n); position >= 0; position = mailbox.find(0n)) {
    values.push(mailbox.messageAt(position).data[0]!);
    mailbox.remove(position);
  }
  return values;
}

/** What a test on three joined worlds (`onThreeThreads`) works with. */
interface ThreeThreads {
  peers: ThreadPeers[];
  /** Starts test/threads/movers.c's buddy on `thread`. */
  buddy(thread: number): LunaticProcess;
  /** Sends `value` (one byte, tag 2) from `from` to `to` through `thread`'s peers. */
  send(thread: number, from: number, to: number, value: number): void;
  mailbox(thread: number, pid: number): Mailbox | undefined;
  /** Whether `pid` is in `thread`'s world (arrived, settled or not). */
  arrived(thread: number, pid: number): boolean;
}
