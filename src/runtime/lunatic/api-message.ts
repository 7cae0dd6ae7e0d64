// lunatic host API, messages: send a tagged byte buffer to a pid (FULL when its mailbox is at
// its bound of messages or of bytes), receive into the caller's memory with an optional tag
// filter (selective receive) and timeout. A message larger than the buffer stays queued; the
// caller learns its size. A receive that must wait parks the process on a Pending that the
// mailbox settles when a message is handed to it (src/runtime/lunatic/mailbox.ts).
import { Pending } from '../pending.js';
import { after } from '../timers.js';
import type { HostFunction } from '../types.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import type { Receiver } from './mailbox.js';

export function messageApi(world: Lunatic, self: LunaticProcess, memory: GuestMemory): Record<string, HostFunction> {
  const writeInfo = (infoPointer: number, tag: bigint, sender: number, size: number) => {
    if (infoPointer !== 0) memory.writeMessageInfo(infoPointer, tag, sender, size);
  };

  /** Copies the first matching message out, or reports why not; undefined when none is queued. */
  const take = (buffer: number, capacity: number, filter: bigint, infoPointer: number): number | undefined => {
    const message = self.mailbox.peek(filter);
    if (!message) return undefined;
    writeInfo(infoPointer, message.tag, message.sender, message.data.length);
    if (message.data.length > capacity >>> 0) return -Errno.MSGSIZE;
    memory.write(buffer, message.data);
    self.mailbox.remove(message);
    return message.data.length;
  };

  // The receive in progress: one per process, so a wait allocates only its Pending.
  let wantedBuffer = 0;
  let wantedCapacity = 0;
  let wantedInfo = 0;
  let pending: Pending<number> | undefined;
  let cancelTimer: (() => void) | undefined;
  const settle = (result: number) => {
    cancelTimer?.();
    cancelTimer = undefined;
    const waiting = pending;
    pending = undefined;
    waiting?.resolve(result);
  };
  const receiver: Receiver = {
    filter: 0n,
    take(tag, sender, data) {
      if (data.length > wantedCapacity >>> 0) return false;
      writeInfo(wantedInfo, tag, sender, data.length);
      memory.write(wantedBuffer, data);
      settle(data.length);
      return true;
    },
    tooLarge() {
      settle(take(wantedBuffer, wantedCapacity, receiver.filter, wantedInfo)!);
    },
  };
  const stopWaiting = () => {
    cancelTimer?.();
    cancelTimer = undefined;
    pending = undefined;
    self.mailbox.wait(undefined);
  };

  /** Parks the caller until a matching message arrives or the timeout passes. */
  const waitFor = (buffer: number, capacity: number, filter: bigint, timeoutMs: number, infoPointer: number): Pending<number> => {
    memory.view(buffer, capacity); // a bad buffer is INVAL now, not when a message arrives
    wantedBuffer = buffer;
    wantedCapacity = capacity;
    wantedInfo = infoPointer;
    receiver.filter = filter;
    pending = new Pending<number>(stopWaiting);
    self.mailbox.wait(receiver);
    if (timeoutMs > 0) {
      cancelTimer = after(timeoutMs, () => {
        self.mailbox.wait(undefined);
        cancelTimer = undefined;
        settle(-Errno.TIMEDOUT);
      });
    }
    return pending;
  };

  return {
    send(pid: number, tag: bigint, pointer: number, length: number): number {
      if (tag <= 0n) throw new LunaticError(Errno.INVAL, 'message tags must be positive');
      if (!world.isLocal(pid)) {
        const code = world.elsewhere(pid).send(self.pid, pid, tag, memory.view(pointer, length));
        return typeof code === 'number' ? code : 0;
      }
      const receiver = world.process(pid);
      const code = receiver.mailbox.send(tag, self.pid, memory.view(pointer, length));
      if (code < 0) throw new LunaticError(Errno.FULL, `the mailbox of process ${pid} is full`);
      return 0;
    },
    receive(buffer: number, capacity: number, filter: bigint, timeoutMs: number, infoPointer: number): number | Pending<number> {
      const now = take(buffer, capacity, filter, infoPointer);
      if (now !== undefined) return now;
      if (timeoutMs === 0) return -Errno.TIMEDOUT;
      return waitFor(buffer, capacity, filter, timeoutMs, infoPointer);
    },
  };
}
