// The network a lunatic process sees, behind a small interface: TCP listeners and connections.
// src/runtime/node/net.ts implements it on Node's `net`; a browser build can offer another
// (or none: every TCP call then fails with PERM). Failures are LunaticErrors carrying the
// error code wasm gets back (CONNREFUSED, ADDRINUSE, CLOSED, IO).

export interface Connection {
  /** Up to `max` buffered bytes at once; null at the end of the stream; undefined when nothing is buffered yet. */
  take(max: number): Uint8Array | null | undefined;
  /** Resolves when `take` would return something (data or the end of the stream). */
  readable(): Promise<void>;
  /** Queues the bytes (the caller hands them over); resolves when the socket can take more. Fails with CLOSED. */
  write(bytes: Uint8Array): void | Promise<void>;
  /** Closes the connection (idempotent); pending reads see the end of the stream. */
  close(): void;
}

export interface Listener {
  /** The port actually bound (the chosen one for port 0). */
  readonly port: number;
  /** The next incoming connection; rejects when `signal` aborts (the connection is then kept for a later accept). */
  accept(signal: AbortSignal): Promise<Connection>;
  close(): void;
}

export interface ListenOptions {
  /**
   * Other listeners of this OS process may bind the same address (SO_REUSEPORT): the kernel
   * spreads incoming connections over them (each thread of a runtime then accepts its own).
   */
  shared?: boolean;
}

export interface Network {
  /** Whether `listen` can share an address between listeners of this OS process (`ListenOptions.shared`). */
  readonly sharesListeners?: boolean;
  listen(host: string, port: number, options?: ListenOptions): Promise<Listener>;
  connect(host: string, port: number, signal: AbortSignal): Promise<Connection>;
}
