// A process: one wasm instance and its life (runnable, running, waiting, exited, crashed).
// It links the instance to its host modules and to the runtime's own `lunatic.yield`, runs the
// entry export through the chosen suspension backend and turns however that ends (return,
// proc_exit, trap, kill, failure to start) into an ExitStatus. A crash ends only this process.
import { linkImports, mergeImports } from './link.js';
import { instrumentInfoOf } from './module-info.js';
import type { Scheduler } from './scheduler.js';
import { type BackendChoice, type BackendName, chooseBackend, type SuspendHost, type Suspender } from './suspend.js';
import { AsyncifySuspender, exportedMemory } from './suspend-asyncify.js';
import { JspiSuspender } from './suspend-jspi.js';
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
  module: Promise<WebAssembly.Module>;
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

export class Process {
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
  private readonly abort = new AbortController();
  private instance: WebAssembly.Instance | undefined;
  private abandonWait: ((reason: unknown) => void) | undefined;
  private yielding = false;
  /** When the process last got the CPU: a slice lasts at least MIN_SLICE_MS from here. */
  private sliceStarted = 0;

  /** @internal Created by `Runtime.spawn`. */
  constructor(readonly pid: number, private readonly scheduler: Scheduler, config: ProcessConfig) {
    this.exited = this.run(config).then((status) => this.finish(status));
  }

  /** Ends the process: at once when it waits or is queued, at its next yield or blocking call when it runs. */
  kill(): void {
    if (this.state === 'exited' || this.state === 'crashed' || this.abort.signal.aborted) return;
    this.abort.abort();
    this.abandonWait?.(new Killed());
  }

  private async run(config: ProcessConfig): Promise<ExitStatus> {
    let module: WebAssembly.Module | undefined;
    let suspender: Suspender;
    try {
      await this.scheduler.turn();
      this.checkAlive();
      this.state = 'running';
      module = await config.module;
      suspender = await this.instantiate(module, config);
    } catch (error) {
      return this.statusOf(error, module, NOT_STARTED);
    }
    try {
      this.sliceStarted = performance.now();
      await suspender.call(config.entry, config.args);
      return { code: 0 };
    } catch (error) {
      return this.statusOf(error, module);
    }
  }

  private async instantiate(module: WebAssembly.Module, config: ProcessConfig): Promise<Suspender> {
    const info = instrumentInfoOf(module);
    this.backend = chooseBackend(config.backend, info);
    const suspender = this.backend === 'jspi' ? new JspiSuspender(this.host) : new AsyncifySuspender(this.host, { reservedPages: config.reservedPages });
    const context = this.context();
    const provided = mergeImports([...config.hostModules.map((hostModule) => hostModule(context)), this.coreImports(config.reductions)]);
    // With Asyncify only the listed imports can unwind; without it (JSPI) blocking is the host's
    // choice. Every lunatic.* import may block (docs/ABI.md).
    const blocking = info?.asyncify ? [...info.blockingImports, 'lunatic.*'] : [...config.blockingImports, 'lunatic.*'];
    const instance = await WebAssembly.instantiate(module, linkImports(module, provided, suspender, blocking));
    if (typeof instance.exports[config.entry] !== 'function') throw new Error(`the module has no function export "${config.entry}" to start`);
    this.instance = instance;
    suspender.attach(instance);
    this.refillReductions(config.reductions);
    this.checkAlive();
    return suspender;
  }

  /** The runtime's own imports: `lunatic.yield`, called when the reduction budget is spent. */
  private coreImports(reductions: number): Imports {
    return {
      lunatic: {
        yield: () => {
          this.budgetsSpent++;
          this.refillReductions(reductions);
          // Charges are conservative (docs/ABI.md): on branchy code the budget runs out before the
          // slice's instructions did, so a yield inside the slice's minimum time just goes on.
          if (performance.now() - this.sliceStarted < MIN_SLICE_MS) return undefined;
          this.yields++;
          this.yielding = true;
          return this.scheduler.turn();
        },
      },
    };
  }

  private refillReductions(reductions: number): void {
    const counter = this.instance?.exports.lunatic_reductions;
    if (counter instanceof WebAssembly.Global) counter.value = reductions;
  }

  /** How the backends make this process wait: state, and abandoning the wait on kill. */
  private readonly host: SuspendHost = {
    wait: (promise) => {
      this.checkAlive();
      this.state = this.yielding ? 'runnable' : 'waiting';
      this.yielding = false;
      return new Promise((resolve, reject) => {
        this.abandonWait = reject;
        const settle = (done: () => void) => {
          if (this.abandonWait !== reject) return; // already abandoned
          this.abandonWait = undefined;
          this.state = 'running';
          this.sliceStarted = performance.now();
          done();
        };
        promise.then((value) => settle(() => resolve(value)), (error) => settle(() => reject(error)));
      });
    },
  };

  private context(): ProcessContext {
    const signal = this.abort.signal;
    return {
      pid: this.pid,
      signal,
      memory: () => {
        const memory = this.instance && exportedMemory(this.instance);
        if (!memory) throw new Error(`process ${this.pid} has no exported memory`);
        return memory;
      },
      sleep: (ms) => sleep(ms, signal),
      yieldNow: () => this.scheduler.turn(),
    };
  }

  private checkAlive(): void {
    if (this.abort.signal.aborted) throw new Killed();
  }

  private statusOf(error: unknown, module: WebAssembly.Module | undefined, prefix?: string): ExitStatus {
    if (error instanceof ProcessExit) return { code: error.code };
    if (error instanceof Killed || this.abort.signal.aborted) return { killed: true };
    const report = trapReport(error, module);
    return { trap: prefix ? { ...report, message: `${prefix}: ${report.message}` } : report };
  }

  private finish(status: ExitStatus): ExitStatus {
    this.state = status.trap ? 'crashed' : 'exited';
    this.abandonWait = undefined;
    this.instance = undefined; // lets the memory go even while someone holds the Process
    if (!this.abort.signal.aborted) this.abort.abort();
    return status;
  }
}

/** A timer that stops (rejecting) when the process ends. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Killed());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Killed());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
