// A process: one wasm instance and its life (runnable, running, waiting, exited, crashed).
// It links the instance to its host modules and to the runtime's own `lunatic.yield`, runs the
// entry export through the chosen suspension backend whenever the scheduler gives it a turn,
// and turns however that ends (return, proc_exit, trap, kill, failure to start) into an
// ExitStatus. A crash ends only this process.
//
// A blocking import that returns a wait parks the process: it stops, and when the wait settles
// it is queued with the outcome; its next turn resumes it with that value (Asyncify rewinds,
// JSPI settles the Promise its stack suspended on). No Promise is made per wait when the host
// returns a Pending (src/runtime/pending.ts).
//
// The instance is a vessel (vessel.ts), taken from the runtime's pool when the process starts and
// given back, reset, when it ends. An Asyncify process waiting on a hibernatable Pending may
// hibernate (hibernation.ts): it leaves its vessel as a snapshot and takes another when it wakes.
import type { Hibernation, WaitingLink } from './hibernation.js';
import { instrumentInfoOf } from './module-info.js';
import { isWaitable, Later, NEXT_TURN, type Outcome, Pending, type Waitable } from './pending.js';
import type { Runnable, Scheduler } from './scheduler.js';
import { type BackendChoice, type BackendName, chooseBackend, type Resumption, SUSPENDED } from './suspend.js';
import { after } from './timers.js';
import { type TrapReport, trapReport } from './trap.js';
import { type HostModule, isReusable, ProcessExit } from './types.js';
import type { Hibernated, Tenant, Vessel, VesselPool, VesselSpec } from './vessel.js';

export type { TrapReport };

/** `moved`: it went on as a process of another thread (threads), which reports how it ends. */
export type ProcessState = 'runnable' | 'running' | 'waiting' | 'exited' | 'crashed' | 'moved';

/** How a process ended: exactly one of `code`, `trap`, `killed` is set. */
export interface ExitStatus {
  /** The exit code: proc_exit's, or 0 when the entry returned. */
  code?: number;
  /** The process crashed (trap, host error, failure to start): the message and the wasm functions on the stack. */
  trap?: TrapReport;
  /** The process was ended by `kill()`. */
  killed?: boolean;
}

/** Everything a process needs to start; the Runtime fills it from its own and the spawn options. */
export interface ProcessConfig {
  /** The compiled module, or its compilation under way. */
  module: WebAssembly.Module | Promise<WebAssembly.Module>;
  hostModules: HostModule[];
  backend: BackendChoice;
  /** The time slice: `lunatic_reductions` is set to it at the start and at every yield. */
  reductions: number;
  /** Asyncify: make the reserved tail at least this many pages. */
  reservedPages?: number;
  /** The export to run and its arguments. */
  entry: string;
  args: unknown[];
  /** Blocking imports of a plain module run on JSPI (an instrumented module lists its own). */
  blockingImports: readonly string[];
  /** Where its instance comes from and goes back to. */
  pool: VesselPool;
  /** Called first when it ends (the runtime forgets it): one function for every process, not a listener each. */
  ended(process: Process): void;
  /** Hibernation of waiting processes; undefined: off. */
  hibernation: Hibernation | undefined;
}

class Killed extends Error {
  constructor() {
    super('killed');
  }
}

const NOT_STARTED = 'could not start';
/** A process that spent its budget keeps the CPU until it has had it this long (milliseconds). */
export const MIN_SLICE_MS = 1;

const RESUME_EMPTY: Resumption = { ok: true, value: undefined };

/**
 * A runnable process leaving for another thread: what it takes along. One that had not started
 * takes only its start (the spawn's entry and arguments, which the new thread has); one that ran
 * was preempted at the end of a slice, and takes its memory, globals and unwound stack (Asyncify).
 */
export interface Departure {
  /** Its memory, globals and suspended stack; undefined when it had not started. */
  hibernated: Hibernated | undefined;
  budgetsSpent: number;
  yields: number;
  hibernations: number;
  /** What each of its reusable host modules carries (types.ts `carry`), in the order of its host modules. */
  carried: unknown[];
}

