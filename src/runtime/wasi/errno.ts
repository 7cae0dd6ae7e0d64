// WASI preview1 error numbers (wasi-libc's <wasi/api.h>, generated from the witx) and the one
// error type of the WASI layer: thrown by the call implementations and by the file systems
// behind them, and turned into the errno that wasm gets back by the guard in index.ts.

export const Errno = {
  SUCCESS: 0,
  TOOBIG: 1,
  ACCES: 2,
  AGAIN: 6,
  BADF: 8,
  BUSY: 10,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  ILSEQ: 25,
  INVAL: 28,
  IO: 29,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSUP: 58,
  OVERFLOW: 61,
  PERM: 63,
  PIPE: 64,
  ROFS: 69,
  SPIPE: 70,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const;

export type ErrnoCode = (typeof Errno)[keyof typeof Errno];

/** A failed WASI call: `errno` is what the program sees. */
export class WasiError extends Error {
  constructor(
    readonly errno: ErrnoCode,
    message = `WASI errno ${errno}`,
  ) {
    super(message);
    this.name = 'WasiError';
  }
}
