// lunatic host API, messages: send a tagged byte buffer to a pid (FULL when its mailbox is at
// its bound of messages or of bytes), receive into the caller's memory with an optional tag
// filter (selective receive) and timeout. A message larger than the buffer stays queued; the
// caller learns its size.
import type { HostFunction, ProcessContext } from '../types.js';
import { TIMED_OUT, withDeadline } from './deadline.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import type { Message } from './mailbox.js';

/** lunatic_message_t: { int64_t tag; int32_t sender; uint32_t size; } */
const INFO_BYTES = 16;

function messageInfo(message: Message): Uint8Array {
  const info = new Uint8Array(INFO_BYTES);
  const view = new DataView(info.buffer);
  view.setBigInt64(0, message.tag, true);
  view.setInt32(8, message.sender, true);
  view.setUint32(12, message.data.length, true);
  return info;
}

export function messageApi(world: Lunatic, self: LunaticProcess, ctx: ProcessContext, memory: GuestMemory): Record<string, HostFunction> {
  /** Copies the first matching message out, or reports why not; undefined when none is queued. */
  const take = (buffer: number, capacity: number, filter: bigint, infoPointer: number): number | undefined => {
    const message = self.mailbox.peek(filter);
    if (!message) return undefined;
    memory.write(infoPointer, messageInfo(message));
    if (message.data.length > capacity >>> 0) return -Errno.MSGSIZE;
    memory.write(buffer, message.data);
    self.mailbox.remove(message);
    return message.data.length;
  };

  return {
    send(pid: number, tag: bigint, pointer: number, length: number): number {
      if (tag <= 0n) throw new LunaticError(Errno.INVAL, 'message tags must be positive');
      if (!world.isLocal(pid)) return world.remote!.send(self.pid, pid, tag, memory.view(pointer, length)), 0;
      const receiver = world.process(pid);
      const data = memory.copy(pointer, length);
      if (!receiver.mailbox.offer({ tag, sender: self.pid, data })) throw new LunaticError(Errno.FULL, `the mailbox of process ${pid} is full`);
      return 0;
    },
    receive(buffer: number, capacity: number, filter: bigint, timeoutMs: number, infoPointer: number): number | Promise<number> {
      const now = take(buffer, capacity, filter, infoPointer);
      if (now !== undefined) return now;
      if (timeoutMs === 0) return -Errno.TIMEDOUT;
      return withDeadline((signal) => self.mailbox.arrival(filter, signal), timeoutMs, ctx.signal).then((arrived) =>
        arrived === TIMED_OUT ? -Errno.TIMEDOUT : take(buffer, capacity, filter, infoPointer)!,
      );
    },
  };
}
