// The JSPI backend: the engine suspends the wasm stack itself. Blocking imports are wrapped in
// `WebAssembly.Suspending`, the entry export in `WebAssembly.promising`; no Asyncify is needed,
// so plain modules run too, and a suspension costs the same at any stack depth. A blocking
// import that returns a wait hands it to the process, and the stack suspends on the Promise the
// process gives back, which it settles when the scheduler resumes it.
import { isWaitable } from './pending.js';
import { BackendError, ImportCalls, type Resumption, type SuspenderState, type SuspendHost, type Suspender } from './suspend.js';
import type { HostFunction } from './types.js';

/** The JS Promise Integration API (not yet in TypeScript's lib). */
interface Jspi {
  Suspending: new (fn: HostFunction) => object;
  promising(fn: (...args: unknown[]) => unknown): (...args: unknown[]) => Promise<unknown>;
}

const jspi = WebAssembly as unknown as Jspi;

export class JspiSuspender implements Suspender {
  readonly backend = 'jspi';
  private readonly calls = new ImportCalls();
  private exports!: WebAssembly.Exports;

  /**
   * `endWithoutUnwinding`: the module catches exceptions, so what an import throws to end the
   * process must not travel through it (SuspendHost.abandon): every import may then suspend.
   */
  constructor(
    private readonly host: SuspendHost,
    private readonly endWithoutUnwinding = false,
  ) {}

  get wrapsEveryImport(): boolean {
    return this.endWithoutUnwinding;
  }

  wrapImport(qualifiedName: string, fn: HostFunction, blocking: boolean): unknown {
    const guarded = (...args: unknown[]) => {
      const result = this.calls.invoke(qualifiedName, fn, blocking, args);
      return isWaitable(result) ? this.host.park(result) : result;
    };
    if (!this.endWithoutUnwinding) return blocking ? new jspi.Suspending(guarded) : guarded;
    return new jspi.Suspending((...args: unknown[]) => {
      try {
        return guarded(...args);
      } catch (error) {
        return this.host.abandon(error);
      }
    });
  }

  attach(instance: WebAssembly.Instance): void {
    this.exports = instance.exports;
  }

  start(exportName: string, args: unknown[]): Promise<unknown> {
    const entry = this.exports[exportName];
    if (typeof entry !== 'function') throw new BackendError(`the module has no function export "${exportName}"`);
    return jspi.promising(entry as (...args: unknown[]) => unknown)(...args);
  }

  resume(_resumption: Resumption): never {
    throw new Error('a JSPI process resumes through the Promise its import suspended on');
  }

  readonly changedEnd = undefined;

  reset(): void {}

  save(): never {
    throw new Error('a JSPI process cannot leave its instance: its stack lives in the engine');
  }

  load(_state: SuspenderState): never {
    throw new Error('a JSPI process cannot leave its instance: its stack lives in the engine');
  }
}
