// A vessel: one instance of a module, with its suspension backend and its import functions,
// that runs process after process (an instance pool, after wasmtime's pooling allocator).
//
// Making an instance costs V8 tens of microseconds and a large address-space reservation for
// its memory, and its garbage is collected late; resetting one to the module's initial state
// costs one copy of the initial memory (a few microseconds for a small C program) and a write
// per global. A module can be reset when the instrumenter exported all its state (docs/ABI.md,
// "Process state"); every host module must be of the reusable form (types.ts), whose functions
// are made once per vessel and read the state of the process the vessel runs now (its tenant).
// Anything else gets a vessel of its own, used once.
//
// A vessel also takes in a hibernated process: its memory and globals are written back
// (snapshot.ts) and it resumes where it stopped.
import { linkImports, mergeImports } from './link.js';
import type { Waitable } from './pending.js';
import type { MemoryShare } from './memory-limit.js';
import { memoryScanner } from './memory-scan.js';
import { instrumentInfoOf } from './module-info.js';
import {
  BlockList,
  dirtyBlocks,
  type InitialMemory,
  initialMemory,
  restoreInitial,
  restoreSnapshot,
  type Scanner,
  type Snapshot,
  takeSnapshot,
} from './snapshot.js';
import type { BackendName, Suspender, SuspenderState } from './suspend.js';
import { AsyncifySuspender, exportedMemory } from './suspend-asyncify.js';
import { JspiSuspender } from './suspend-jspi.js';
import { type HostModule, type HostModuleKind, importsOf, isReusable, type ProcessContext } from './types.js';

export const STATE_GLOBAL_PREFIX = 'lunatic_global_';

/**
 * Host calls charged between two reads of the clock. A host call costs a flat charge
 * (HOST_CALL_REDUCTIONS), but some cost the host far more than others: 10,000 sends to waiting
 * processes took about 5 us each, so 2,000 of them, one budget, kept the CPU 10 ms where the
 * slice is 1 ms. So every so many calls the clock decides too; every call would add the clock's
 * 50 ns to the cheapest ones.
 */
const CHARGES_PER_CLOCK_READ = 16;

/** The host states of an empty vessel. */
const NO_HOST_STATES: readonly unknown[] = [];

/** What a vessel asks of the process it runs. */
export interface Tenant extends ProcessContext {
  /** A blocking import returned `wait` (the backend's SuspendHost.park). */
  park(wait: Waitable): Promise<unknown> | undefined;
  /** An import threw what ends it, in a module that catches (the backend's SuspendHost.abandon). */
  abandon(error: unknown): Promise<never>;
  /** `lunatic.yield`: the reduction budget is spent. Returns what the import returns (a wait to give up the CPU). */
  budgetSpent(): unknown;
  /** Whether its slice has had its minimum time: then the next check should end the budget. */
  sliceOver(): boolean;
}

/** What a vessel is made for: processes of the same module, backend and host module kinds share vessels. */
export interface VesselSpec {
  module: WebAssembly.Module;
  backend: BackendName;
  /** `module.name` globs of the imports that may suspend. */
  blocking: readonly string[];
  reservedPages: number | undefined;
  hostModules: readonly HostModule[];
  /** The module's section says its whole state is exported (docs/ABI.md). */
  resettable: boolean;
}

/** A process's place in memory while it hibernates: everything a vessel needs to take it back. */
export interface Hibernated {
  snapshot: Snapshot;
  suspender: SuspenderState;
}

/** The initial state of a module's instances: what `reset` writes back. */
class InitialState {
  private image: InitialMemory | undefined;

  constructor(
    /** Read from the first instance before it ran (they include what the backend set when it attached). */
    readonly globals: unknown[],
    /** The memory's length when the first instance was ready (the backend may have grown it). */
    readonly length: number,
    /** A new instance no process runs: its memory is the initial image. */
    private fresh: (() => WebAssembly.Instance) | undefined,
  ) {}

  /**
   * The initial memory, made when a reset or a hibernation first needs it: from an instance of
   * its own, since by then the first instance's memory has changed. A program run once never
   * pays for it (a large module's data is megabytes: copying it cost flite 90 ms).
   */
  get memory(): InitialMemory {
    if (!this.image) {
      const memory = exportedMemory(this.fresh!())!;
      this.fresh = undefined;
      this.image = initialMemory(new Uint8Array(memory.buffer), memoryScanner(memory));
    }
    return this.image;
  }
}

