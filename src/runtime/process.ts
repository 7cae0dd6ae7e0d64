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
import { linkImports, mergeImports } from './link.js';
import { instrumentInfoOf } from './module-info.js';
import { NEXT_TURN, type Outcome, Pending, type Waitable } from './pending.js';
import type { Runnable, Scheduler } from './scheduler.js';
import {
  type BackendChoice,
  type BackendName,
  chooseBackend,
  type Resumption,
  SUSPENDED,
  type SuspendHost,
  type Suspender,
} from './suspend.js';
import { AsyncifySuspender, exportedMemory } from './suspend-asyncify.js';
import { JspiSuspender } from './suspend-jspi.js';
import { after } from './timers.js';
import { type TrapReport, trapReport } from './trap.js';
import { type HostModule, type Imports, type ProcessContext, ProcessExit } from './types.js';

export type { TrapReport };

export type ProcessState = 'runnable' | 'running' | 'waiting' | 'exited' | 'crashed';

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

export class Process implements Runnable {
  /** The current state; `exited` and `crashed` are final. */
  state: ProcessState = 'runnable';
  /** Settles once, when the process has ended; never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** The backend the process runs on, once it has started. */
  backend: BackendName | undefined;
  /** How many time slices the process gave up to the others at `lunatic.yield`. */
  yields = 0;
  /**
   * How many reduction budgets the process spent: every call of `lunatic.yield`, including those
   * inside its minimum slice time that carry on without giving up the CPU.
   */
  budgetsSpent = 0;
  private settleExited!: (status: ExitStatus) => void;
  private abort: AbortController | undefined;
  private killed = false;
  private module: WebAssembly.Module | undefined;
  private instance: WebAssembly.Instance | undefined;
  /** The module's `lunatic_reductions` (docs/ABI.md), when it has reduction checks. */
  private counter: WebAssembly.Global | undefined;
  private suspender: Suspender | undefined;
  /** Parked: the wait it stopped on (a Pending, to cancel on kill) and a token that stale wake-ups miss. */
  private parked = false;
  private waitingOn: Pending | undefined;
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

  /** @internal Created by `Runtime.spawn`. */
  constructor(
    readonly pid: number,
    private readonly scheduler: Scheduler,
    private readonly config: ProcessConfig,
  ) {
    this.exited = new Promise((resolve) => (this.settleExited = resolve));
    if (config.module instanceof WebAssembly.Module) {
      this.module = config.module;
      scheduler.enqueue(this);
    } else {
      config.module.then(
        (module) => {
          this.module = module;
          if (!this.ended) scheduler.enqueue(this);
        },
        (error: unknown) => this.end(this.statusOf(error, NOT_STARTED)),
      );
    }
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
      if (this.suspender) this.resume();
      else this.begin();
    } catch (error) {
      this.end(this.statusOf(error, this.suspender ? undefined : NOT_STARTED));
    } finally {
      this.stepping = false;
    }
    return this.stoppedInStep;
  }

  private get ended(): boolean {
    return this.state === 'exited' || this.state === 'crashed';
  }

  private begin(): void {
    this.checkAlive();
    const { config } = this;
    const module = this.module!;
    const info = instrumentInfoOf(module);
    this.backend = chooseBackend(config.backend, info);
    const suspender =
      this.backend === 'jspi' ? new JspiSuspender(this.host) : new AsyncifySuspender(this.host, { reservedPages: config.reservedPages });
    const context = this.context();
    const provided = mergeImports([...config.hostModules.map((hostModule) => hostModule(context)), this.coreImports(config.reductions)]);
    // With Asyncify only the listed imports can unwind; without it (JSPI) blocking is the host's
    // choice. Every lunatic.* import may block (docs/ABI.md).
    const blocking = info?.asyncify ? [...info.blockingImports, 'lunatic.*'] : [...config.blockingImports, 'lunatic.*'];
    const instance = new WebAssembly.Instance(module, linkImports(module, provided, suspender, blocking));
    if (typeof instance.exports[config.entry] !== 'function')
      throw new Error(`the module has no function export "${config.entry}" to start`);
    this.instance = instance;
    const counter = instance.exports.lunatic_reductions;
    this.counter = counter instanceof WebAssembly.Global ? counter : undefined;
    suspender.attach(instance);
    this.refillReductions(config.reductions);
    this.suspender = suspender;
    this.ran(suspender.start(config.entry, config.args));
  }

  private resume(): void {
    const resumption = this.killed ? { ok: false as const, error: new Killed() } : this.resumption;
    this.resumption = RESUME_EMPTY;
    const jspi = this.jspiResume;
    if (!jspi) {
      this.ran(this.suspender!.resume(resumption));
      return;
    }
    this.jspiResume = undefined;
    if (resumption.ok) jspi.resolve(resumption.value);
    else jspi.reject(resumption.error);
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

  /** The runtime's own imports: `lunatic.yield`, called when the reduction budget is spent. */
  private coreImports(reductions: number): Imports {
    return {
      lunatic: {
        yield: () => {
          this.budgetsSpent++;
          this.refillReductions(reductions);
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
        },
      },
    };
  }

  private refillReductions(reductions: number): void {
    if (this.counter) this.counter.value = reductions;
  }

  /** How the backends make this process wait. */
  private readonly host: SuspendHost = {
    park: (wait) => this.park(wait),
  };

  /** A blocking import returned `wait`: stop until it settles, then queue with its outcome. */
  private park(wait: Waitable): Promise<unknown> | undefined {
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
      } else {
        wait.then(
          (value) => this.wake(token, { ok: true, value }),
          (error: unknown) => this.wake(token, { ok: false, error }),
        );
      }
    }
    this.stop();
    return resumed;
  }

  private wake(token: number, outcome: Resumption): void {
    if (token !== this.waitToken || !this.parked || this.ended) return;
    this.parked = false;
    this.waitingOn = undefined;
    this.resumption = outcome;
    this.state = 'runnable';
    this.scheduler.enqueue(this);
  }

  /** The process gave up the CPU (parked or ended). */
  private stop(): void {
    if (this.stepping) this.stoppedInStep = true;
    else this.scheduler.stopped();
  }

  private context(): ProcessContext {
    const process = this;
    return {
      pid: this.pid,
      get signal() {
        return process.signal;
      },
      memory: () => {
        const memory = this.instance && exportedMemory(this.instance);
        if (!memory) throw new Error(`process ${this.pid} has no exported memory`);
        return memory;
      },
      sleep: (ms) => sleep(ms, this.signal),
      yieldNow: () => Promise.resolve(),
      charge: (reductions) => {
        const counter = this.counter;
        if (counter) counter.value = (counter.value as number) - reductions;
      },
    };
  }

  /** Aborted when the process is killed or ends; made on first use (most processes never ask). */
  private get signal(): AbortSignal {
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
    this.instance = undefined; // lets the memory go even while someone holds the Process
    this.counter = undefined;
    this.suspender = undefined;
    this.abort?.abort();
    this.settleExited(status);
    if (wasRunning) this.stop();
  }
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
