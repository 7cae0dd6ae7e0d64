// The scenarios of test/runtime-faults.test.ts: faulting C processes (built from FAULTS_C) next to
// well-behaved ones in one lunatic world, once all at once and once as a long soak.
//
// The same code runs in-process (Asyncify on this Node) and in a Node 24 child for JSPI: each
// scenario takes ready module bytes and returns plain JSON. Run as a script with `--child`, this
// file reads one task on stdin and writes its result on stdout (the test bundles it first).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type BackendName, DEFAULT_REDUCTIONS, type ExitStatus, type HostModule, importsOf, Runtime } from '../../src/runtime/index.js';
import { Lunatic, type LunaticProcess, NO_PERMISSIONS, type Permissions, type Program } from '../../src/runtime/lunatic/index.js';
import { CollectedOutput, wasiPreview1 } from '../../src/runtime/wasi/index.js';

/** How many refused sends a flooder tries before it gives up. */
export const FLOOD_REFUSALS = 100;

/** The program: one exported function per kind of process. */
export const FAULTS_C = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lunatic.h"

#define EXPORT(name) __attribute__((export_name(name)))
__attribute__((import_module("test"), import_name("tick"))) void tick(void);

/* ---- Well-behaved work ---- */

/* FNV-1a over n bytes of a linear congruential sequence (the test computes it too); sleeps
   1 ms every 2^20 bytes, so the process is both suspended and preempted. */
EXPORT("checksum") void checksum(int32_t n) {
  uint32_t hash = 2166136261u, x = 12345;
  for (int32_t i = 1; i <= n; i++) {
    x = x * 1103515245u + 12345u;
    hash = (hash ^ ((x >> 16) & 0xff)) * 16777619u;
    if ((i & 0xfffff) == 0) lunatic_sleep_ms(1);
  }
  printf("checksum(%d) = %08x\n", n, hash);
}

/* ---- Traps ---- */

EXPORT("trap_unreachable") void trap_unreachable(void) { __builtin_trap(); }
EXPORT("trap_out_of_bounds") void trap_out_of_bounds(void) { *(volatile int32_t *)0xfffffff0 = 1; }
EXPORT("trap_divide_by_zero") void trap_divide_by_zero(int32_t zero) {
  volatile int32_t seven = 7;
  printf("%d\n", seven / zero);
}

/* ---- Memory: allocates and touches 64 KiB chunks for ever ---- */

static void *volatile last_chunk; /* the chunks escape, so clang cannot drop the allocations */

EXPORT("grow_memory") void grow_memory(void) {
  for (size_t total = 0;; total += 65536) {
    char *chunk = malloc(65536);
    if (!chunk) {
      printf("malloc failed after %zu bytes\n", total);
      return;
    }
    memset(chunk, 1, 65536);
    last_chunk = chunk;
  }
}

/* ---- Unbounded recursion (not tail calls; never keeps clang from proving them endless) ---- */

static volatile uint32_t never = 0xffffffffu;

__attribute__((noinline)) static uint64_t dive(uint32_t depth) {
  if (depth == never) return 0;
  return dive(depth + 1) * 31 + depth;
}

EXPORT("recurse") void recurse(void) { printf("%llu\n", (unsigned long long)dive(0)); }

/* Lets the others run every 64 levels: the process is suspended deep in its recursion. */
__attribute__((noinline)) static uint64_t dive_yielding(uint32_t depth) {
  if (depth == never) return 0;
  if (depth % 64 == 0) lunatic_yield_now();
  return dive_yielding(depth + 1) * 31 + depth;
}

EXPORT("recurse_yielding") void recurse_yielding(void) { printf("%llu\n", (unsigned long long)dive_yielding(0)); }

/* ---- Spinning without lunatic calls; test.tick every 1,024 iterations counts them ---- */

static volatile uint32_t spins; /* volatile: every iteration really runs */

EXPORT("spin") void spin(void) {
  for (;;)
    if ((++spins & 1023) == 0) tick();
}

/* ---- Monitors ---- */

EXPORT("monitor_and_trap") void monitor_and_trap(int32_t pid) {
  lunatic_monitor(pid);
  __builtin_trap();
}

/* Spawns n processes that monitor it and crash, monitors each of them and takes their DOWN
   notifications; then waits for a message that never comes. */
