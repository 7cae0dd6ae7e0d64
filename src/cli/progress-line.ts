// The progress line of the instrument command: on a terminal, one line on stderr rewritten in
// place ("lunatic-instrument: big.wasm: adding checks 1200/34004 functions, 41 s"), so a long job
// shows it is alive and how far it is. Nothing when stderr is not a terminal or with --quiet, and
// nothing for a job that ends within a couple of seconds (unless it is expected to be long: then
// from the start, so that binaryen's reading of a large module shows too). The passes run synchronously, so the
// line is drawn from their progress calls, at most every REDRAW_MS, never from a timer.
import type { ProgressListener } from '../../passes/ir/progress.js';

/** Jobs shorter than this draw nothing (LUNATIC_PROGRESS_AFTER_MS overrides it: tests draw at once). */
const showAfterOverride = Number(process.env.LUNATIC_PROGRESS_AFTER_MS);
export const SHOW_AFTER_MS = Number.isFinite(showAfterOverride) && showAfterOverride >= 0 ? showAfterOverride : 2000;
const REDRAW_MS = 200;
const CLEAR_LINE = '\r\x1b[K';

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export class ProgressLine {
  private readonly started: number;
  private drawnAt = -Infinity;
  private drawn = false;

  constructor(
    private readonly file: string,
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
    /** A job expected to take longer than SHOW_AFTER_MS: its line is drawn from the start. */
    private readonly expectedLong = false,
  ) {
    this.started = now();
  }

  /** Whether a line can be drawn at all: a terminal. */
  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  readonly listener: ProgressListener = (phase, done, total) => {
    const time = this.now();
    const elapsed = time - this.started;
    const newPhase = done === 0;
    const early = elapsed < SHOW_AFTER_MS && !this.expectedLong;
    if (!this.enabled || early || (!newPhase && time - this.drawnAt < REDRAW_MS)) return;
    this.drawnAt = time;
    this.drawn = true;
    const count = total > 0 ? ` ${done}/${total} functions` : '';
    const text = `lunatic-instrument: ${this.file}: ${phase}${count}, ${Math.round(elapsed / 1000)} s`;
    const width = this.stream.columns ?? 0;
    this.stream.write(`${CLEAR_LINE}${width > 1 && text.length >= width ? `${text.slice(0, width - 2)}…` : text}`);
  };

  /** Removes the line, so what follows (warnings, errors) starts on a clean one. */
  clear(): void {
    if (this.drawn) this.stream.write(CLEAR_LINE);
    this.drawn = false;
  }
}
