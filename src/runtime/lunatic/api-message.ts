// lunatic host API, messages: send a tagged byte buffer to a pid (FULL when its mailbox is at
// its bound of messages or of bytes), receive into the caller's memory with an optional tag
// filter (selective receive) and timeout. A message larger than the buffer stays queued; the
// caller learns its size. A receive that must wait parks the process on a Pending that the
// mailbox settles when a message is handed to it (src/runtime/lunatic/mailbox.ts). While the
// process hibernates nothing is handed over: the message is queued and the receive completes
// (copies) when the process is back in an instance (a Later).
import { hibernatable, Later, Pending } from '../pending.js';
import { after } from '../timers.js';
import { Errno, LunaticError } from './errno.js';
import { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import type { Receiver } from './mailbox.js';

/** Writes the message info struct, when the caller asked for it. */
function writeInfo(memory: GuestMemory, infoPointer: number, tag: bigint, sender: number, size: number): void {
  if (infoPointer !== 0) memory.writeMessageInfo(infoPointer, tag, sender, size);
}

/** Copies the first message matching `filter` out, or reports why not; undefined when none is queued. */
function take(
  self: LunaticProcess,
  memory: GuestMemory,
  buffer: number,
  capacity: number,
  filter: bigint,
  infoPointer: number,
): number | undefined {
  const { mailbox } = self;
  const position = mailbox.find(filter);
  if (position < 0) return undefined;
  const length = mailbox.lengthAt(position);
  if (infoPointer !== 0) memory.writeMessageInfo(infoPointer, mailbox.tagAt(position), mailbox.senderAt(position), length);
  if (length > capacity >>> 0) return -Errno.MSGSIZE;
  mailbox.copyData(position, memory, buffer);
  mailbox.remove(position);
  return length;
}

/** The receive a process waits in: one per process, made on its first wait, so a wait allocates only its Pending. */
export class ReceiveWait implements Receiver {
  filter = 0n;
  private buffer = 0;
  private capacity = 0;
  private info = 0;
  /** The memory of the instance the process waited in. */
  private memory: GuestMemory | undefined;
  private pending: Pending<number | Later<number>> | undefined;
  private cancelTimer: (() => void) | undefined;

  /** A wait's cleanup, made once: a receive allocates only its Pending. */
  private readonly stopWaiting = () => this.stop();

  constructor(private readonly self: LunaticProcess) {}

  /** Parks the caller until a matching message arrives or the timeout passes. */
  start(
    memory: GuestMemory,
    buffer: number,
    capacity: number,
    filter: bigint,
    timeoutMs: number,
    info: number,
  ): Pending<number | Later<number>> {
    memory.view(buffer, capacity); // a bad buffer is INVAL now, not when a message arrives
    this.memory = memory;
    this.buffer = buffer;
    this.capacity = capacity;
    this.info = info;
    this.filter = filter;
    const pending = hibernatable(new Pending<number | Later<number>>(this.stopWaiting));
    this.pending = pending;
    this.self.mailbox.wait(this);
    if (timeoutMs > 0) {
      this.cancelTimer = after(timeoutMs, () => {
        this.self.mailbox.wait(undefined);
        this.cancelTimer = undefined;
        this.settle(-Errno.TIMEDOUT);
      });
    }
    return pending;
  }

  take(tag: bigint, sender: number, data: Uint8Array): boolean {
    // hibernating: no memory to copy into; the message is queued and `tooLarge` completes later
    if (this.self.core.isHibernating || data.length > this.capacity >>> 0) return false;
    writeInfo(this.memory!, this.info, tag, sender, data.length);
    this.memory!.write(this.buffer, data);
    this.settle(data.length);
    return true;
  }

  tooLarge(): void {
    const { self, buffer, capacity, filter, info } = this;
    if (!self.core.isHibernating) {
      this.settle(take(self, this.memory!, buffer, capacity, filter, info)!);
      return;
    }
    this.settle(new Later(() => take(self, new GuestMemory(self.memory!), buffer, capacity, filter, info)!));
  }

  private settle(result: number | Later<number>): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const waiting = this.pending;
    this.pending = undefined;
    this.memory = undefined;
    waiting?.resolve(result);
  }

  private stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.pending = undefined;
    this.memory = undefined;
    this.self.mailbox.wait(undefined);
  }
}

export function messageApi(world: Lunatic, tenant: () => LunaticProcess, memory: GuestMemory) {
  return {
    send(pid: number, tag: bigint, pointer: number, length: number): number {
      if (tag <= 0n) throw new LunaticError(Errno.INVAL, 'message tags must be positive');
      const self = tenant();
      if (!world.isLocal(pid)) {
        const code = world.elsewhere(pid).send(self.pid, pid, tag, memory.view(pointer, length));
        return typeof code === 'number' ? code : 0;
      }
      const receiver = world.process(pid);
      const code = receiver.mailbox.send(tag, self.pid, memory.view(pointer, length));
      if (code < 0) throw new LunaticError(Errno.FULL, `the mailbox of process ${pid} is full`);
      return 0;
    },
    receive(
      buffer: number,
      capacity: number,
      filter: bigint,
      timeoutMs: number,
      infoPointer: number,
    ): number | Pending<number | Later<number>> {
      const self = tenant();
      const now = take(self, memory, buffer, capacity, filter, infoPointer);
      if (now !== undefined) return now;
      if (timeoutMs === 0) return -Errno.TIMEDOUT;
      self.receiving ??= new ReceiveWait(self);
      return self.receiving.start(memory, buffer, capacity, filter, timeoutMs, infoPointer);
    },
  };
}