EXPORT("watched_by_crashers") void watched_by_crashers(int32_t n) {
  for (int32_t i = 0; i < n; i++) lunatic_monitor(lunatic_spawn_named("monitor_and_trap", lunatic_self(), 0, 0));
  lunatic_down_t down;
  int32_t crashed = 0;
  for (int32_t i = 0; i < n; i++) {
    lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
    crashed += down.reason == LUNATIC_REASON_CRASHED;
  }
  printf("%d crashed\n", crashed);
  fflush(stdout);
  lunatic_receive(&down, sizeof down, LUNATIC_TAG_ANY, LUNATIC_FOREVER, NULL);
}

/* ---- Flooding a mailbox ---- */

#define FLOOD_TAG 1
#define REFUSALS ${FLOOD_REFUSALS}

/* arg: the victim's pid (low 32 bits) and the message size (high 32 bits). Sends until REFUSALS
   sends were refused, then exits with the error code. */
EXPORT("flooder") void flooder(int64_t arg) {
  int32_t victim = (int32_t)arg;
  uint32_t size = (uint32_t)(arg >> 32);
  int32_t *message = calloc(1, size);
  int32_t sent = 0, refused = 0, error = 0;
  while (refused < REFUSALS) {
    *message = sent;
    int32_t result = lunatic_send(victim, FLOOD_TAG, message, size);
    if (result == 0) {
      sent++;
    } else {
      refused++;
      error = result;
    }
  }
  printf("flooder: %d messages of %u bytes sent, then %d refused with %d\n", sent, size, refused, error);
  lunatic_exit(-error);
}

/* Spawns a flooder of size-byte messages aimed at itself and waits until it has ended (the DOWN
   notification gets into a full mailbox), then reads what got through. */
