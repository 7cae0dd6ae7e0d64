// The browser entry point of the runtime, bundled into dist/browser/lunatic-runtime.js by
// scripts/bundle-browser.ts: run instrumented modules as processes in a page. ESM, Web APIs
// only (no Node globals): the runtime core, WASI over in-memory files and callback streams.
export * from '../runtime/index.js';
export { MemoryDirectory, type MemoryTree } from '../runtime/wasi/memfs.js';
export { CollectedOutput, QueueInput } from '../runtime/wasi/streams.js';
export { loadModule, type ProgramOptions, spawnProgram } from './program.js';
export { type InputSource, pulledInput, textOutput, type TextSink } from './stdio.js';
