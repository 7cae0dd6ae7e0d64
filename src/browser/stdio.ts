// Standard streams for a page, on top of the core's memory streams (runtime/wasi/streams.ts):
// a process's output goes to a text callback, and its input can come from a callback that the
// runtime calls whenever the process reads and nothing is buffered ("the next line the user
// types"). For input pushed by the page, use QueueInput. Web APIs only: no Node globals.
import type { InputStream, OutputStream } from '../runtime/types.js';
import { callbackOutput } from '../runtime/wasi/streams.js';

/** Receives decoded text; a UTF-8 sequence split across writes arrives whole. */
export type TextSink = (text: string) => void;

/** Called when the process wants input: more text or bytes, or null for the end of input. */
export type InputSource = () => Promise<string | Uint8Array | null> | string | Uint8Array | null;

export function textOutput(sink: TextSink): OutputStream {
  const decoder = new TextDecoder();
  return callbackOutput((bytes) => {
    const text = decoder.decode(bytes, { stream: true });
    if (text) sink(text);
  });
}

const encoder = new TextEncoder();

/** An InputStream that pulls from `source` one chunk at a time, only when it has run dry. */
export function pulledInput(source: InputSource): InputStream {
  let chunk: Uint8Array = new Uint8Array(0);
  let ended = false;
  let pulling: Promise<void> | undefined;

  const pull = async (): Promise<void> => {
    while (!ended && chunk.length === 0) {
      const next = await source();
      if (next === null) ended = true;
      else chunk = typeof next === 'string' ? encoder.encode(next) : next;
    }
  };
  const readable = (): Promise<void> => {
    if (ended || chunk.length > 0) return Promise.resolve();
    pulling ??= pull().finally(() => (pulling = undefined));
    return pulling;
  };

  return {
    get buffered() {
      return chunk.length;
    },
    readable,
    async read(max) {
      await readable();
      if (chunk.length === 0) return null;
      const taken = chunk.subarray(0, Math.max(1, max));
      chunk = chunk.subarray(taken.length);
      return taken;
    },
  };
}