export class Process implements Runnable, Tenant, WaitingLink {
  /** The current state; `exited`, `crashed` and `moved` are final. */
  state: ProcessState = 'runnable';
  /** How it ended, once it has. */
  status: ExitStatus | undefined;
  /** The backend the process runs on, once it has started. */
  backend: BackendName | undefined;
  /** How many time slices the process gave up to the others at `lunatic.yield`. */
  yields = 0;
  /**
   * How many reduction budgets the process spent: every call of `lunatic.yield`, including those
   * inside its minimum slice time that carry on without giving up the CPU.
   */
  budgetsSpent = 0;
  /** How many times it hibernated. */
  hibernations = 0;
  /**
   * The reductions it used, when it ended in its first turn having never waited or spent a
   * budget (a short-lived process: Lunatic keeps such children on their parent's thread).
   */
  oneTurnReductions: number | undefined;
  /** @internal Its place among the waiting processes (hibernation.ts). */
  waitingSince = 0;
  /** @internal */
  waitingPrev: WaitingLink | undefined;
  /** @internal */
  waitingNext: WaitingLink | undefined;
  /** @internal */
  inWaitingList = false;
  private endListeners: ((status: ExitStatus) => void)[] | undefined;
  private exitedPromise: Promise<ExitStatus> | undefined;
  private abort: AbortController | undefined;
  private killed = false;
  private module: WebAssembly.Module | undefined;
  /** Its instance, while it has one (not before it starts, while it hibernates or after it ended). */
  private vessel: Vessel | undefined;
  private spec: VesselSpec | undefined;
  /** The states of its reusable host modules (made once, kept while it hibernates). */
  private hostStates: unknown[] = [];
  /** While it hibernates: its memory, globals and stack, out of any instance. */
  private hibernated: Hibernated | undefined;
  /** Parked: the wait it stopped on (a Pending, to cancel on kill) and a token that stale wake-ups miss. */
  private parked = false;
  private waitingOn: Pending | undefined;
  /** A host Promise it waited on has not settled: its continuation may still use the instance, which is then never reused. */
  private unsettledPromise = false;
  /** Its stack stays suspended where an import ended it (abandon): the instance is never reused. */
  private abandoned = false;
  private waitToken = 0;
  /** How the last wait ended, for the next turn. */
  private resumption: Resumption = RESUME_EMPTY;
  /** JSPI: settles the Promise the suspended stack waits on. */
  private jspiResume: { resolve(value: unknown): void; reject(error: unknown): void } | undefined;
  /** Inside `step`: stopping then is reported by its result, not to the scheduler. */
  private stepping = false;
  private stoppedInStep = false;
  /** When the process last got the CPU: a slice lasts at least MIN_SLICE_MS from here. */
  private sliceStarted = 0;

  /** What its host modules carried from another thread, for the states made when it starts (or comes back). */
  private carried: unknown[] | undefined;

  /** @internal Created by `Runtime.spawn`, or by `Runtime.adopt` with the `arriving` process's departure from another thread. */
  constructor(
    readonly pid: number,
    private readonly scheduler: Scheduler,
    private readonly config: ProcessConfig,
    arriving?: Departure,
  ) {
    if (arriving) {
      this.arrive(arriving);
      this.module = config.module as WebAssembly.Module;
    } else if (config.module instanceof WebAssembly.Module) {
      this.module = config.module;
      scheduler.enqueue(this);
    } else {
      scheduler.hiddenWaitBegan(); // a compilation: nothing of the event loop's
      config.module.then(
        (module) => {
          scheduler.hiddenWaitEnded();
          this.module = module;
          if (!this.ended) scheduler.enqueue(this);
        },
        (error: unknown) => {
          scheduler.hiddenWaitEnded();
          this.end(this.statusOf(error, NOT_STARTED));
        },
      );
    }
  }

  /** Settles once, when the process has ended; never rejects. Made on first use. */
  get exited(): Promise<ExitStatus> {
    this.exitedPromise ??= new Promise((resolve) => this.onEnd(resolve));
    return this.exitedPromise;
  }

  /** Calls `listener` with how the process ended, synchronously when it ends (at once if it has). */
  onEnd(listener: (status: ExitStatus) => void): void {
    if (this.status) listener(this.status);
    else (this.endListeners ??= []).push(listener);
  }

  /** Ends the process: at once when it waits or is queued, at its next yield or blocking call when it runs. */
  kill(): void {
    if (this.ended || this.killed) return;
    this.killed = true;
    this.abort?.abort();
    if (!this.parked) return; // queued: its turn ends it; running: its next yield or wait does
    if (this.waitingOn)
      this.waitingOn.cancel(new Killed()); // drops its timer or waiter, then wakes it
    else this.wake(this.waitToken, { ok: false, error: new Killed() });
  }

  /** @internal The scheduler's turn: runs the process until it stops (Asyncify) or starts it running (JSPI). */
  step(now: number): boolean {
    if (this.ended) return true;
    this.stepping = true;
    this.stoppedInStep = false;
    this.state = 'running';
    this.sliceStarted = now;
    try {
      if (this.spec) this.resume();
      else this.begin();
    } catch (error) {
      this.end(this.statusOf(error, this.spec ? undefined : NOT_STARTED));
    } finally {
      this.stepping = false;
    }
    return this.stoppedInStep;
  }

