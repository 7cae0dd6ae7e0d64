// What a process may do: spawn, listen/connect (host:port patterns), which directories it
// sees, its memory and reduction limits and its mailbox size. A child gets its parent's
// permissions or narrower ones; every narrowing step checks that nothing widens.
import { Errno, LunaticError } from './errno.js';

export interface Permissions {
  canSpawn: boolean;
  /** `host:port` patterns the process may listen on; `*` matches any host or any port. */
  listen: readonly string[];
  /** `host:port` patterns the process may connect to. */
  connect: readonly string[];
  /** Preopened directories: guest path -> host path. */
  dirs: Readonly<Record<string, string>>;
  /** Most pages of linear memory the program may use (undefined: no limit). */
  maxMemoryPages?: number;
  /** Most reductions the process may spend in its whole life (undefined: no limit). */
  maxReductions?: number;
  /** Most messages waiting in the mailbox; senders get FULL beyond it. */
  mailboxCapacity: number;
}

export const DEFAULT_MAILBOX_CAPACITY = 1024;

/** Nothing but compute and messages: the default of an embedder that grants nothing. */
export const NO_PERMISSIONS: Permissions = {
  canSpawn: false,
  listen: [],
  connect: [],
  dirs: {},
  mailboxCapacity: DEFAULT_MAILBOX_CAPACITY,
};

interface Endpoint {
  host: string;
  port: string;
}

const PATTERN = /^(\*|[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(\*|\d{1,5})$/;

/** Parses `host:port` (either may be `*`); throws a LunaticError(INVAL) naming the pattern. */
export function parseEndpointPattern(pattern: string): Endpoint {
  const match = PATTERN.exec(pattern.trim());
  if (!match || (match[2] !== '*' && Number(match[2]) > 65535)) {
    throw new LunaticError(Errno.INVAL, `"${pattern}" is not a host:port pattern (e.g. 127.0.0.1:8080, 127.0.0.1:*, 127.0.0.1:0)`);
  }
  return { host: match[1]!.toLowerCase(), port: match[2]! };
}

function covers(outer: Endpoint, inner: Endpoint): boolean {
  return (outer.host === '*' || outer.host === inner.host) && (outer.port === '*' || outer.port === inner.port);
}

/** Whether `host:port` is allowed by one of the patterns. */
export function endpointAllowed(patterns: readonly string[], host: string, port: number): boolean {
  const wanted = { host: host.toLowerCase(), port: String(port) };
  return patterns.some((pattern) => covers(parseEndpointPattern(pattern), wanted));
}

/** The child's pattern list, each of which must lie within one of the parent's. */
export function narrowPatterns(parent: readonly string[], child: readonly string[]): string[] {
  const allowed = parent.map(parseEndpointPattern);
  for (const pattern of child) {
    const endpoint = parseEndpointPattern(pattern);
    if (!allowed.some((outer) => covers(outer, endpoint)))
      throw new LunaticError(Errno.PERM, `"${pattern}" is wider than the parent's permissions`);
  }
  return [...child];
}

/** Keeps only the listed guest directories, each of which the parent must have. */
export function narrowDirs(parent: Readonly<Record<string, string>>, guests: readonly string[]): Record<string, string> {
  const dirs: Record<string, string> = {};
  for (const guest of guests) {
    const host = parent[guest];
    if (host === undefined) throw new LunaticError(Errno.PERM, `the parent has no directory "${guest}" to pass on`);
    dirs[guest] = host;
  }
  return dirs;
}

/** A limit may only go down: `requested` must not exceed `current` (undefined = unlimited). */
export function narrowLimit(current: number | undefined, requested: number, what: string): number {
  if (!Number.isSafeInteger(requested) || requested < 0) throw new LunaticError(Errno.INVAL, `${what} must be a whole number >= 0`);
  if (current !== undefined && requested > current)
    throw new LunaticError(Errno.PERM, `${what} ${requested} is above the parent's ${current}`);
  return requested;
}

/** What an embedder (the `run` command's flags) grants the first process. */
export interface Grants {
  /** host:port patterns (each may be a comma-separated list). */
  listen?: readonly string[];
  connect?: readonly string[];
  /** May the process spawn (default true)? */
  spawn?: boolean;
  dirs?: Readonly<Record<string, string>>;
  maxMemoryPages?: number;
  maxReductions?: number;
  mailboxCapacity?: number;
}

/** The first process's permissions; a malformed pattern or limit throws a LunaticError naming it. */
export function grantedPermissions(grants: Grants): Permissions {
  const patterns = (what: string, lists: readonly string[] = []) => {
    const all = lists
      .flatMap((list) => list.split(','))
      .map((pattern) => pattern.trim())
      .filter(Boolean);
    for (const pattern of all) {
      try {
        parseEndpointPattern(pattern);
      } catch (error) {
        throw new LunaticError(Errno.INVAL, `${what} pattern ${(error as Error).message}`);
      }
    }
    return all;
  };
  const limit = (value: number | undefined, what: string) => (value === undefined ? undefined : narrowLimit(undefined, value, what));
  return {
    canSpawn: grants.spawn ?? true,
    listen: patterns('listen', grants.listen),
    connect: patterns('connect', grants.connect),
    dirs: { ...grants.dirs },
    maxMemoryPages: limit(grants.maxMemoryPages, 'max memory pages'),
    maxReductions: limit(grants.maxReductions, 'max reductions'),
    mailboxCapacity: limit(grants.mailboxCapacity, 'mailbox capacity') ?? DEFAULT_MAILBOX_CAPACITY,
  };
}
