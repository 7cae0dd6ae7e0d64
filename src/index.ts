// The library API of lunatic-instrument (Node). The browser entry is src/browser/index.ts.
import { prepareEngine } from './runtime/node/engine.js';

// The instrumenter.
export { instrument, DEFAULT_OPTIONS } from './instrument.js';
export type { InstrumentOptions, InstrumentReport, InstrumentResult, OptimizeLevel } from './instrument.js';
export { readInstrumentSection, SECTION_NAME, ABI_VERSION } from './section.js';
export type { InstrumentInfo } from './section.js';
export { DEFAULT_BLOCKING_IMPORTS } from './blocking-imports.js';
export { InputError, UsageError } from './errors.js';
export { OutOfMemoryError } from './out-of-memory.js';
export type { ProgressListener } from '../passes/ir/progress.js';
export { VERSION } from './version.js';

// The runtime: processes, WASI, the lunatic process API, and the Node host pieces.
export * from './runtime/index.js';
export {
  wasiPreview1,
  MAY_WAIT_IMPORTS,
  MemoryDirectory,
  CollectedOutput,
  QueueInput,
  callbackOutput,
  discardOutput,
} from './runtime/wasi/index.js';
export type { WasiOptions, Directory, File } from './runtime/wasi/index.js';
export { Lunatic, LunaticProcess } from './runtime/lunatic/index.js';
export type { LunaticOptions, Permissions } from './runtime/lunatic/index.js';
export { nodeDirectory } from './runtime/node/fs.js';
export { processStdio, NodeInput, NodeOutput } from './runtime/node/stdio.js';
export { NodeNetwork } from './runtime/node/net.js';
export { onlyStdioOnEventLoop } from './runtime/node/event-loop.js';
export { joinNatsCluster } from './runtime/node/nats.js';
export { runProgram, programPermissions, TRAP_EXIT_CODE } from './run-program.js';
export type { RunProgramOptions } from './run-program.js';
export { engineFlags, prepareEngine } from './runtime/node/engine.js';
export type { NatsOptions } from './runtime/node/nats.js';

// Node 20's V8 crashes under concurrent marking while large instrumented modules run: every Node
// user of the runtime gets the workaround (src/runtime/node/engine.ts).
prepareEngine();