  private get ended(): boolean {
    return this.state === 'exited' || this.state === 'crashed' || this.state === 'moved';
  }

  /** Whether it is out of any instance, as a snapshot. */
  get isHibernating(): boolean {
    return this.hibernated !== undefined;
  }

  private begin(): void {
    this.checkAlive();
    const { config } = this;
    const spec = this.specFor(this.module!);
    this.makeHostStates();
    this.config.hibernation?.makeRoom(config.pool);
    const vessel = config.pool.acquire(spec, this, this.hostStates);
    this.spec = spec;
    this.vessel = vessel;
    if (typeof vessel.instance.exports[config.entry] !== 'function')
      throw new Error(`the module has no function export "${config.entry}" to start`);
    this.refillReductions(config.reductions);
    this.ran(vessel.suspender.start(config.entry, config.args));
  }

  /** What its instances are made for; the backend it runs on from now. */
  private specFor(module: WebAssembly.Module): VesselSpec {
    const { config } = this;
    const info = instrumentInfoOf(module);
    const backend = chooseBackend(config.backend, info);
    this.backend = backend;
    // With Asyncify only the listed imports can unwind; without it (JSPI) blocking is the host's
    // choice. Every lunatic.* import may block (docs/ABI.md).
    const blocking = info?.asyncify ? blockingGlobs(info.blockingImports) : blockingGlobs(config.blockingImports);
    return {
      module,
      backend,
      blocking,
      reservedPages: config.reservedPages,
      hostModules: config.hostModules,
      resettable: info?.resettable === true,
    };
  }

  /** Its reusable host modules' states: fresh, or from what they carried from another thread. */
  private makeHostStates(): void {
    const carried = this.carried;
    this.carried = undefined;
    this.hostStates = this.config.hostModules.map((hostModule, i) =>
      isReusable(hostModule) ? hostModule.state(this, carried?.[i]) : undefined,
    );
  }

  /**
   * @internal Whether it can leave for another thread now: runnable, not started yet or (on
   * Asyncify, in an instance that can be reset) preempted at the end of a slice, and every host
   * module state it has can be carried. Returns what they carry, or undefined.
   */
  departable(): unknown[] | undefined {
    if (this.state !== 'runnable' || this.killed || this.stepping || this.resumption !== RESUME_EMPTY || this.unsettledPromise)
      return undefined;
    if (this.spec) {
      if (this.backend !== 'asyncify' || this.jspiResume) return undefined;
      if (!this.hibernated && this.vessel?.shelf.reusable !== true) return undefined;
    } else if (!this.module) {
      return undefined; // still compiling
    }
    const carried: unknown[] = [];
    const hostModules = this.config.hostModules;
    for (let i = 0; i < this.hostStates.length; i++) {
      const hostModule = hostModules[i]!;
      if (!isReusable(hostModule) || !hostModule.carry) continue;
      const carries = hostModule.carry(this.hostStates[i]);
      if (carries === undefined) return undefined;
      carried[i] = carries;
    }
    return carried;
  }

  /**
   * @internal Leaves this runtime for another thread (`departable` said it can, and the scheduler
   * let it out of its queue): out of its instance as a snapshot, forgotten here without an end.
   */
  depart(carried: unknown[]): Departure {
    let hibernated = this.hibernated;
    const vessel = this.vessel;
    if (vessel) {
      hibernated = vessel.hibernate();
      vessel.release();
    }
    this.vessel = undefined;
    this.hibernated = undefined;
    this.config.hibernation?.woke(this);
    this.state = 'moved';
    this.config.ended(this);
    const { budgetsSpent, yields, hibernations } = this;
    return { hibernated, budgetsSpent, yields, hibernations, carried };
  }

  /**
   * @internal This process moved to another thread and ended there: its `exited` and end
   * listeners here hear how (its state stays `moved`; nothing else of it is here).
   */
  endedAway(status: ExitStatus): void {
    if (this.state !== 'moved' || this.status) return;
    this.status = status;
    this.tellEnd(status);
  }

  /** Calls the end listeners (once: they are dropped). */
  private tellEnd(status: ExitStatus): void {
    const listeners = this.endListeners;
    this.endListeners = undefined;
    if (listeners) for (const listener of listeners) listener(status);
  }

  /**
   * @internal A process that arrived from another thread may run from now (its thread saw to it
   * that what was sent to it before arrives first, and that what it sends now cannot overtake
   * what it sent there).
   */
  settle(): void {
    if (!this.ended) this.scheduler.enqueue(this);
  }

