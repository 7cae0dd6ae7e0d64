// SO_REUSEPORT inside one JS thread, for the worlds joined as threads (threads.ts): Node 20 cannot
// bind one address twice, so the listeners of a shared address here are one real loopback
// listener whose connections are dealt to them in turn, as the kernel spreads them over the
// sockets of a port. Records which listener (in the order they listened) got each connection.
import { ConnectionQueue } from '../../src/runtime/threads/listener-proxy.js';
import type { Connection, Listener, ListenOptions, Network } from '../../src/runtime/lunatic/network.js';
import { NodeNetwork } from '../../src/runtime/node/net.js';

class Dealer {
  private readonly queues: ConnectionQueue[] = [];
  private next = 0;
  private readonly stop = new AbortController();

  constructor(
    private readonly real: Listener,
    private readonly dealt: Map<Connection, number>,
  ) {
    this.pump();
  }

  /** One more listener at the address. */
  add(): Listener {
    const queue = new ConnectionQueue();
    this.queues.push(queue);
    return {
      port: this.real.port,
      accept: (signal) => queue.take(signal),
      close: () => {
        queue.close();
        if (this.queues.every((each) => each.closed)) {
          this.stop.abort();
          this.real.close();
        }
      },
    };
  }

  private pump(): void {
    this.real.accept(this.stop.signal).then(
      (connection) => {
        const open = this.queues.map((queue, index) => ({ queue, index })).filter(({ queue }) => !queue.closed);
        const { queue, index } = open[this.next++ % open.length]!;
        this.dealt.set(connection, index);
        queue.arrived(connection);
        this.pump();
      },
      () => {},
    );
  }
}

export class SharingNetwork implements Network {
  readonly sharesListeners = true;
  /** Each connection accepted at a shared address, with the listener that got it (0: the first to listen). */
  readonly dealt = new Map<Connection, number>();
  private readonly inner = new NodeNetwork();
  private readonly dealers = new Map<number, Dealer>();

  async listen(host: string, port: number, options: ListenOptions = {}): Promise<Listener> {
    if (!options.shared) return this.inner.listen(host, port);
    const dealer = this.dealers.get(port);
    if (dealer) return dealer.add();
    const real = await this.inner.listen(host, port);
    const made = new Dealer(real, this.dealt);
    this.dealers.set(real.port, made);
    return made.add();
  }

  connect(host: string, port: number, signal: AbortSignal): Promise<Connection> {
    return this.inner.connect(host, port, signal);
  }
}
