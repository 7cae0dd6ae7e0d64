// The human-readable form of an instrumentation report (`--report text`).
import type { InstrumentReport } from '../instrument.js';

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function formatReport(report: InstrumentReport): string {
  const growth = ((report.outputBytes / report.inputBytes - 1) * 100).toFixed(1);
  const lines = [
    `${report.file}: ${kib(report.inputBytes)} -> ${kib(report.outputBytes)} (${Number(growth) >= 0 ? '+' : ''}${growth}%), ${report.definedFunctions} functions, -O${report.optimize}, ${report.milliseconds} ms`,
    `  features: ${report.features.length ? report.features.join(', ') : 'MVP'}`,
  ];
  const r = report.reductions;
  if (r) {
    lines.push(
      `  reductions: ${r.checks.total} checks (${r.checks.loops} loop headers, ${r.checks.entries} function entries, ${r.checks.afterCalls} after calls) and ${r.checks.decrements} decrements, cost model "${r.costModel}"`,
    );
    const unwinding = r.returnStretch ? `, plus ${r.returnStretch} per frame while returning from a recursion` : '';
    lines.push(
      `  preemption bound: at most ${r.bound} instructions between two checks${unwinding} (${r.recursiveFunctions} recursive functions, ${r.unrolledFunctions.length} unrolled, ${r.unrolledLoops} small loops unrolled; extra checks past ${r.checkLimit})`,
    );
  }
  const a = report.asyncify;
  if (a) {
    lines.push(
      `  asyncify: ${a.instrumentedFunctions.length} of ${report.definedFunctions} functions can reach a blocking import${a.usedOnlyList ? '' : ' (binaryen analysis)'}${a.rewindCopies ? `, each given a fast and a rewind copy${a.singleCopies ? ` (${a.singleCopies} past --single-copy-above: the rewind copy alone)` : ''}` : ", instrumented by binaryen's Asyncify"}`,
    );
    lines.push(`  blocking imports: ${a.blockingImports.length ? a.blockingImports.join(', ') : 'none'}`);
    lines.push(`  reserved: ${a.reservedPages} page(s) at the top of memory "${a.memoryExport}" for the suspended stack`);
  }
  return `${lines.join('\n')}\n`;
}
