// The runtime's public API: run instrumented (or, on JSPI engines, plain) modules as processes.
export {
  DEFAULT_HIBERNATE_AFTER_MS,
  DEFAULT_MAX_IDLE_INSTANCES,
  DEFAULT_MAX_INSTANCES,
  DEFAULT_MAX_PROCESSES,
  DEFAULT_REDUCTIONS,
  ProcessLimitError,
  Runtime,
} from './runtime.js';
export { DEFAULT_BATCH_MS } from './scheduler.js';
export { engineMemoryLimit, MemoryShare } from './memory-limit.js';
export { hibernatable, Later, NEXT_TURN, Pending } from './pending.js';
export type { RuntimeOptions, SpawnOptions } from './runtime.js';
export { Process } from './process.js';
export type { ExitStatus, ProcessState, TrapReport } from './process.js';
export { BackendError, jspiAvailable } from './suspend.js';
export type { BackendChoice, BackendName } from './suspend.js';
export { LinkError } from './link.js';
export { importsOf, isReusable, ProcessExit } from './types.js';
export type {
  HostFunction,
  HostModule,
  HostModuleKind,
  Imports,
  ImportNamespace,
  InputStream,
  OutputStream,
  ProcessContext,
  ReusableHostModule,
} from './types.js';
