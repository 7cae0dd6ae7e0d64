// The one shape of a pass, as binaryen's `Pass::run(Module*)` and AssemblyScript's `Pass` base:
// `run(context, options)`, where the context holds the module, binaryen.js and the analyses the
// passes share, and the options are one typed object. src/instrument.ts runs the passes in order
// over one context.
import type { Binaryen, Module } from './binaryen.js';
import { buildCallGraph, type CallGraph } from './call-graph.js';
import { entryPoints } from './module.js';
import { Progress } from './progress.js';

export class PassContext {
  private graph: CallGraph | undefined;

  constructor(
    readonly binaryen: Binaryen,
    readonly module: Module,
    /** Where the passes report how far they are (nowhere by default). */
    readonly progress: Progress = new Progress(),
  ) {}

  /** The call graph of the module as it is now: built on first use, kept until `changed()`. */
  callGraph(): CallGraph {
    this.graph ??= buildCallGraph(this.binaryen, this.module);
    return this.graph;
  }

  /** Where the host can enter the module (exports, then start). */
  entryPoints(): string[] {
    return entryPoints(this.binaryen, this.module);
  }

  /** Drops the shared analyses: a pass that adds, removes or redirects calls calls it when done. */
  changed(): void {
    this.graph = undefined;
  }
}

/** The options of a pass that has none. */
export type NoOptions = Record<string, never>;

/** A transformation (or an analysis the transformations share) over one module. */
export interface Pass<Options, Result> {
  /** The pass's name in reports and messages, as in binaryen's pass registry. */
  readonly name: string;
  run(context: PassContext, options: Options): Result;
}
