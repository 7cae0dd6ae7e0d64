// bench/echo-client.c, the native client of the echo benches: built by the machine's clang, it
// makes real round trips over loopback against a real Node echo server, and refuses a server
// that sends back other bytes than it was sent, or more.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildNativeEchoClient, measureNative, nodeClusterEchoServer, startServer, stopServer } from '../bench/echo.js';
import { findClang, requireTool } from './helpers/tools.js';

const clang = requireTool('clang', findClang(), 'apt-get install clang');

/** Runs `source` (a CommonJS echo server printing "listening on 127.0.0.1:PORT") and the native client against it. */
async function roundTripsAgainst(source: string) {
  const built = buildNativeEchoClient();
  if ('skipped' in built) throw new Error(built.skipped);
  const file = join(mkdtempSync(join(tmpdir(), 'echo-client-')), 'server.cjs');
  writeFileSync(file, source);
  const server = await startServer({ name: 'node', command: process.execPath, args: [file] });
  try {
    return await measureNative(built.client, server.port, 20);
  } finally {
    await stopServer(server);
  }
}

describe.skipIf(!clang)('native echo client', () => {
  it('counts round trips on every connection against a Node echo server', async () => {
    const figures = await roundTripsAgainst(nodeClusterEchoServer(1));
    expect(figures.fewestPerConnection).toBeGreaterThan(0);
    expect(figures.roundTripsPerSecond).toBeGreaterThanOrEqual((figures.fewestPerConnection * 20) / 3);
    expect(figures.p50Ms).toBeGreaterThan(0);
    expect(figures.p99Ms).toBeGreaterThanOrEqual(figures.p50Ms);
  }, 30_000);

  it('fails on a server that sends back other bytes, or more', async () => {
    const corrupting = nodeClusterEchoServer(1).replace('socket.write(data)', 'socket.write(Buffer.alloc(data.length, 0x62))');
    expect(corrupting).not.toBe(nodeClusterEchoServer(1));
    await expect(roundTripsAgainst(corrupting)).rejects.toThrow(/bytes it was not sent/);
    const doubling = nodeClusterEchoServer(1).replace('socket.write(data)', 'socket.write(Buffer.concat([data, data]))');
    expect(doubling).not.toBe(nodeClusterEchoServer(1));
    await expect(roundTripsAgainst(doubling)).rejects.toThrow(/more bytes than it was sent/);
  }, 30_000);
});