  /** Takes up where it left off on another thread: as a hibernated process that comes back at its first turn (once `settle`d). */
  private arrive(departure: Departure): void {
    this.budgetsSpent = departure.budgetsSpent;
    this.yields = departure.yields;
    this.hibernations = departure.hibernations;
    this.carried = departure.carried;
    if (!departure.hibernated) return; // starts here as it would have there
    this.spec = this.specFor(this.config.module as WebAssembly.Module);
    this.hibernated = departure.hibernated; // its host states are made when it comes back, once the host knows it
  }

  private resume(): void {
    if (this.hibernated) {
      if (this.killed) throw new Killed(); // no need to come back only to end
      this.comeBack();
    }
    let resumption = this.killed ? { ok: false as const, error: new Killed() } : this.resumption;
    this.resumption = RESUME_EMPTY;
    if (resumption.ok && resumption.value instanceof Later) {
      // a receive or read that completed while the process hibernated: it copies now, in memory
      const value = resumption.value.complete();
      if (isWaitable(value)) {
        this.park(value); // the bytes went elsewhere: wait again, still suspended
        return;
      }
      resumption = { ok: true, value };
    }
    const jspi = this.jspiResume;
    if (!jspi) {
      this.ran(this.vessel!.suspender.resume(resumption));
      return;
    }
    this.jspiResume = undefined;
    if (resumption.ok) jspi.resolve(resumption.value);
    else jspi.reject(resumption.error);
  }

  /** Out of hibernation: into a vessel of its spec, with its memory, globals and stack. */
  private comeBack(): void {
    const hibernated = this.hibernated!;
    if (this.carried) this.makeHostStates(); // it arrived from another thread
    this.config.hibernation?.makeRoom(this.config.pool);
    const vessel = this.config.pool.acquire(this.spec!, this, this.hostStates);
    vessel.restore(hibernated);
    this.vessel = vessel;
    this.hibernated = undefined;
  }

  /**
   * @internal Leaves its instance as a snapshot (hibernation.ts decides when): only while it waits
   * on a hibernatable Pending, on Asyncify, in a vessel that can be reset.
   */
  hibernate(): boolean {
    const vessel = this.vessel;
    if (!this.canHibernate || !vessel) return false;
    this.hibernated = vessel.hibernate();
    this.vessel = undefined;
    vessel.release();
    this.hibernations++;
    this.config.hibernation?.hibernated();
    return true;
  }

  /** Whether `hibernate` would do it now. */
  private get canHibernate(): boolean {
    return (
      this.state === 'waiting' &&
      !this.stepping &&
      this.backend === 'asyncify' &&
      this.waitingOn?.hibernatable === true &&
      this.vessel?.shelf.reusable === true
    );
  }

  /** What the entry gave back: SUSPENDED (parked meanwhile), its result (it ended), or JSPI's Promise of that. */
  private ran(result: unknown): void {
    if (result === SUSPENDED) return;
    if (result instanceof Promise) {
      result.then(
        () => this.end({ code: 0 }),
        (error: unknown) => this.end(this.statusOf(error)),
      );
      return;
    }
    this.end({ code: 0 });
  }

  /** @internal `lunatic.yield`: the reduction budget is spent. */
  budgetSpent(): unknown {
    this.budgetsSpent++;
    this.refillReductions(this.config.reductions);
    this.checkAlive();
    // Charges are conservative (docs/ABI.md): on branchy code the budget runs out before the
    // slice's instructions did, so a yield inside the slice's minimum time just goes on;
    // so does one that finds nobody else to run and the event loop not yet due.
    const now = performance.now();
    if (now - this.sliceStarted < MIN_SLICE_MS) return undefined;
    if (!this.scheduler.shouldYield()) {
      this.sliceStarted = now;
      return undefined;
    }
    this.yields++;
    return NEXT_TURN;
  }

  private refillReductions(reductions: number): void {
    const counter = this.vessel?.counter;
    if (counter) counter.value = reductions;
  }

