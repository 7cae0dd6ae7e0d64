// Preloaded (`node --import`) into a Node-based tool that the benchmark measures: prints the
// process's peak resident memory (KiB) and CPU time (user, system seconds) on stderr as it exits,
// in the format bench/measure.ts also asks /usr/bin/time for.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  const usage = process.resourceUsage();
  writeSync(2, `\n@@usage ${usage.maxRSS} ${usage.userCPUTime / 1e6} ${usage.systemCPUTime / 1e6}\n`);
});
