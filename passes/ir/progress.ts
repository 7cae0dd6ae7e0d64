// How far the passes are, for a progress line: the phase and the functions done out of the
// phase's total. A pass announces its phase and steps once per function; what listens (the CLI's
// progress line, the memory guard) is the caller's business, so passes stay free of I/O.

/** The instrumenter's last phase: binaryen writes the module out, its largest allocations (src/cli/engine-tuning.ts frees memory first). */
export const WRITING_PHASE = 'writing';

/** Called at the start of each phase (done 0) and after each step. */
export type ProgressListener = (phase: string, done: number, total: number) => void;

export class Progress {
  private name = '';
  private done = 0;
  private total = 0;

  constructor(private readonly listener?: ProgressListener) {}

  /** The phase under way, for messages. */
  get current(): string {
    return this.name;
  }

  /** A new phase of `total` steps (0: a phase of one opaque step, such as binaryen's reading). */
  phase(name: string, total = 0): void {
    this.name = name;
    this.done = 0;
    this.total = total;
    this.listener?.(name, 0, total);
  }

  step(count = 1): void {
    this.done += count;
    this.listener?.(this.name, this.done, this.total);
  }
}
