// TCP for the server tests: a server started with `lunatic-instrument run` in a child process,
// a client exchange on a fresh connection, and the sockets listening at a port.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from './tools.js';

export interface ServerProcess {
  child: ChildProcess;
  /** Resolves once the server printed "listening on 127.0.0.1:PORT"; rejects if it exits first. */
  port: Promise<number>;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `node bin/lunatic-instrument.js run ...args`; the child is added to `running`, for the caller to kill after each test. */
export function startServerProcess(node: string, args: string[], running: ChildProcess[]): ServerProcess {
  const child = spawn(node, [join(projectRoot, 'bin/lunatic-instrument.js'), 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const port = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (data: Buffer) => {
      stdout += data.toString();
      const match = /^listening on 127\.0\.0\.1:(\d+)\n/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}: ${stderr}`)));
  });
  return { child, port, stdout: () => stdout, stderr: () => stderr };
}

/** Sends `text` on a fresh connection and resolves with everything received until the server closes or `expected` bytes came. */
export function exchange(port: number, text: string, expected = Infinity): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.on('data', (data) => {
      received += data.toString();
      if (received.length >= expected) socket.end();
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

/** How many sockets listen on 127.0.0.1:`port` (Linux /proc/net/tcp): one per thread where they share the address. */
export function listeningSockets(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((line) => {
      const [, address, , state] = line.trim().split(/\s+/);
      return address === local && state === '0A'; // TCP_LISTEN
    }).length;
}
