// Facts about the project that must stay in step: the version recorded in modules with
// package.json, README's CLI table with the table of options, docs/ARCHITECTURE.md with the
// files and folders it describes, and the one decoder of the lunatic.instrument section with its
// ABI check.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ABI_VERSION, readInstrumentSection, SECTION_NAME, VERSION } from '../src/index.js';
import { instrumentInfoOf } from '../src/runtime/module-info.js';
import { OPTIONS, optionsMarkdown, readmeOptionsTable } from '../src/options.js';
import { projectRoot } from '../src/project-root.js';

/** The folders docs/ARCHITECTURE.md must describe to the last file. */
const DESCRIBED = ['src', 'passes', 'test', 'bench', 'scripts', 'examples', 'include', 'docs'];

/** The tracked files under the described folders, or undefined outside a git checkout. */
function trackedFiles(): string[] | undefined {
  try {
    return execFileSync('git', ['ls-files', '--', ...DESCRIBED], { cwd: projectRoot, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  } catch {
    return undefined;
  }
}

/** The paths ARCHITECTURE.md names: the first word of each line of its code blocks (`*`: any name). */
function architectureEntries(): RegExp[] {
  const text = readFileSync(join(projectRoot, 'docs/ARCHITECTURE.md'), 'utf8');
  const blocks = [...text.matchAll(/```\n([\s\S]*?)```/g)].map((match) => match[1]!);
  return blocks
    .flatMap((block) => block.split('\n'))
    .map((line) => line.split(/\s+/)[0]!)
    .filter(Boolean)
    .map((path) => new RegExp(`^${path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*')}$`));
}

/** An empty module with one custom section. */
function moduleWithSection(name: string, payload: string): Uint8Array {
  const encoder = new TextEncoder();
  const nameBytes = encoder.encode(name);
  const content = [nameBytes.length, ...nameBytes, ...encoder.encode(payload)];
  if (nameBytes.length > 127 || content.length > 127) throw new Error('keep the test section short');
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00, content.length, ...content]);
}

describe('the project', () => {
  it('records the version of package.json', () => {
    expect(VERSION).toBe((JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it("has README's CLI table as the table of options makes it (else: npm run readme-options)", () => {
    const table = readmeOptionsTable(readFileSync(join(projectRoot, 'README.md'), 'utf8'));
    expect(table).toBe(optionsMarkdown());
    for (const option of OPTIONS) expect(table).toContain(option.describe);
  });
});

describe('docs/ARCHITECTURE.md', () => {
  const files = trackedFiles();

  it.skipIf(!files)('names every tracked file and folder under the described folders', () => {
    const entries = architectureEntries();
    const folders = new Set(
      files!.flatMap((file) => {
        const parents: string[] = [];
        for (let dir = dirname(file); dir !== '.'; dir = dirname(dir)) parents.push(`${dir}/`);
        return parents;
      }),
    );
    const unnamed = [...files!, ...folders].filter((path) => !entries.some((entry) => entry.test(path)));
    expect(unnamed, 'add a line for each to docs/ARCHITECTURE.md').toEqual([]);
  });
});

describe('the lunatic.instrument section decoder', () => {
  const other = moduleWithSection(SECTION_NAME, JSON.stringify({ abi: ABI_VERSION + 1, version: '9.9.9' }));

  it('refuses another ABI, in the library and in the runtime alike', () => {
    expect(() => readInstrumentSection(other)).toThrow(`was instrumented for ABI ${ABI_VERSION + 1} (lunatic-instrument 9.9.9)`);
    expect(() => instrumentInfoOf(new WebAssembly.Module(other as BufferSource))).toThrow(
      `the module was instrumented for ABI ${ABI_VERSION + 1}`,
    );
  });

  it('reads any ABI when asked (to name the tool that made it)', () => {
    expect(readInstrumentSection(other, { anyAbi: true })).toMatchObject({ abi: ABI_VERSION + 1, version: '9.9.9' });
  });

  it('refuses a section that is not JSON with one line', () => {
    expect(() => readInstrumentSection(moduleWithSection(SECTION_NAME, '{abi'))).toThrow(
      `has a ${SECTION_NAME} section that is not valid JSON`,
    );
  });

  it('reads nothing from a module without the section', () => {
    expect(readInstrumentSection(moduleWithSection('other', '{}'))).toBeUndefined();
  });
});
