// The NATS transport of distribution (src/runtime/lunatic/distribution.ts) and `joinNatsCluster`,
// the one call an embedder needs. The client (`@nats-io/transport-node`) is imported lazily, so
// a node without a cluster never loads it. Connection failures become one line (ClusterError).
import type { NatsConnection } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import { Cluster, ClusterError, type ClusterOptions, type Transport } from '../lunatic/distribution.js';
import type { Lunatic } from '../lunatic/lunatic.js';

export interface NatsOptions {
  /** Server URL(s), e.g. nats://127.0.0.1:4222. */
  servers: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** TLS: CA, client certificate and key files (PEM), passed through to the client. */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

class NatsTransport implements Transport {
  constructor(private readonly connection: NatsConnection) {}

  get maxPayload(): number {
    return this.connection.info?.max_payload ?? 1024 * 1024;
  }

  publish(subject: string, data: Uint8Array): void {
    this.connection.publish(subject, data);
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array | undefined> {
    try {
      return (await this.connection.request(subject, data, { timeout: timeoutMs })).data;
    } catch (error) {
      if ((error as { isNoResponders?: () => boolean }).isNoResponders?.()) return undefined;
      throw error;
    }
  }

  subscribe(subject: string, handler: (data: Uint8Array, respond?: (reply: Uint8Array) => void) => void): () => void {
    const subscription = this.connection.subscribe(subject, {
      callback: (error, message) => {
        if (error) return;
        try {
          handler(message.data, message.reply ? (reply) => message.respond(reply) : undefined);
        } catch {
          // A malformed packet (any client of the server can publish): dropped, the node lives on.
        }
      },
    });
    return () => subscription.unsubscribe();
  }

  async gather(subject: string, data: Uint8Array, windowMs: number): Promise<Uint8Array[]> {
    const inbox = `_INBOX.${crypto.randomUUID().replaceAll('-', '')}`;
    const replies: Uint8Array[] = [];
    const subscription = this.connection.subscribe(inbox, { callback: (error, message) => void (error || replies.push(message.data)) });
    this.connection.publish(subject, data, { reply: inbox });
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    subscription.unsubscribe();
    return replies;
  }

  flush(): Promise<void> {
    return this.connection.flush();
  }

  onConnectionLost(listener: () => void): void {
    void (async () => {
      for await (const status of this.connection.status()) if (status.type === 'disconnect') listener();
    })();
    void this.connection.closed().then(listener);
  }

  async close(): Promise<void> {
    await this.connection.drain().catch(() => this.connection.close());
  }
}

function readPem(file: string | undefined, what: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ClusterError(`${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Connects to NATS, or throws a ClusterError naming the server and what went wrong. */
export async function connectNats(options: NatsOptions): Promise<Transport> {
  const { connect } = await import('@nats-io/transport-node');
  const ca = readPem(options.tlsCa, '--nats-tls-ca');
  const cert = readPem(options.tlsCert, '--nats-tls-cert');
  const key = readPem(options.tlsKey, '--nats-tls-key');
  const tls = ca || cert || key ? { ca, cert, key } : undefined;
  const servers = options.servers;
  try {
    const connection = await connect({
      servers,
      user: options.user,
      pass: options.pass,
      token: options.token,
      tls,
      name: 'lunatic-instrument',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
    });
    return new NatsTransport(connection);
  } catch (error) {
    const reason = (error as Error).message;
    const what = /authoriz|authentic/i.test(reason)
      ? `refused the credentials (${reason}): check --nats-user/--nats-pass or --nats-token`
      : /certificate|tls|ssl/i.test(reason)
        ? `failed the TLS handshake (${reason}): check --nats-tls-ca/--nats-tls-cert/--nats-tls-key`
        : `cannot be reached (${reason})`;
    throw new ClusterError(`NATS server ${[servers].flat().join(',')} ${what}`);
  }
}

/** Connects to NATS and joins `world` to the cluster as `cluster.node` (before its first process starts). */
export async function joinNatsCluster(world: Lunatic, nats: NatsOptions, cluster: ClusterOptions): Promise<Cluster> {
  const transport = await connectNats(nats);
  try {
    return await Cluster.join(world, transport, cluster);
  } catch (error) {
    await transport.close();
    throw error;
  }
}
