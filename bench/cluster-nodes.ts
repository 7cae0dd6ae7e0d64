// A real nats-server for the distribution tests and bench, on a free loopback port, and
// lunatic nodes (`lunatic-instrument run --node ... --nats ...`) as separate OS processes whose
// output lines can be awaited.
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { cli as BIN } from './paths.js';

export interface NatsServer {
  url: string;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => resolve(true));
    socket.on('error', () => resolve(false));
    socket.setTimeout(500, () => resolve(false));
    socket.on('connect', () => socket.destroy());
  });
}

/** Starts `nats-server` on 127.0.0.1 with extra flags (e.g. --user u --pass p); resolves once it accepts connections. */
export async function startNatsServer(natsServer: string, flags: string[] = []): Promise<NatsServer> {
  const port = await freePort();
  const child = spawn(natsServer, ['-a', '127.0.0.1', '-p', String(port), ...flags], { stdio: 'ignore' });
  const stop = () => void child.kill('SIGKILL');
  for (let tries = 0; tries < 100; tries++) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return { url: `nats://127.0.0.1:${port}`, stop };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  stop();
  throw new Error(`nats-server did not start on port ${port}`);
}

export interface Node {
  child: ChildProcess;
  /** Resolves with the first stdout line matching `pattern` (rejects when the node exits first). */
  line(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves when the node exits, with its code and output. */
  exited: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
}

/** Runs `lunatic-instrument run wasm [flags] -- args` with the given Node binary. */
export function startNode(wasm: string, flags: string[], args: string[], options: { node?: string; env?: NodeJS.ProcessEnv } = {}): Node {
  const child = spawn(options.node ?? process.execPath, [BIN, 'run', wasm, ...flags, '--', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (data: Buffer) => {
    stdout += data.toString();
    for (const waiter of waiters) waiter();
  });
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      for (const waiter of waiters) waiter();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  const line = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = stdout
          .split('\n')
          .map((text) => pattern.exec(text))
          .find(Boolean);
        if (match) resolve(match);
        else if (child.exitCode !== null || child.signalCode !== null)
          reject(new Error(`the node exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}: ${stdout}${stderr}`));
        else return;
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { child, line, exited };
}
