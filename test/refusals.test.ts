// The refusals made from the raw bytes before binaryen reads anything (src/refusals.ts): a module
// that already went through Asyncify (each way it can show), a component, and an input whose
// estimated instrumentation time is over --time-limit. The inputs are built here, in memory,
// byte by byte, or by binaryen's own Asyncify pass; the CLI cases check the one-line contract.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import binaryen from 'binaryen';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeU32 } from '../src/binary.js';
import { InputError, instrument } from '../src/index.js';
import { estimatedMinutes, refuseEarly, SECONDS_PER_CODE_MB } from '../src/refusals.js';
import { run } from './helpers/command.js';
import { projectRoot } from './helpers/tools.js';

const BIN = join(projectRoot, 'bin/lunatic-instrument.js');
const HEADER = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0];

const utf8 = (text: string) => [...new TextEncoder().encode(text)];
const name = (text: string) => [...encodeU32(utf8(text).length), ...utf8(text)];
const vector = (items: number[][]) => [...encodeU32(items.length), ...items.flat()];
const section = (id: number, payload: number[]) => [id, ...encodeU32(payload.length), ...payload];

interface Parts {
  exports?: Array<[string, kind: number]>;
  globalImports?: string[];
  functionNames?: string[];
  /** Instructions of the one function's body (default: none). */
  body?: number[];
}

/** A valid module: one `() -> ()` function (and one mutable i32 global), with the given extras. */
function module({ exports = [], globalImports = [], functionNames = [], body = [] }: Parts): Uint8Array {
  const imports = globalImports.map((field) => [...name('env'), ...name(field), 0x03, 0x7f, 0x01]);
  const code = [0x00, ...body, 0x0b]; // no locals
  const bytes = [
    ...HEADER,
    ...section(1, vector([[0x60, 0x00, 0x00]])),
    ...(imports.length ? section(2, vector(imports)) : []),
    ...section(3, vector([[0x00]])),
    ...section(6, vector([[0x7f, 0x01, 0x41, 0x00, 0x0b]])),
    ...section(7, vector(exports.map(([field, kind]) => [...name(field), kind, 0x00]))),
    ...section(10, vector([[...encodeU32(code.length), ...code]])),
  ];
  if (functionNames.length) {
    const map = vector(functionNames.map((text, index) => [...encodeU32(index), ...name(text)]));
    bytes.push(...section(0, [...name('name'), 0x01, ...encodeU32(map.length), ...map]));
  }
  return new Uint8Array(bytes);
}

/** Code estimated at about 1.2 minutes at the measured rate (a multiple of 10 bytes). */
const SLOW_CODE_BYTES = Math.round((72 / SECONDS_PER_CODE_MB) * 1e5) * 10;

/** A module with `codeBytes` of code: one function of that many `nop`s. */
const largeModule = (codeBytes: number) => module({ exports: [['main', 0]], body: new Array(codeBytes).fill(0x01) });

/** A real Asyncify'd module: binaryen's own pass over one of our fixtures. */
async function asyncifiedByBinaryen(): Promise<Uint8Array> {
  const original = binaryen.readBinary(new Uint8Array(await readFile(join(projectRoot, 'fixtures/wat/spin.wasm'))));
  try {
    original.runPasses(['asyncify']);
    return original.emitBinary();
  } finally {
    original.dispose();
  }
}

async function refusal(bytes: Uint8Array, options = {}): Promise<string> {
  const error = await instrument(bytes, { fileName: 'input.wasm', ...options }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputError);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  expect(message).toMatch(/^input\.wasm /);
  return message;
}

describe('a module that already went through Asyncify is refused', () => {
  it('when binaryen made it (it exports asyncify_start_unwind)', async () => {
    expect(await refusal(await asyncifiedByBinaryen())).toMatch(/went through Asyncify \(it exports asyncify_\w+\).*before Asyncify/);
  });

  it('when it exports the Asyncify globals (asyncify-export-globals)', async () => {
    const message = await refusal(module({ exports: [['__asyncify_data', 0x03]] }));
    expect(message).toContain('it exports __asyncify_data');
  });

  it('when it imports the Asyncify globals (asyncify-import-globals)', async () => {
    expect(await refusal(module({ globalImports: ['__asyncify_state'] }))).toContain('it imports env.__asyncify_state');
  });

  it('when only its name section shows it', async () => {
    expect(await refusal(module({ functionNames: ['asyncify_get_state'] }))).toContain('its name section has asyncify_get_state');
  });

  it('also with --no-asyncify', async () => {
    await refusal(module({ exports: [['asyncify_stop_rewind', 0]] }), { asyncify: false });
  });

  it('but not a module whose names only resemble them', () => {
    const bytes = module({ exports: [['asyncify_start', 0]], functionNames: ['my_asyncify_get_state'] });
    expect(() => refuseEarly(bytes, { asyncify: true, timeLimit: 30 })).not.toThrow();
  });
});

describe('an input estimated to take too long', () => {
  it('is refused over --time-limit, with the estimate and the way to go ahead', async () => {
    expect(estimatedMinutes(SLOW_CODE_BYTES)).toBeCloseTo(((SLOW_CODE_BYTES / 1e6) * SECONDS_PER_CODE_MB) / 60, 5);
    const message = await refusal(largeModule(SLOW_CODE_BYTES), { timeLimit: 1 });
    const size = (SLOW_CODE_BYTES / 1e6).toFixed(1).replace('.', '\\.');
    expect(message).toMatch(
      new RegExp(`has ${size} MB of code in 1 functions: .*estimated at 1 minutes.*--time-limit 1; pass --time-limit 0`),
    );
  });

  it('is let through under the limit, or with --time-limit 0', () => {
    const bytes = largeModule(SLOW_CODE_BYTES);
    expect(() => refuseEarly(bytes, { asyncify: true, timeLimit: 2 })).not.toThrow();
    expect(() => refuseEarly(bytes, { asyncify: true, timeLimit: 0 })).not.toThrow();
  });
});

describe.concurrent('through the CLI: one line, exit 1, nothing written', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lunatic-refusals-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  const cases: Array<[string, () => Uint8Array | Promise<Uint8Array>, string[], RegExp]> = [
    ['an Asyncify output', asyncifiedByBinaryen, [], /already went through Asyncify .* instrument the module as built before Asyncify/],
    ['a component', () => new Uint8Array([...HEADER.slice(0, 4), 0x0d, 0x00, 0x01, 0x00]), [], /is a component .* core module/],
    [
      'too much code for --time-limit',
      () => largeModule(SLOW_CODE_BYTES),
      ['--time-limit', '1'],
      /estimated at \d+ minutes.*--time-limit 0/,
    ],
  ];
  for (const [what, make, flags, pattern] of cases) {
    it(what, async () => {
      const dir = await mkdtemp(join(work, 'case-'));
      const input = join(dir, 'input.wasm');
      await writeFile(input, await make());
      const result = await run(process.execPath, [BIN, input, '-o', join(dir, 'out.wasm'), ...flags], { cwd: projectRoot });
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^lunatic-instrument: ${input.replaceAll('/', '\\/')} `));
      expect(lines[0]).toMatch(pattern);
      expect(result.code).toBe(1);
      expect(await readdir(dir)).toEqual(['input.wasm']);
    });
  }
});
