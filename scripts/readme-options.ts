// Writes README's CLI table from the table of instrumenter options (src/options.ts), between its
// two markers. test/project.test.ts fails when README and the table disagree; this is the fix.
//   npm run readme-options
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withOptionsTable } from '../src/options.js';
import { projectRoot } from '../src/project-root.js';
import { writeFileWhole } from '../src/wasm-io.js';

const path = join(projectRoot, 'README.md');
await writeFileWhole(path, withOptionsTable(readFileSync(path, 'utf8')));
process.stdout.write('README.md: CLI table written from src/options.ts\n');
