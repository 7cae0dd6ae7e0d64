// The error codes of the lunatic host API, as wasm sees them: a failed call returns the
// negated code (include/lunatic.h defines the same numbers). Host functions throw
// LunaticError; the import wrapper (guard.ts) turns it into the return value, so a denied or
// malformed call never crashes the process or the runtime.

export const Errno = {
  /** The process's configuration does not allow it. */
  PERM: 1,
  /** No such handle, a stale one, another process's one, or one of the wrong kind. */
  BADF: 2,
  /** No such process (never existed, or already ended). */
  SRCH: 3,
  /** The receiver's mailbox is full. */
  FULL: 4,
  TIMEDOUT: 5,
  /** A malformed argument: bad UTF-8, unknown entry function, negative tag, bad pattern. */
  INVAL: 6,
  /** The message is larger than the receive buffer (it stays in the mailbox). */
  MSGSIZE: 7,
  CONNREFUSED: 8,
  ADDRINUSE: 9,
  /** The connection was closed or reset by the peer. */
  CLOSED: 10,
  /** A configuration limit or the engine refused memory. */
  NOMEM: 11,
  /** Another network failure. */
  IO: 12,
  /** The name is already registered by another process (lunatic_register). */
  EXIST: 13,
} as const;

export type ErrnoCode = (typeof Errno)[keyof typeof Errno];

export class LunaticError extends Error {
  constructor(
    readonly errno: ErrnoCode,
    message: string,
  ) {
    super(message);
    this.name = 'LunaticError';
  }
}
