// Build step: writes the faster-starting copy of binaryen.js (src/binaryen-split.ts) into
// dist/binaryen/, unless the one there was made from the binaryen installed now. When the
// installed binaryen cannot be split, says so and leaves loadBinaryen() on the package itself:
// slower to start, same results.
//   node dist/scripts/split-binaryen.js
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GLUE_FILE, installedBinaryen, SOURCE_FILE, SPLIT_DIR, splitBinaryen, splitBinaryenUrl, WASM_FILE } from '../src/binaryen-split.js';
import { projectRoot } from '../src/project-root.js';
import { writeFileWhole } from '../src/wasm-io.js';

const installed = installedBinaryen();
if (!splitBinaryenUrl(installed)) {
  rmSync(join(SPLIT_DIR, SOURCE_FILE), { force: true }); // the copy is invalid until rewritten whole
  try {
    const { glue, wasm } = splitBinaryen(readFileSync(installed.path, 'utf8'));
    mkdirSync(SPLIT_DIR, { recursive: true });
    await writeFileWhole(join(SPLIT_DIR, WASM_FILE), wasm);
    await writeFileWhole(join(SPLIT_DIR, GLUE_FILE), glue);
    await writeFileWhole(join(SPLIT_DIR, SOURCE_FILE), JSON.stringify({ version: installed.version, bytes: installed.bytes }));
    process.stdout.write(
      `split binaryen.js ${installed.version} into ${relative(projectRoot, SPLIT_DIR)} (${Math.round(glue.length / 1024)} KiB of JavaScript)\n`,
    );
  } catch (error) {
    process.stderr.write(
      `split-binaryen: ${(error as Error).message}; binaryen.js will load from its package (about 1 s slower to start)\n`,
    );
  }
}