EXPORT("flood_victim") void flood_victim(int32_t size) {
  int32_t flooder = lunatic_spawn_named("flooder", ((int64_t)size << 32) | lunatic_self(), 0, 0);
  lunatic_monitor(flooder);
  lunatic_down_t down;
  lunatic_receive(&down, sizeof down, LUNATIC_TAG_DOWN, LUNATIC_FOREVER, NULL);
  int32_t *message = malloc(size);
  int32_t count = 0, in_order = 1;
  while (lunatic_receive(message, size, FLOOD_TAG, 0, NULL) == size) in_order &= (*message == count++);
  printf("victim: flooder %d exited with code %d; got %d messages of %d bytes%s\n", flooder, down.code, count, size,
         in_order ? ", in order" : ", OUT OF ORDER");
}
`;

/** The kinds of faulting process, as the soak cycles through them. */
export const FAULTS = [
  'unreachable',
  'out-of-bounds',
  'divide-by-zero',
  'memory',
  'recursion',
  'yielding-recursion',
  'reductions',
  'flood',
] as const;
export type Fault = (typeof FAULTS)[number];

/** The limits of the faulting processes. */
export const LIMITS = { memoryPages: 64, reductions: 20_000_000, mailbox: 16 } as const;
/** Size of the flood messages: small ones fill the mailbox's count, big ones its bytes. */
export const FLOOD_MESSAGE_BYTES = { small: 4, big: 1 << 20 } as const;
/** The well-behaved checksum processes of the mix: their lengths. */
export const CHECKSUM_LENGTHS = [3_000_000, 6_000_000, 9_000_000] as const;

export interface Launch {
  entry: string;
  arg?: bigint;
  permissions?: Partial<Permissions>;
}

const floodVictim = (bytes: number, permissions: Partial<Permissions> = {}): Launch => ({
  entry: 'flood_victim',
  arg: BigInt(bytes),
  permissions: { canSpawn: true, ...permissions },
});

const LAUNCH: Record<Fault, Launch> = {
  unreachable: { entry: 'trap_unreachable' },
  'out-of-bounds': { entry: 'trap_out_of_bounds' },
  'divide-by-zero': { entry: 'trap_divide_by_zero', arg: 0n },
  memory: { entry: 'grow_memory', permissions: { maxMemoryPages: LIMITS.memoryPages } },
  recursion: { entry: 'recurse' },
  'yielding-recursion': { entry: 'recurse_yielding' },
  reductions: { entry: 'spin', permissions: { maxReductions: LIMITS.reductions } },
  // Started as its victim (role 'flood-victim'), which spawns the flooder (the faulting process).
  flood: floodVictim(FLOOD_MESSAGE_BYTES.small, { mailboxCapacity: LIMITS.mailbox }),
};

const VICTIM = 'flood-victim';
/** The role of the process started for a fault: the flood's faulting process is spawned by its victim. */
const startedRole = (fault: Fault) => (fault === 'flood' ? VICTIM : fault);
const faultingRole = (outcome: Outcome) => outcome.role !== VICTIM;

/** How one process ended and what it wrote. */
export interface Outcome {
  /** What it was started as: a fault (the flooder for 'flood'), 'flood-victim', 'big-flood-victim' or 'checksum'. */
  role: string;
  pid: number;
  status: ExitStatus;
  stdout: string;
  /** Its calls of test.tick (the spinner: one per 1,024 loop iterations). */
  ticks: number;
}

/**
 * A lunatic world on one runtime whose processes write to collected stdout and count ticks. It
 * keeps nothing of a process once its outcome is taken, but a WeakRef, to see it collected.
 */
export class Harness {
  readonly runtime: Runtime;
  readonly lunatic: Lunatic;
  /** Outcomes of the processes spawned from wasm (the flooders); the caller takes them. */
  children: Promise<Outcome>[] = [];
  readonly weakRefs: WeakRef<object>[] = [];
  private readonly stdout = new Map<number, CollectedOutput>();
  private readonly ticks = new Map<number, number>();
  private readonly childRole: string;
  private program: Program | undefined;

  /** `childRole`: the role of the processes spawned from wasm; `reductions`: the time slice. */
  constructor(backend: BackendName, { childRole = 'flood', reductions = DEFAULT_REDUCTIONS } = {}) {
    this.childRole = childRole;
    this.runtime = new Runtime({ backend, reductions });
    const testModule: HostModule = (ctx) => {
      const stdout = new CollectedOutput();
      this.stdout.set(ctx.pid, stdout);
      const tick = () => void this.ticks.set(ctx.pid, (this.ticks.get(ctx.pid) ?? 0) + 1);
      return { ...importsOf(wasiPreview1({ args: ['faults'], env: {}, preopens: [], stdout, stderr: stdout }), ctx), test: { tick } };
    };
    this.lunatic = new Lunatic({
      core: this.runtime,
      reductions,
      hostModules: () => [testModule],
      onSpawn: (child) => this.children.push(this.outcome(this.childRole, child)),
    });
  }

  async load(bytes: Uint8Array): Promise<void> {
    this.program = await this.lunatic.load(bytes);
  }

  spawn(launch: Launch): LunaticProcess {
    const permissions = { ...NO_PERMISSIONS, ...launch.permissions };
    return this.lunatic.start(this.program!, { entry: launch.entry, arg: launch.arg, permissions });
  }

  start(role: string, launch: Launch): Promise<Outcome> {
    return this.outcome(role, this.spawn(launch));
  }

  /** Starts one process of each fault; resolves with their outcomes and their flooders'. */
  async cycle(): Promise<Outcome[]> {
    const outcomes = await Promise.all(FAULTS.map((fault) => this.start(startedRole(fault), LAUNCH[fault])));
    const children = this.children;
    this.children = [];
    return [...outcomes, ...(await Promise.all(children))];
  }

  /** What a live process has written to stdout so far. */
  output(pid: number): string {
    return this.stdout.get(pid)?.text() ?? '';
  }

  async outcome(role: string, process: LunaticProcess): Promise<Outcome> {
    this.weakRefs.push(new WeakRef(process), new WeakRef(process.core));
    const status = await process.exited;
    const { pid } = process;
    const outcome = { role, pid, status, stdout: this.stdout.get(pid)?.text() ?? '', ticks: this.ticks.get(pid) ?? 0 };
    this.stdout.delete(pid);
    this.ticks.delete(pid);
    return outcome;
  }
}

/** One process of each fault, a flood of big messages and the checksums, all at once. */
export async function faultMix(bytes: Uint8Array, backend: BackendName): Promise<Outcome[]> {
  const harness = new Harness(backend);
  await harness.load(bytes);
  const started = [
    ...FAULTS.map((fault) => harness.start(startedRole(fault), LAUNCH[fault])),
    harness.start('big-flood-victim', floodVictim(FLOOD_MESSAGE_BYTES.big)),
    ...CHECKSUM_LENGTHS.map((n) => harness.start('checksum', { entry: 'checksum', arg: BigInt(n) })),
  ];
  const outcomes = await Promise.all(started);
  return [...outcomes, ...(await Promise.all(harness.children))];
}

/** process.memoryUsage() after a full garbage collection, in bytes. */
export interface MemorySample {
  heapUsed: number;
  rss: number;
  arrayBuffers: number;
  external: number;
}

export interface SoakResult {
  faulting: Outcome[];
  /** The flood victims, well-behaved. */
  victims: Outcome[];
  /** After the first `warmUp` faulting processes, and at the end. */
  memory: { afterWarmUp: MemorySample; atEnd: MemorySample };
  /** Processes (lunatic and core objects) still reachable after the last collection. */
  uncollected: number;
  /** Entries left in the runtime's tables at the end. */
  tables: { runtimeProcesses: number; lunaticProcesses: number; handles: number };
  /** Active timers before and after (a leftover watchdog or sleep timer shows here). */
  timers: { before: number; after: number };
  milliseconds: number;
}

/**
 * `count` faulting processes in a row, a cycle of every fault at a time, in one runtime: the
 * memory after the first `warmUp` of them and after the last, each after a full collection.
 */
export async function faultSoak(bytes: Uint8Array, backend: BackendName, count: number, warmUp: number): Promise<SoakResult> {
  const started = performance.now();
  const harness = new Harness(backend);
  await harness.load(bytes);
  const timersBefore = activeTimers();
  const outcomes: Outcome[] = [];
  const faultingSoFar = () => outcomes.filter(faultingRole).length;
  let afterWarmUp: MemorySample | undefined;
  while (faultingSoFar() < count) {
    outcomes.push(...(await harness.cycle()));
    if (!afterWarmUp && faultingSoFar() >= warmUp) afterWarmUp = await memorySample();
  }
  // Under load a process's last timers and jobs can outlive two rounds: collect until every
  // process is gone or a second has passed, so a real leak still shows.
  const atEnd = await memorySample(() => harness.weakRefs.every((ref) => ref.deref() === undefined));
  return {
    faulting: outcomes.filter(faultingRole),
    victims: outcomes.filter((outcome) => !faultingRole(outcome)),
    memory: { afterWarmUp: afterWarmUp!, atEnd },
    uncollected: harness.weakRefs.filter((ref) => ref.deref() !== undefined).length,
    tables: {
      runtimeProcesses: harness.runtime.processes.size,
      lunaticProcesses: harness.lunatic.processes.size,
      handles: harness.lunatic.handles.size,
    },
    timers: { before: timersBefore, after: activeTimers() },
    milliseconds: performance.now() - started,
  };
}

const activeTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

/** `gc`, exposed at run time when Node was started without --expose-gc (vitest's workers). */
function garbageCollector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Collections (10 ms apart after the first two) before a sample counts what is left. */
const SETTLE_ROUNDS = 100;

const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve));

async function memorySample(settled: () => boolean = () => true): Promise<MemorySample> {
  const gc = garbageCollector();
  // WeakRef targets and finished promises' jobs are only released once the current job is over.
  for (let round = 0; round < 2 || (!settled() && round < SETTLE_ROUNDS); round++) {
    await (round < 2 ? nextMacrotask() : new Promise((resolve) => setTimeout(resolve, 10)));
    gc();
  }
  const { heapUsed, rss, arrayBuffers, external } = process.memoryUsage();
  return { heapUsed, rss, arrayBuffers, external };
}

/** A scenario as the Node 24 child runs it. */
export type FaultTask = { scenario: 'mix' } | { scenario: 'soak'; count: number; warmUp: number };

export function runFaultTask(bytes: Uint8Array, backend: BackendName, task: FaultTask): Promise<unknown> {
  return task.scenario === 'mix' ? faultMix(bytes, backend) : faultSoak(bytes, backend, task.count, task.warmUp);
}

interface ChildInput {
  backend: BackendName;
  module: string;
  task: FaultTask;
}

/** Runs a task in another Node (`script`: this file, bundled); the result comes back as JSON. */
export function runFaultTaskInNode(
  node: string,
  script: string,
  bytes: Uint8Array,
  backend: BackendName,
  task: FaultTask,
): Promise<unknown> {
  const input: ChildInput = { backend, task, module: Buffer.from(bytes).toString('base64') };
  return new Promise((resolve, reject) => {
    const child = spawn(node, [script, '--child'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`${node} ${script} --child exited with ${code}: ${output}`)),
    );
    child.stdin.end(JSON.stringify(input));
  });
}

async function childMain(): Promise<void> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const input = JSON.parse(text) as ChildInput;
  const result = await runFaultTask(new Uint8Array(Buffer.from(input.module, 'base64')), input.backend, input.task);
  process.stdout.write(JSON.stringify(result));
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--child')) await childMain();
