// The protocol-neutral pieces of distribution, in process: what a remotely spawned process may
// do (narrowForRemote never widens either side), the name registry of a node, and the pid
// layout (node index in bits 23..30), and the claim of a node name or index against rivals
// joining at the same instant (over an in-memory transport).
import { describe, expect, it } from 'vitest';
import { claim, narrowForRemote, type Transport } from '../src/runtime/lunatic/distribution.js';
import { Errno, grantedPermissions, LOCAL_PID_LIMIT, NODE_SHIFT, nodeIndexOf } from '../src/runtime/lunatic/index.js';
import { Registry } from '../src/runtime/lunatic/registry.js';

describe('narrowForRemote', () => {
  const node = grantedPermissions({
    listen: ['127.0.0.1:*'],
    connect: ['127.0.0.1:8080'],
    dirs: { '/data': '/srv/data' },
    maxMemoryPages: 100,
    mailboxCapacity: 50,
  });

  it('keeps what both grant and drops the rest; limits take the lower value', () => {
    const asked = grantedPermissions({
      listen: ['127.0.0.1:9000', '0.0.0.0:80', '*:*'],
      connect: ['127.0.0.1:8080', '127.0.0.1:9090'],
      dirs: { '/data': '/home/x', '/tmp': '/tmp' },
      maxReductions: 1000,
      mailboxCapacity: 500,
    });
    expect(narrowForRemote(node, asked)).toEqual({
      canSpawn: true,
      listen: ['127.0.0.1:9000'],
      connect: ['127.0.0.1:8080'],
      dirs: { '/data': '/srv/data' }, // the node's own host path, never the spawner's
      maxMemoryPages: 100,
      maxReductions: 1000,
      mailboxCapacity: 50,
    });
  });

  it('a node that denies spawning, or a spawner that does, gives a child that cannot spawn', () => {
    const closed = grantedPermissions({ spawn: false });
    expect(narrowForRemote(closed, grantedPermissions({})).canSpawn).toBe(false);
    expect(narrowForRemote(grantedPermissions({}), closed).canSpawn).toBe(false);
  });

  it('a wildcard pattern survives only when the node grants the same pattern', () => {
    expect(narrowForRemote(node, grantedPermissions({ listen: ['127.0.0.1:*'] })).listen).toEqual(['127.0.0.1:*']);
    expect(
      narrowForRemote(grantedPermissions({ listen: ['127.0.0.1:80'] }), grantedPermissions({ listen: ['127.0.0.1:*'] })).listen,
    ).toEqual([]);
  });
});

describe('Registry', () => {
  it('one process per name; names go with their process', () => {
    const registry = new Registry();
    registry.register(5, 'db');
    registry.register(5, 'db.primary');
    expect(() => registry.register(6, 'db')).toThrow(expect.objectContaining({ errno: Errno.EXIST }));
    expect(() => registry.register(6, 'bad name')).toThrow(expect.objectContaining({ errno: Errno.INVAL }));
    expect(registry.unregister(6, 'db')).toBe(false);
    expect(registry.namesOf(5)).toEqual(['db', 'db.primary']);
    registry.forget(5);
    expect(registry.whereis('db')).toBeUndefined();
    registry.register(6, 'db');
    expect(registry.whereis('db')).toBe(6);
  });
});

describe('pid layout', () => {
  it('the node index sits in bits 23..30, so every pid stays a positive int32', () => {
    expect(NODE_SHIFT).toBe(23);
    const pid = (255 << NODE_SHIFT) + (LOCAL_PID_LIMIT - 1);
    expect(pid).toBe(0x7fffffff);
    expect(nodeIndexOf(pid)).toBe(255);
    expect(nodeIndexOf((3 << NODE_SHIFT) + 42)).toBe(3);
    expect(nodeIndexOf(42)).toBe(0);
  });
});

/** An in-process stand-in for NATS: subjects, request/reply, gather; delivery on a later macrotask like a socket. */
class MemoryBus {
  private readonly subscribers = new Map<string, Set<(data: Uint8Array, respond?: (reply: Uint8Array) => void) => void>>();

  transport(): Transport {
    const later = () => new Promise<void>((resolve) => setTimeout(resolve, 1));
    const handlers = (subject: string) => [...(this.subscribers.get(subject) ?? [])];
    return {
      maxPayload: 1 << 20,
      publish: (subject, data) =>
        void later().then(() => {
          for (const handler of handlers(subject)) handler(data);
        }),
      request: async (subject, data) => {
        await later();
        const replies: Uint8Array[] = [];
        for (const handler of handlers(subject)) handler(data, (reply) => replies.push(reply));
        return replies[0];
      },
      gather: async (subject, data, windowMs) => {
        const replies: Uint8Array[] = [];
        await later();
        for (const handler of handlers(subject)) handler(data, (reply) => replies.push(reply));
        await new Promise((resolve) => setTimeout(resolve, windowMs));
        return replies;
      },
      subscribe: (subject, handler) => {
        if (!this.subscribers.has(subject)) this.subscribers.set(subject, new Set());
        this.subscribers.get(subject)!.add(handler);
        return () => this.subscribers.get(subject)!.delete(handler);
      },
      flush: later,
      onConnectionLost: () => {},
      close: async () => {},
    };
  }
}

describe('claim (node names and indexes)', () => {
  it('of claimants at the same instant exactly one wins; a later one loses to the holder', async () => {
    const bus = new MemoryBus();
    const results = await Promise.all([0, 1, 2, 3, 4].map(() => claim(bus.transport(), 'lunatic.claim.index.1')));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await claim(bus.transport(), 'lunatic.claim.index.1')).toBeUndefined();
    expect(await claim(bus.transport(), 'lunatic.claim.index.2')).toBeTypeOf('function');
  });
});
