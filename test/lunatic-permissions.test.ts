// Permissions of lunatic processes as plain data: host:port patterns, narrowing that never
// widens, and the first process's permissions from an embedder's grants (the `run` flags).
import { describe, expect, it } from 'vitest';
import { Errno, grantedPermissions, LunaticError } from '../src/runtime/lunatic/index.js';
import { endpointAllowed, narrowDirs, narrowLimit, narrowPatterns } from '../src/runtime/lunatic/permissions.js';

const errnoOf = (action: () => unknown) => {
  try {
    action();
  } catch (error) {
    if (error instanceof LunaticError) return error.errno;
    throw error;
  }
  return undefined;
};

describe('host:port patterns', () => {
  it('match exact hosts and ports, and * for either', () => {
    expect(endpointAllowed(['127.0.0.1:8080'], '127.0.0.1', 8080)).toBe(true);
    expect(endpointAllowed(['127.0.0.1:8080'], '127.0.0.1', 8081)).toBe(false);
    expect(endpointAllowed(['127.0.0.1:8080'], '127.0.0.2', 8080)).toBe(false);
    expect(endpointAllowed(['127.0.0.1:*'], '127.0.0.1', 1)).toBe(true);
    expect(endpointAllowed(['*:443'], 'example.org', 443)).toBe(true);
    expect(endpointAllowed(['127.0.0.1:0'], '127.0.0.1', 0)).toBe(true);
    expect(endpointAllowed(['127.0.0.1:0'], '127.0.0.1', 5000)).toBe(false);
    expect(endpointAllowed(['[::1]:*'], '[::1]', 22)).toBe(true);
    expect(endpointAllowed([], '127.0.0.1', 80)).toBe(false);
  });

  it('a child list must lie within the parent list', () => {
    expect(narrowPatterns(['127.0.0.1:*'], ['127.0.0.1:80', '127.0.0.1:0'])).toEqual(['127.0.0.1:80', '127.0.0.1:0']);
    expect(narrowPatterns(['127.0.0.1:*'], [])).toEqual([]);
    expect(errnoOf(() => narrowPatterns(['127.0.0.1:80'], ['127.0.0.1:*']))).toBe(Errno.PERM);
    expect(errnoOf(() => narrowPatterns(['127.0.0.1:*'], ['*:80']))).toBe(Errno.PERM);
    expect(errnoOf(() => narrowPatterns(['*:*'], ['not a pattern']))).toBe(Errno.INVAL);
  });

  it('limits and directories only narrow', () => {
    expect(narrowLimit(undefined, 10, 'x')).toBe(10);
    expect(narrowLimit(10, 10, 'x')).toBe(10);
    expect(errnoOf(() => narrowLimit(10, 11, 'x'))).toBe(Errno.PERM);
    expect(errnoOf(() => narrowLimit(10, -1, 'x'))).toBe(Errno.INVAL);
    expect(narrowDirs({ '/data': '/srv/data', '/tmp': '/tmp/x' }, ['/data'])).toEqual({ '/data': '/srv/data' });
    expect(errnoOf(() => narrowDirs({ '/data': '/srv/data' }, ['/etc']))).toBe(Errno.PERM);
  });
});

describe('grantedPermissions (the run flags)', () => {
  it('splits comma lists, defaults to spawning allowed and no network', () => {
    expect(grantedPermissions({ listen: ['127.0.0.1:0,127.0.0.1:8080'], connect: ['*:443'] })).toEqual({
      canSpawn: true,
      listen: ['127.0.0.1:0', '127.0.0.1:8080'],
      connect: ['*:443'],
      dirs: {},
      maxMemoryPages: undefined,
      maxReductions: undefined,
      mailboxCapacity: 1024,
    });
    expect(grantedPermissions({ spawn: false, maxMemoryPages: 16, mailboxCapacity: 8 })).toMatchObject({
      canSpawn: false,
      listen: [],
      connect: [],
      maxMemoryPages: 16,
      mailboxCapacity: 8,
    });
  });

  it('refuses a malformed pattern or limit, naming it', () => {
    expect(() => grantedPermissions({ listen: ['127.0.0.1'] })).toThrow(/"127.0.0.1" is not a host:port pattern/);
    expect(() => grantedPermissions({ connect: ['127.0.0.1:99999'] })).toThrow(/"127.0.0.1:99999"/);
    expect(() => grantedPermissions({ maxReductions: 1.5 })).toThrow(/max reductions must be a whole number/);
  });
});