export class Vessel implements ProcessContext {
  readonly instance: WebAssembly.Instance;
  readonly suspender: Suspender;
  readonly counter: WebAssembly.Global | undefined;
  private readonly exportedMemory: WebAssembly.Memory | undefined;
  private readonly globals: WebAssembly.Global[];
  /** Per host module: the state of the tenant, read by the functions made for this vessel. */
  private hostStates: readonly unknown[] = NO_HOST_STATES;
  private occupant: Tenant | undefined;
  /**
   * Finds what a process changed in memory (reusable vessels only): made by the first reset or
   * hibernation, since a process that lives long (one per connection, a waiter) may never need it
   * and its instance would cost every spawn.
   */
  private scannerOfMemory: Scanner | undefined;
  /** The blocks the last hibernation found changed, when `dirtyKnown`: what `reset` writes back. */
  private readonly dirty = new BlockList();
  private dirtyKnown = false;
  /** Views of the memory's buffer, made again when it grows (a new buffer). */
  private views: { buffer: ArrayBuffer; bytes: Uint8Array; words: Int32Array } | undefined;
  /** It holds what a process that ended left: `reset` before the next one runs (done then, not when it ended). */
  stale = false;
  /** Host calls charged (CHARGES_PER_CLOCK_READ). */
  private charges = 0;

  constructor(
    readonly shelf: Shelf,
    first: Tenant,
  ) {
    const { spec } = shelf;
    const host = { park: (wait: Waitable) => this.tenant.park(wait), abandon: (error: unknown) => this.tenant.abandon(error) };
    this.suspender =
      spec.backend === 'jspi'
        ? new JspiSuspender(host, instrumentInfoOf(spec.module)?.exceptions === true)
        : new AsyncifySuspender(host, { reservedPages: spec.reservedPages });
    this.occupant = first;
    const provided = mergeImports([
      ...spec.hostModules.map((hostModule, index) =>
        isReusable(hostModule) && shelf.reusable
          ? (hostModule.kind as HostModuleKind<unknown>).imports(this, () => this.hostStates[index])
          : importsOf(hostModule, first),
      ),
      { lunatic: { yield: () => this.tenant.budgetSpent() } },
    ]);
    const imports = linkImports(spec.module, provided, this.suspender, spec.blocking);
    const instance = new WebAssembly.Instance(spec.module, imports);
    this.instance = instance;
    const counter = instance.exports.lunatic_reductions;
    this.counter = counter instanceof WebAssembly.Global ? counter : undefined;
    this.exportedMemory = exportedMemory(instance);
    this.suspender.attach(instance);
    this.globals = shelf.reusable ? stateGlobals(instance) : [];
    if (shelf.reusable) {
      const globals = this.globals.map((global) => global.value);
      shelf.initial ??= new InitialState(globals, this.memory().buffer.byteLength, () => new WebAssembly.Instance(spec.module, imports));
    }
  }

  private get scanner(): Scanner {
    this.scannerOfMemory ??= memoryScanner(this.memory());
    return this.scannerOfMemory;
  }

  /** The process the vessel runs now. */
  get tenant(): Tenant {
    const tenant = this.occupant;
    if (!tenant) throw new Error('an empty vessel was called');
    return tenant;
  }

  /** Takes in `tenant` with the states of its host modules (one per host module of the spec). */
  occupy(tenant: Tenant, hostStates: unknown[]): void {
    this.occupant = tenant;
    this.hostStates = hostStates;
  }

  /** Puts a hibernated process back: its memory, globals and suspended stack. */
  restore(hibernated: Hibernated): void {
    const grown = hibernated.snapshot.length - this.memory().buffer.byteLength;
    if (grown > 0) this.memory().grow(grown / 65536);
    restoreSnapshot(hibernated.snapshot, this.memoryViews().bytes, this.globals);
    this.suspender.load(hibernated.suspender);
  }

  /** The tenant's memory and globals as they differ from the initial state, and its suspended stack. */
  hibernate(): Hibernated {
    const { bytes, words } = this.memoryViews();
    dirtyBlocks(bytes, words, this.shelf.initial!.memory, this.scanner, this.suspender.changedEnd, this.dirty);
    this.dirtyKnown = true;
    return { snapshot: takeSnapshot(bytes, this.dirty, this.globals), suspender: this.suspender.save() };
  }

  /** The tenant is gone: onto the shelf (reset when the next process takes it), or dropped. */
  release(): void {
    this.vacate();
    this.shelf.release(this);
  }

