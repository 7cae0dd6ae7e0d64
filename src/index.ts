// The library API of lunatic-instrument.
export { instrument, DEFAULT_OPTIONS } from './instrument.js';
export type { InstrumentOptions, InstrumentReport, InstrumentResult, OptimizeLevel } from './instrument.js';
export { readInstrumentSection, SECTION_NAME, ABI_VERSION } from './section.js';
export type { InstrumentInfo } from './section.js';
export { DEFAULT_BLOCKING_IMPORTS } from './blocking-imports.js';
export { InputError, UsageError } from './errors.js';
export { VERSION } from './version.js';