  /** @internal A blocking import returned `wait`: stop until it settles, then queue with its outcome. */
  park(wait: Waitable): Promise<unknown> | undefined {
    this.checkAlive();
    const resumed =
      this.backend === 'jspi' ? new Promise<unknown>((resolve, reject) => (this.jspiResume = { resolve, reject })) : undefined;
    const token = ++this.waitToken;
    this.parked = true;
    if (wait === NEXT_TURN) {
      this.state = 'runnable';
      this.wake(token, RESUME_EMPTY);
    } else {
      this.state = 'waiting';
      if (wait instanceof Pending) {
        this.waitingOn = wait;
        wait.listen((outcome: Outcome<unknown>) => this.wake(token, outcome));
        // only a process that can leave its instance is a candidate; it began waiting in this slice
        if (wait.hibernatable && this.backend === 'asyncify') this.config.hibernation?.parked(this, this.sliceStarted);
      } else {
        this.unsettledPromise = true;
        this.scheduler.hiddenWaitBegan(); // a host Promise may settle without the event loop showing it
        const settled = (outcome: Outcome<unknown>) => {
          this.unsettledPromise = false;
          this.scheduler.hiddenWaitEnded();
          this.wake(token, outcome);
        };
        wait.then(
          (value) => settled({ ok: true, value }),
          (error: unknown) => settled({ ok: false, error }),
        );
      }
    }
    this.stop();
    return resumed;
  }

  /** @internal Ends the process with what an import threw, its stack left suspended for good (SuspendHost.abandon). */
  abandon(error: unknown): Promise<never> {
    this.abandoned = true;
    this.end(this.statusOf(error));
    return new Promise<never>(() => {});
  }

  private wake(token: number, outcome: Resumption): void {
    if (token !== this.waitToken || !this.parked || this.ended) return;
    this.parked = false;
    this.waitingOn = undefined;
    this.resumption = outcome;
    this.state = 'runnable';
    this.config.hibernation?.woke(this);
    this.scheduler.enqueue(this);
  }

  /** The process gave up the CPU (parked or ended). */
  private stop(): void {
    if (this.stepping) this.stoppedInStep = true;
    else this.scheduler.stopped();
  }

  // ProcessContext: what host modules see of the process.

  /** The program's memory (memory 0), while the process is in an instance. */
  memory(): WebAssembly.Memory {
    if (!this.vessel) throw new Error(`process ${this.pid} is not in an instance (${this.hibernated ? 'hibernating' : this.state})`);
    return this.vessel.memory();
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms, this.signal);
  }

  yieldNow(): Promise<void> {
    return Promise.resolve();
  }

  charge(reductions: number): void {
    this.vessel?.charge(reductions);
  }

  /** @internal Whether the slice has lasted MIN_SLICE_MS: host calls that take long end it by the clock (Vessel.charge). */
  sliceOver(): boolean {
    return performance.now() - this.sliceStarted >= MIN_SLICE_MS;
  }

  /** Aborted when the process is killed or ends; made on first use (most processes never ask). */
  get signal(): AbortSignal {
    if (!this.abort) {
      this.abort = new AbortController();
      if (this.killed || this.ended) this.abort.abort();
    }
    return this.abort.signal;
  }

  private checkAlive(): void {
    if (this.killed) throw new Killed();
  }

  private statusOf(error: unknown, prefix?: string): ExitStatus {
    if (error instanceof ProcessExit) return { code: error.code };
    if (error instanceof Killed || this.killed) return { killed: true };
    const report = trapReport(error, this.module);
    return { trap: prefix ? { ...report, message: `${prefix}: ${report.message}` } : report };
  }

  private end(status: ExitStatus): void {
    if (this.ended) return;
    const wasRunning = this.state === 'running';
    this.state = status.trap ? 'crashed' : 'exited';
    this.parked = false;
    this.waitingOn?.cancel(new Killed());
    this.waitingOn = undefined;
    this.jspiResume = undefined;
    this.config.hibernation?.woke(this);
    this.hibernated = undefined;
    const vessel = this.vessel;
    this.vessel = undefined; // lets the memory go even while someone holds the Process
    const counter = vessel?.counter;
    if (counter && this.waitToken === 0 && this.budgetsSpent === 0 && this.yields === 0)
      this.oneTurnReductions = this.config.reductions - (counter.value as number);
    if (vessel) {
      // a host Promise it waited on may still run and call into the instance: never reuse it
      if (this.unsettledPromise || this.abandoned) vessel.discard();
      else vessel.release();
    }
    this.abort?.abort();
    this.status = status;
    this.config.ended(this);
    this.tellEnd(status);
    if (wasRunning) this.stop();
  }
}

/** The blocking globs of a module, with every lunatic.* import (docs/ABI.md); one array per list, so specs compare by identity. */
const globsCache = new WeakMap<readonly string[], readonly string[]>();
function blockingGlobs(listed: readonly string[]): readonly string[] {
  let globs = globsCache.get(listed);
  if (!globs) globsCache.set(listed, (globs = [...listed, 'lunatic.*']));
  return globs;
}

/** A timer that never ends early and stops (rejecting) when the process ends. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Killed());
    const onAbort = () => {
      cancel();
      reject(new Killed());
    };
    const cancel = after(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
