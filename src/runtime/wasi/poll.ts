// poll_oneoff: waits until a clock subscription is due or a descriptor is ready, without holding
// up the other processes. Clocks become ctx.sleep, stdin waits on InputStream.readable(); files
// and output streams are always ready. Readiness is computed again after every wake-up, so a
// timer that fires a little early just waits for the rest.
import { EVENT, EventRwFlags, EventType, SUBSCRIPTION, SubclockFlags } from './abi.js';
import { readClock } from './calls-process.js';
import { Errno, WasiError } from './errno.js';
import type { InputStream } from '../types.js';
import type { WasiCalls, WasiState } from './state.js';
import { wait } from './steps.js';

interface Subscription {
  userdata: bigint;
  type: number;
  fd: number;
  /** Clock subscriptions: when they are due, on the monotonic clock. */
  deadline: bigint;
}

interface Event {
  userdata: bigint;
  type: number;
  error: number;
  nbytes: bigint;
  flags: number;
}

const NS_PER_MS = 1_000_000n;

export function pollCalls(state: WasiState): WasiCalls {
  const { memory } = state;
  /** Input streams seen at their end: they stay readable (hang-up) from then on. */
  const ended = new WeakSet<InputStream>();

  function readSubscriptions(pointer: number, count: number): Subscription[] {
    const subscriptions: Subscription[] = [];
    for (let i = 0; i < count; i++) {
      const at = (pointer >>> 0) + i * SUBSCRIPTION.size;
      const userdata = memory.u64(at + SUBSCRIPTION.userdata);
      const type = memory.u8(at + SUBSCRIPTION.tag);
      const subscription = { userdata, type, fd: memory.u32(at + SUBSCRIPTION.fd), deadline: 0n };
      if (type === EventType.CLOCK) {
        const timeout = memory.u64(at + SUBSCRIPTION.timeout);
        const absolute = (memory.u16(at + SUBSCRIPTION.flags) & SubclockFlags.ABSTIME) !== 0;
        const remaining = absolute ? timeout - readClock(state, memory.u32(at + SUBSCRIPTION.clockId)) : timeout;
        subscription.deadline = state.clock.monotonic() + remaining;
      } else if (type !== EventType.FD_READ && type !== EventType.FD_WRITE) {
        throw new WasiError(Errno.INVAL, `unknown subscription type ${type}`);
      }
      subscriptions.push(subscription);
    }
    return subscriptions;
  }

  /** The event for `subscription` if it has happened. */
  function eventOf(subscription: Subscription, now: bigint): Event | undefined {
    const { userdata, type } = subscription;
    const event = { userdata, type, error: Errno.SUCCESS, nbytes: 0n, flags: 0 };
    if (type === EventType.CLOCK) return subscription.deadline <= now ? event : undefined;
    let descriptor;
    try {
      descriptor = state.fds.get(subscription.fd);
    } catch {
      return { ...event, error: Errno.BADF };
    }
    const wanted = type === EventType.FD_READ ? ['input', 'file'] : ['output', 'file'];
    if (!wanted.includes(descriptor.type)) return { ...event, error: Errno.BADF };
    if (descriptor.type !== 'input') return event;
    if (descriptor.stream.buffered > 0) return { ...event, nbytes: BigInt(descriptor.stream.buffered) };
    return ended.has(descriptor.stream) ? { ...event, flags: EventRwFlags.HANGUP } : undefined;
  }

  /** Resolves at the earliest due clock or when a polled stream becomes readable. */
  function wakeUp(subscriptions: Subscription[], now: bigint): Promise<unknown> {
    const wakers: Promise<unknown>[] = [];
    const clocks = subscriptions.filter((s) => s.type === EventType.CLOCK);
    if (clocks.length > 0) {
      const earliest = clocks.reduce((a, b) => (a.deadline < b.deadline ? a : b)).deadline;
      const ms = Number((earliest - now + NS_PER_MS - 1n) / NS_PER_MS);
      wakers.push(state.ctx.sleep(Math.max(ms, 1)));
    }
    for (const subscription of subscriptions) {
      if (subscription.type !== EventType.FD_READ) continue;
      const descriptor = state.fds.get(subscription.fd);
      if (descriptor.type !== 'input') continue;
      const stream = descriptor.stream;
      wakers.push(stream.readable().then(() => stream.buffered === 0 && ended.add(stream)));
    }
    return Promise.race(wakers);
  }

  function writeEvents(pointer: number, events: Event[]): void {
    events.forEach((event, i) => {
      const at = (pointer >>> 0) + i * EVENT.size;
      memory.clear(at, EVENT.size);
      memory.setU64(at + EVENT.userdata, event.userdata);
      memory.setU16(at + EVENT.error, event.error);
      memory.setU8(at + EVENT.type, event.type);
      memory.setU64(at + EVENT.nbytes, event.nbytes);
      memory.setU16(at + EVENT.flags, event.flags);
    });
  }

  return {
    *poll_oneoff(inPointer: number, outPointer: number, count: number, eventCountPointer: number) {
      if (count >>> 0 === 0) throw new WasiError(Errno.INVAL, 'poll_oneoff without subscriptions');
      const subscriptions = readSubscriptions(inPointer, count >>> 0);
      memory.bytes(outPointer, (count >>> 0) * EVENT.size); // fail now (EFAULT) rather than after waiting
      for (;;) {
        const now = state.clock.monotonic();
        const events = subscriptions.flatMap((subscription) => eventOf(subscription, now) ?? []);
        if (events.length > 0) {
          writeEvents(outPointer, events);
          memory.setU32(eventCountPointer, events.length);
          return Errno.SUCCESS;
        }
        yield* wait(wakeUp(subscriptions, now));
      }
    },
  };
}