  /** The tenant is gone and the instance must not run anything again. */
  discard(): void {
    this.vacate();
    this.shelf.pool.dropped();
  }

  private vacate(): void {
    this.occupant = undefined;
    this.hostStates = NO_HOST_STATES;
    this.shelf.pool.occupied--;
  }

  /** Its memory grew: it cannot be reset (memory does not shrink). */
  get grew(): boolean {
    return this.memory().buffer.byteLength !== this.shelf.initial!.length;
  }

  /** Writes the initial state back (a vessel whose memory grew never reaches the shelf). */
  reset(): void {
    this.stale = false;
    const initial = this.shelf.initial!;
    const { bytes, words } = this.memoryViews();
    if (!this.dirtyKnown) dirtyBlocks(bytes, words, initial.memory, this.scanner, this.suspender.changedEnd, this.dirty);
    this.dirtyKnown = false;
    restoreInitial(words, initial.memory, this.dirty);
    for (let i = 0; i < this.globals.length; i++) this.globals[i]!.value = initial.globals[i];
    this.suspender.reset();
  }

  /** Views of the memory, kept while its buffer is the same: a pooled instance takes process after process. */
  private memoryViews(): { bytes: Uint8Array; words: Int32Array } {
    const buffer = this.memory().buffer;
    let views = this.views;
    if (views?.buffer !== buffer) views = this.views = { buffer, bytes: new Uint8Array(buffer), words: new Int32Array(buffer) };
    return views;
  }

  // ProcessContext: the functions made for this vessel see the tenant through it.

  get pid(): number {
    return this.tenant.pid;
  }

  get signal(): AbortSignal {
    return this.tenant.signal;
  }

  memory(): WebAssembly.Memory {
    const memory = this.exportedMemory;
    if (!memory) throw new Error(`process ${this.tenant.pid} has no exported memory`);
    return memory;
  }

  sleep(ms: number): Promise<void> {
    return this.tenant.sleep(ms);
  }

  yieldNow(): Promise<void> {
    return this.tenant.yieldNow();
  }

  charge(reductions: number): void {
    const counter = this.counter;
    if (!counter) return;
    const left = (counter.value as number) - reductions;
    const timeUp = ++this.charges % CHARGES_PER_CLOCK_READ === 0 && left >= 0 && this.tenant.sliceOver();
    counter.value = timeUp ? -1 : left;
  }
}

function exportsMemory(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.exports(module).some((entry) => entry.kind === 'memory');
}

/** The exported mutable globals `lunatic_global_<i>`, in order. */
function stateGlobals(instance: WebAssembly.Instance): WebAssembly.Global[] {
  const globals: WebAssembly.Global[] = [];
  for (let i = 0; ; i++) {
    const global = instance.exports[`${STATE_GLOBAL_PREFIX}${i}`];
    if (!(global instanceof WebAssembly.Global)) return globals;
    globals.push(global);
  }
}

/** Idle vessels of one spec, most recently used on top (its memory is likeliest still in cache). */
export class Shelf {
  readonly idle: Vessel[] = [];
  initial: InitialState | undefined;
  /** The fewest idle vessels since the last trim: those below it went unused all that time. */
  lowWater = 0;
  /** Its vessels are not single use: the module can be reset, exports its memory, and every host module is of the reusable form. */
  readonly reusable: boolean;

  constructor(
    readonly spec: VesselSpec,
    readonly pool: VesselPool,
  ) {
    // (a resettable module without an exported memory, which WASI programs always have, is never reused)
    this.reusable = spec.resettable && spec.hostModules.every(isReusable) && exportsMemory(spec.module);
  }

  release(vessel: Vessel): void {
    if (!this.reusable || vessel.grew || !this.pool.keeps(this)) {
      this.pool.dropped();
      return;
    }
    vessel.stale = true;
    this.idle.push(vessel);
    if (this.idle.length > this.pool.options.maxIdle) this.pool.trimLater();
  }

  /** An idle vessel, reset for its next process, or none. */
  take(): Vessel | undefined {
    const vessel = this.idle.pop();
    if (!vessel) return undefined;
    if (this.idle.length < this.lowWater) this.lowWater = this.idle.length;
    if (vessel.stale) vessel.reset();
    return vessel;
  }

  /** Drops the idle vessels beyond `maxIdle` that went unused since the last trim, least recently used first; returns how many. */
  trim(maxIdle: number): number {
    const unused = Math.min(this.lowWater, this.idle.length) - maxIdle;
    if (unused > 0) this.idle.splice(0, unused);
    this.lowWater = this.idle.length;
    return Math.max(0, unused);
  }
}

