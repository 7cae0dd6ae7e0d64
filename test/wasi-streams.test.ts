// The stream implementations behind stdio: Node's (NodeInput reads only on demand, NodeOutput
// waits on back-pressure and turns a broken pipe into EPIPE) and the in-memory ones.
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NodeInput, NodeOutput } from '../src/runtime/node/stdio.js';
import { Errno, QueueInput, WasiError } from '../src/runtime/wasi/index.js';

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null) => (bytes === null ? null : decoder.decode(bytes));

describe('NodeInput', () => {
  it('reads on demand: nothing is taken from the Readable until a process waits', async () => {
    const source = new PassThrough();
    const input = new NodeInput(source);
    source.write('first chunk');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(input.buffered).toBe(0);
    expect(source.readableLength).toBe(11); // still in the Readable, not pulled
    expect(text(await input.read(5))).toBe('first');
    expect(input.buffered).toBe(6);
    expect(source.isPaused()).toBe(true);
    expect(text(await input.read(100))).toBe(' chunk');
  });

  it('readable() resolves on data and at the end; read() gives null at the end', async () => {
    const source = new PassThrough();
    const input = new NodeInput(source);
    let ready = false;
    const waiting = input.readable().then(() => (ready = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(ready).toBe(false);
    source.write('x');
    await waiting;
    expect(input.buffered).toBe(1);
    expect(text(await input.read(10))).toBe('x');
    source.end();
    await input.readable();
    expect(await input.read(10)).toBeNull();
  });
});

describe('NodeOutput', () => {
  /** A Writable that completes each write only when the test says so. */
  function slowWritable() {
    const written: string[] = [];
    const pending: (() => void)[] = [];
    const writable = new Writable({
      highWaterMark: 4,
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk.toString());
        pending.push(done);
      },
    });
    return { writable, written, finishOne: () => pending.shift()!() };
  }

  it('returns at once below the high-water mark and a Promise that waits for drain above it', async () => {
    const { writable, written, finishOne } = slowWritable();
    const output = new NodeOutput(writable);
    expect(output.write(new TextEncoder().encode('ab'))).toBeUndefined();
    finishOne();
    const full = output.write(new TextEncoder().encode('too long'));
    expect(full).toBeInstanceOf(Promise);
    let drained = false;
    void (full as Promise<void>).then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(drained).toBe(false);
    finishOne();
    await full;
    expect(written).toEqual(['ab', 'too long']);
  });

  it('after the reader went away (EPIPE) writes fail with WasiError EPIPE, and nothing crashes', async () => {
    const writable = new Writable({ write: (_chunk, _encoding, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
    const output = new NodeOutput(writable);
    const first = output.write(new Uint8Array([1]));
    if (first) await first.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 10));
    try {
      output.write(new Uint8Array([2]));
      expect.unreachable('the write should fail');
    } catch (error) {
      expect(error).toBeInstanceOf(WasiError);
      expect((error as WasiError).errno).toBe(Errno.PIPE);
    }
  });
});

describe('QueueInput', () => {
  it('hands out pushed bytes in order, at most `max` at a time, then null after end', async () => {
    const input = new QueueInput('hello ');
    input.push(new TextEncoder().encode('world'));
    expect(input.buffered).toBe(11);
    expect(text(await input.read(8))).toBe('hello wo');
    expect(text(await input.read(8))).toBe('rld');
    const later = input.read(8);
    input.end();
    expect(await later).toBeNull();
    expect(() => input.push('more')).toThrow(/after end/);
  });
});
