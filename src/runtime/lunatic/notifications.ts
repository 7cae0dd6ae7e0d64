// The runtime's own messages: a monitored process ended (DOWN), or a linked process failed
// while the receiver traps links (LINK_DOWN). Their tags are negative, which user messages
// cannot be, so no process can forge one. Payload (12 bytes, little-endian): i32 pid,
// i32 reason, i32 exit code.
import type { ExitStatus } from '../process.js';
import type { Message } from './message-queue.js';

export const TAG_DOWN = -1n;
export const TAG_LINK_DOWN = -2n;

/** NODE_DOWN: the process lived on another node, which died or became unreachable (distribution.ts). */
export const Reason = { EXITED: 0, CRASHED: 1, KILLED: 2, NODE_DOWN: 3 } as const;
export type ReasonCode = (typeof Reason)[keyof typeof Reason];

export function reasonOf(status: ExitStatus): ReasonCode {
  return status.trap ? Reason.CRASHED : status.killed ? Reason.KILLED : Reason.EXITED;
}

const NOTIFICATION_BYTES = 12;
/** Notification bytes are carved out of slabs: an ArrayBuffer each was a tenth of a spawn's time (one DOWN per child). */
const SLAB_NOTIFICATIONS = 1024;
let slab = new DataView(new ArrayBuffer(0));
let slabUsed = 0;

/**
 * A DOWN or LINK_DOWN message. Its bytes are made when a receive reads them: a parent that
 * spawns 100,000 children before it receives holds 100,000 of these, and one small object each
 * costs the garbage collector less than an object and a view.
 */
class Notification implements Message {
  private bytes: Uint8Array | undefined;

  constructor(
    readonly tag: bigint,
    readonly sender: number,
    private readonly reason: ReasonCode,
    private readonly code: number,
  ) {}

  get data(): Uint8Array {
    this.bytes ??= encode(this.sender, this.reason, this.code);
    return this.bytes;
  }
}

function encode(pid: number, reason: ReasonCode, code: number): Uint8Array {
  if (slabUsed === slab.byteLength) {
    slab = new DataView(new ArrayBuffer(NOTIFICATION_BYTES * SLAB_NOTIFICATIONS));
    slabUsed = 0;
  }
  const at = slabUsed;
  slabUsed += NOTIFICATION_BYTES;
  slab.setInt32(at, pid, true);
  slab.setInt32(at + 4, reason, true);
  slab.setInt32(at + 8, code, true);
  return new Uint8Array(slab.buffer, at, NOTIFICATION_BYTES);
}

/** A DOWN or LINK_DOWN message about `pid` (ended here, or on another node). */
export function notificationOf(tag: bigint, pid: number, reason: ReasonCode, code: number): Message {
  return new Notification(tag, pid, reason, code);
}
