// Spawning a function pointer (lunatic.spawn_fn, lunatic_spawn_fn in include/lunatic.h): which
// table entries the runtime accepts, read from hand-written modules (every element segment form,
// a wrong signature, a missing trampoline export), and a C command built with clang at test time
// run by `lunatic-instrument run` on Node 20 (Asyncify) and Node 24 (JSPI): the child gets its
// 64-bit argument and flushes its stdio, a wrong pointer is EINVAL in the parent, config, denied
// spawning and the link flag behave as for lunatic_spawn.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnableFunctions, TABLE_ENTRY_EXPORT } from '../src/runtime/lunatic/entries.js';
import { compileLunaticC } from './helpers/clang.js';
import { run } from './helpers/command.js';
import { findClang, projectRoot, requireNode24, requireTool } from './helpers/tools.js';
import { wat } from './helpers/wat.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');

describe('table entries that can start a process', () => {
  const functions = `
    (type $entry (func (param i64)))
    (import "env" "imported_entry" (func $imported (param i64)))
    (func $a (param i64))
    (func $b (param i64))
    (func $wrong (param i32))
    (func $returns (param i64) (result i32) (i32.const 0))
    (table 16 funcref)`;
  const trampoline = `(func (export "${TABLE_ENTRY_EXPORT}") (param i32 i64) (call_indirect (type $entry) (local.get 1) (local.get 0)))`;

  it('lists the (i64) -> () functions placed by active segments of table 0, in every segment form', async () => {
    const module = await wat(`(module ${functions} ${trampoline}
      (elem (i32.const 1) func $a $wrong $imported $returns)
      (elem (table 0) (i32.const 6) funcref (ref.func $b) (ref.null func))
      (elem (i32.const 9) funcref (ref.func $a))
      (elem (i32.const 2) func $b)
      (elem func $a)
      (elem declare func $b))`);
    const { tableEntries } = spawnableFunctions(module);
    // 1: $a, 2: $wrong overwritten by $b, 3: the imported (i64) function, 4: returns a value,
    // 6: $b, 7: null, 9: $a; passive and declarative segments fill nothing
    expect([...tableEntries!].sort((x, y) => x - y)).toEqual([1, 2, 3, 6, 9]);
  });

  it('lists none without the trampoline export, or with one of another type', async () => {
    expect(spawnableFunctions(await wat(`(module ${functions} (elem (i32.const 1) func $a))`)).tableEntries).toBeUndefined();
    const wrongType = `(func (export "${TABLE_ENTRY_EXPORT}") (param i32 i32))`;
    expect(spawnableFunctions(await wat(`(module ${functions} ${wrongType} (elem (i32.const 1) func $a))`)).tableEntries).toBeUndefined();
  });

  it('the named entries stay as before: exports taking nothing, an i32 or an i64, not imports', async () => {
    const module = await wat(`(module ${functions} ${trampoline}
      (export "a" (func $a)) (export "wrong" (func $wrong)) (export "imported" (func $imported)))`);
    expect(spawnableFunctions(module).entries).toEqual(
      new Map([
        ['a', 'i64'],
        ['wrong', 'i32'],
      ]),
    );
  });
});

/** Prints every result on its own line; stdout is line-buffered so the order is the processes' order. */
const PROGRAM = String.raw`
#include <stdio.h>
#include "lunatic.h"

static void greet(int64_t arg) { printf("child got %lld\n", (long long)arg); }
static void crash(int64_t arg) { (void)arg; __builtin_trap(); }
static int32_t add_one(int32_t x) { return x + 1; }

static void try_spawn(int64_t parent) {
  int32_t result = lunatic_spawn_fn(greet, 1, 0, 0);
  lunatic_send((int32_t)parent, 7, &result, sizeof result);
}

static lunatic_down_t wait_for(int64_t tag) {
  lunatic_down_t down = {0, -1, 0};
  lunatic_receive(&down, sizeof down, tag, 5000, NULL);
  return down;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int32_t child = lunatic_spawn_fn(greet, -0x123456789ALL, 0, 0);
  lunatic_monitor(child);
  lunatic_down_t down = wait_for(LUNATIC_TAG_DOWN);
  printf("greet ended: %d, reason %d\n", down.pid == child, down.reason);

  int32_t (*volatile other)(int32_t) = add_one;
  printf("wrong signature: %d\n", lunatic_spawn_table_entry((int32_t)(uintptr_t)other, 0, 0, 0));
  printf("past the table: %d\n", lunatic_spawn_table_entry(100000, 0, 0, 0));
  printf("negative: %d\n", lunatic_spawn_table_entry(-1, 0, 0, 0));
  printf("null: %d\n", lunatic_spawn_fn(NULL, 0, 0, 0));
  printf("bad config: %d\n", lunatic_spawn_fn(greet, 0, 0, 4242));

  int32_t config = lunatic_config_new();
  lunatic_config_deny_spawn(config);
  lunatic_spawn_fn(try_spawn, lunatic_self(), 0, config);
  int32_t denied = 0;
  lunatic_receive(&denied, sizeof denied, 7, 5000, NULL);
  printf("denied child: %d\n", denied);

  lunatic_trap_links(1);
  int32_t linked = lunatic_spawn_fn(crash, 0, LUNATIC_SPAWN_LINK, 0);
  down = wait_for(LUNATIC_TAG_LINK_DOWN);
  printf("linked crash: %d, reason %d\n", down.pid == linked, down.reason);
  return 0;
}
`;

const EXPECTED = [
  'child got -78187493530',
  'greet ended: 1, reason 0',
  'wrong signature: -6',
  'past the table: -6',
  'negative: -6',
  'null: -6',
  'bad config: -2',
  'denied child: -1',
  'linked crash: 1, reason 1',
  '',
].join('\n');

describe('lunatic_spawn_fn from C, through lunatic-instrument run', () => {
  const clang = requireTool('clang for wasm32-wasi', findClang(), 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32');
  const node24 = requireNode24();
  let dir: string;
  let program: string;
  beforeAll(() => {
    if (!clang) return;
    dir = mkdtempSync(join(tmpdir(), 'lunatic-spawn-fn-'));
    program = join(dir, 'spawn-fn.wasm');
    writeFileSync(program, compileLunaticC(clang, PROGRAM, { command: true }));
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  async function expectRuns(node: string, threads: number): Promise<void> {
    const result = await run(node, [BIN, 'run', program, '--threads', String(threads)], { cwd: dir });
    expect({ code: result.code, stdout: result.stdout }, result.stderr).toEqual({ code: 0, stdout: EXPECTED });
    expect(result.stderr).toMatch(/^lunatic-instrument: process \d+ crashed: unreachable\n\s+at crash\n/);
  }

  it.skipIf(!clang)('on Node 20 (Asyncify, instrumented in memory), one thread', () => expectRuns(process.execPath, 1), 60_000);
  it.skipIf(!clang)('on Node 20, two threads (the children on the worker)', () => expectRuns(process.execPath, 2), 60_000);
  it.skipIf(!clang || !node24)('on Node 24 (JSPI), two threads', () => expectRuns(node24!, 2), 60_000);
});