export interface VesselPoolOptions {
  /** Idle vessels a shelf keeps however long they stay unused. */
  maxIdle: number;
  /**
   * Vessels that may exist, occupied or idle, before a released one is dropped: hibernation's
   * maxInstances, so a process that wakes finds the instance another left. Those beyond `maxIdle`
   * are dropped once unused for `trimAfterMs`.
   */
  maxKept: number;
  trimAfterMs: number;
  /** The OS process's wasm memories (memory-limit.ts): past its limit, counted over every thread, `acquire` makes no vessel. */
  memories: MemoryShare;
}

/** Every vessel of a runtime: shelves of idle ones per spec, and how many exist. */
export class VesselPool {
  private readonly shelves = new Map<WebAssembly.Module, Shelf[]>();
  private trimmer: ReturnType<typeof setInterval> | undefined;
  /** Vessels that exist: occupied or idle (published to the MemoryShare). */
  private existing = 0;
  /** Vessels that run a process. */
  occupied = 0;
  /** Vessels made, vessels taken from a shelf, and the most occupied at once (for figures and tests). */
  made = 0;
  reused = 0;
  mostOccupied = 0;

  constructor(readonly options: VesselPoolOptions) {}

  /** A vessel for `tenant`: an idle one of the same spec, reset, or a new one. */
  acquire(spec: VesselSpec, tenant: Tenant, hostStates: unknown[]): Vessel {
    const shelf = this.shelf(spec);
    let vessel = shelf.take();
    if (vessel) this.reused++;
    else {
      const { memories } = this.options;
      if (memories.limit !== Number.POSITIVE_INFINITY && memories.totalInstances() >= memories.limit)
        throw new RangeError(
          `no instance for it: ${memories.totalInstances()} exist, about what this engine's address space gives (RuntimeOptions.maxMemories)`,
        );
      vessel = new Vessel(shelf, tenant);
      this.changeCount(1);
      this.made++;
    }
    vessel.occupy(tenant, hostStates);
    if (++this.occupied > this.mostOccupied) this.mostOccupied = this.occupied;
    return vessel;
  }

  /** Whether a vessel released to `shelf` is kept (it is still counted). */
  keeps(shelf: Shelf): boolean {
    return shelf.idle.length < this.options.maxIdle || this.count <= this.options.maxKept;
  }

  dropped(): void {
    this.changeCount(-1);
  }

  get count(): number {
    return this.existing;
  }

  private changeCount(by: number): void {
    this.existing += by;
    this.options.memories.instances = this.existing;
  }

  /** Idle vessels on every shelf. */
  get idle(): number {
    let idle = 0;
    for (const shelves of this.shelves.values()) for (const shelf of shelves) idle += shelf.idle.length;
    return idle;
  }

  /** Starts trimming the shelves that hold more than `maxIdle`, until none does. */
  trimLater(): void {
    if (this.trimmer !== undefined) return;
    this.trimmer = setInterval(() => this.trim(), this.options.trimAfterMs);
    // the trimmer alone must not keep the host alive
    (this.trimmer as { unref?: () => void }).unref?.();
  }

  private trim(): void {
    let over = false;
    for (const shelves of this.shelves.values()) {
      for (const shelf of shelves) {
        this.changeCount(-shelf.trim(this.options.maxIdle));
        if (shelf.idle.length > this.options.maxIdle) over = true;
      }
    }
    if (!over) {
      clearInterval(this.trimmer);
      this.trimmer = undefined;
    }
  }

  private shelf(spec: VesselSpec): Shelf {
    let shelves = this.shelves.get(spec.module);
    if (!shelves) this.shelves.set(spec.module, (shelves = []));
    for (const shelf of shelves) if (sameSpec(shelf.spec, spec)) return shelf;
    const shelf = new Shelf(spec, this);
    shelves.push(shelf);
    return shelf;
  }
}

function sameSpec(a: VesselSpec, b: VesselSpec): boolean {
  if (a.backend !== b.backend || a.reservedPages !== b.reservedPages || a.resettable !== b.resettable) return false;
  if (a.blocking !== b.blocking && a.blocking.join('\n') !== b.blocking.join('\n')) return false;
  if (a.hostModules.length !== b.hostModules.length) return false;
  return a.hostModules.every((hostModule, i) => {
    const other = b.hostModules[i]!;
    return isReusable(hostModule) && isReusable(other) ? hostModule.kind === other.kind : hostModule === other;
  });
}
