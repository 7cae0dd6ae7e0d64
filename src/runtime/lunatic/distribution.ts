// Distribution: this node's part of a cluster of lunatic nodes, over any publish/subscribe
// transport with request/reply (src/runtime/node/nats.ts gives NATS). It claims a unique node
// name and a node index (the high bits of its pids, remote.ts), sends heartbeats and declares a
// silent node down, carries messages, links, monitors, kills and exit notices between nodes,
// answers cluster-wide name look-ups and accepts remote spawns when allowed. No Node imports.
//
// Subjects (PREFIX = "lunatic"):
//   lunatic.node.<name>   request -> the node's index (a live node answers: the name is taken)
//   lunatic.index.<i>     request -> the node's name (the index is taken)
//   lunatic.name.<name>   request -> the pid registered under a process name
//   lunatic.claim.node.<name>, lunatic.claim.index.<i>: claims of nodes that join (claim())
//   lunatic.hb            heartbeats and goodbyes of every node
//   lunatic.<i>.msg       messages for processes of node i (binary, hot path)
//   lunatic.<i>.ctl       links, monitors, kills, exit notices (JSON)
//   lunatic.<i>.spawn     remote spawn by module hash; lunatic.<i>.module: the module's bytes
// Ordering: one connection per node and one subject for all messages to a node, so messages
// between two processes arrive in the order they were sent (NATS keeps a connection's order).
import { Errno, type ErrnoCode, LunaticError } from './errno.js';
import type { Lunatic, LunaticProcess, Program } from './lunatic.js';
import { Reason, reasonOf, type ReasonCode } from './notifications.js';
import { endpointAllowed, NO_PERMISSIONS, parseEndpointPattern, type Permissions } from './permissions.js';
import { MAX_NODES, nodeIndexOf, type RemoteNodes, type RemoteSpawn } from './remote.js';
import type { ExitStatus } from '../process.js';

/** What distribution needs from a messaging system. */
export interface Transport {
  /** The largest payload the server accepts (bounds messages and modules). */
  readonly maxPayload: number;
  publish(subject: string, data: Uint8Array): void;
  /** The reply, or undefined at once when nobody subscribes to the subject; rejects after `timeoutMs`. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array | undefined>;
  /** `respond` is given for requests. Returns the unsubscribe function. */
  subscribe(subject: string, handler: (data: Uint8Array, respond?: (reply: Uint8Array) => void) => void): () => void;
  /** Publishes a request and resolves with every reply that came within `windowMs`. */
  gather(subject: string, data: Uint8Array, windowMs: number): Promise<Uint8Array[]>;
  /** Resolves once the server has everything published so far. */
  flush(): Promise<void>;
  /** `listener` runs when the connection to the server is lost. */
  onConnectionLost(listener: () => void): void;
  close(): Promise<void>;
}

export interface ClusterOptions {
  /** This node's name: 1-64 of A-Z a-z 0-9 _ - ; unique in the cluster. */
  node: string;
  /** Accept spawns from other nodes (default false: they get PERM and no module is compiled). */
  allowRemoteSpawn?: boolean;
  /** The widest permissions a remotely spawned process gets (default NO_PERMISSIONS); the spawner's config can only narrow them. */
  remoteSpawnPermissions?: Permissions;
  /** Called for every process spawned here from another node. */
  onSpawn?: (process: LunaticProcess) => void;
  /** Heartbeat period (default 200 ms). */
  heartbeatMs?: number;
  /** A node silent this long is down (default 1000 ms): DOWN reaches monitors within about this plus one check period. */
  nodeTimeoutMs?: number;
  /** Timeout of requests to other nodes: monitor, link, spawn, whereis (default 5000 ms). */
  requestTimeoutMs?: number;
}

/** The cluster refused this node (taken name, no free index): one line for the user. */
export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

const PREFIX = 'lunatic';
const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Message header: i32 to, i32 from, i64 tag (little-endian), then the bytes. */
const MESSAGE_HEADER = 16;
const HEARTBEAT = 0;
const GOODBYE = 1;
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const text = new TextDecoder();

const json = (value: unknown) =>
  utf8.encode(JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item)));
const parse = <T>(data: Uint8Array) => JSON.parse(text.decode(data)) as T;

type Control =
  | { op: 'monitor' | 'demonitor'; watched: number; watcher: number }
  | { op: 'link' | 'unlink'; target: number; linker: number }
  | { op: 'kill'; pid: number }
  | { op: 'down' | 'linkexit'; to: number; pid: number; reason: ReasonCode; code: number };

/** A reply to a request: an error code, or the result. */
interface Reply {
  errno?: ErrnoCode;
  message?: string;
  pid?: number;
  need?: 'module';
}

interface SpawnRequest {
  hash: string;
  entry: string;
  arg: string;
  link: boolean;
  parent: number;
  permissions: Permissions;
}

interface KnownNode {
  name: string;
  lastSeen: number;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function replyError(error: unknown): Reply {
  if (error instanceof LunaticError) return { errno: error.errno, message: error.message };
  return { errno: Errno.IO, message: error instanceof Error ? error.message : String(error) };
}

/**
 * The permissions of a process spawned here for another node: what the spawner asked, kept
 * within what this node grants remote spawns (patterns and directories it lacks are dropped,
 * limits take the lower value). Never wider than either side.
 */
export function narrowForRemote(node: Permissions, asked: Permissions): Permissions {
  const within = (granted: readonly string[], patterns: readonly string[]) =>
    patterns.filter((pattern) => {
      const { host, port } = parseEndpointPattern(pattern);
      return host !== '*' && port !== '*' ? endpointAllowed(granted, host, Number(port)) : granted.includes(pattern);
    });
  const lower = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
  return {
    canSpawn: node.canSpawn && asked.canSpawn,
    listen: within(node.listen, asked.listen),
    connect: within(node.connect, asked.connect),
    dirs: Object.fromEntries(
      Object.keys(asked.dirs)
        .filter((guest) => guest in node.dirs)
        .map((guest) => [guest, node.dirs[guest]!]),
    ),
    maxMemoryPages: lower(node.maxMemoryPages, asked.maxMemoryPages),
    maxReductions: lower(node.maxReductions, asked.maxReductions),
    mailboxCapacity: Math.min(node.mailboxCapacity, asked.mailboxCapacity),
  };
}

/** How long a joining node listens for rival claims of a name or an index. */
const CLAIM_WINDOW_MS = 100;

/**
 * Claims `subject` (a node name or index) against nodes joining at the same time: every
 * claimant subscribes, then asks all subscribers with a random ticket. A node that holds the
 * subject answers 0 and always wins; among claimants the smaller ticket wins, and a claimant
 * also learns of a rival from the rival's question. Resolves with the unsubscribe function of
 * the won claim (the subscription keeps answering 0), or undefined when lost.
 */
export async function claim(transport: Transport, subject: string): Promise<(() => void) | undefined> {
  const ticket = 1 + Math.floor(Math.random() * Number.MAX_SAFE_INTEGER);
  let held = false;
  let lost = false;
  const unsubscribe = transport.subscribe(subject, (data, respond) => {
    const theirs = Number(text.decode(data));
    if (!held && theirs < ticket) lost = true;
    respond?.(utf8.encode(held ? '0' : String(ticket)));
  });
  await transport.flush();
  const answers = (await transport.gather(subject, utf8.encode(String(ticket)), CLAIM_WINDOW_MS)).map((answer) =>
    Number(text.decode(answer)),
  );
  if (lost || answers.some((theirs) => theirs !== ticket && theirs < ticket)) {
    unsubscribe();
    return undefined;
  }
  held = true;
  return unsubscribe;
}

export class Cluster implements RemoteNodes {
  private readonly nodes = new Map<number, KnownNode>();
  private readonly unsubscribes: Array<() => void> = [];
  private readonly names = new Map<string, () => void>();
  private readonly programs = new Map<string, Promise<Program>>();
  private readonly hashes = new WeakMap<Program, Promise<string>>();
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private closed = false;
  private lastCheck = Date.now();

  private constructor(
    private readonly world: Lunatic,
    private readonly transport: Transport,
    private readonly options: ClusterOptions,
    readonly index: number,
  ) {}

  /** Joins the cluster as `options.node`: refused (ClusterError) when the name is taken. */
  static async join(world: Lunatic, transport: Transport, options: ClusterOptions): Promise<Cluster> {
    const { node } = options;
    if (!NODE_NAME.test(node)) throw new ClusterError(`"${node}" is not a node name (1-64 of A-Z a-z 0-9 _ -)`);
    const taken = () => new ClusterError(`the node name "${node}" is taken by a running node of the cluster: choose another --node`);
    if (await transport.request(`${PREFIX}.node.${node}`, EMPTY, 2000)) throw taken();
    const nameClaim = await claim(transport, `${PREFIX}.claim.node.${node}`);
    if (!nameClaim) throw taken();
    const [index, indexClaim] = await Cluster.freeIndex(transport);
    const cluster = new Cluster(world, transport, options, index);
    cluster.unsubscribes.push(nameClaim, indexClaim);
    cluster.listen();
    await transport.flush();
    world.attach(cluster);
    cluster.heartbeat(HEARTBEAT);
    return cluster;
  }

  /** The lowest node index no live node answers for and this node won the claim of. */
  private static async freeIndex(transport: Transport): Promise<[number, () => void]> {
    for (let index = 1; index <= MAX_NODES; index++) {
      if (await transport.request(`${PREFIX}.index.${index}`, EMPTY, 2000)) continue;
      const won = await claim(transport, `${PREFIX}.claim.index.${index}`);
      if (won) return [index, won];
    }
    throw new ClusterError(`the cluster has ${MAX_NODES} nodes already: no node index is free`);
  }

  get name(): string {
    return this.options.node;
  }

  /** The names of the other live nodes, by index. */
  get peers(): ReadonlyMap<number, string> {
    return new Map([...this.nodes].map(([index, known]) => [index, known.name]));
  }

  private get requestTimeout(): number {
    return this.options.requestTimeoutMs ?? 5000;
  }

  private listen(): void {
    const own = (subject: string, handler: Parameters<Transport['subscribe']>[1]) =>
      this.unsubscribes.push(this.transport.subscribe(subject, handler));
    own(`${PREFIX}.node.${this.name}`, (_data, respond) => respond?.(utf8.encode(String(this.index))));
    own(`${PREFIX}.index.${this.index}`, (_data, respond) => respond?.(utf8.encode(this.name)));
    own(`${PREFIX}.hb`, (data) => this.heard(data));
    own(`${PREFIX}.${this.index}.msg`, (data) => this.deliver(data));
    own(`${PREFIX}.${this.index}.ctl`, (data, respond) => this.control(parse<Control>(data), respond));
    own(
      `${PREFIX}.${this.index}.spawn`,
      (data, respond) => void this.spawnHere(parse<SpawnRequest>(data)).then((reply) => respond?.(json(reply))),
    );
    own(`${PREFIX}.${this.index}.module`, (data, respond) => void this.acceptModule(data).then((reply) => respond?.(json(reply))));
    this.transport.onConnectionLost(() => {
      for (const index of [...this.nodes.keys()]) this.nodeDown(index);
    });
    const period = this.options.heartbeatMs ?? 200;
    this.every(period, () => this.heartbeat(HEARTBEAT));
    this.every(Math.max(10, period / 2), () => this.checkPeers());
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    (timer as { unref?: () => void }).unref?.();
    this.timers.push(timer);
  }

  private heartbeat(kind: number): void {
    const name = utf8.encode(this.name);
    const packet = new Uint8Array(2 + name.length);
    packet[0] = kind;
    packet[1] = this.index;
    packet.set(name, 2);
    this.transport.publish(`${PREFIX}.hb`, packet);
  }

  private heard(packet: Uint8Array): void {
    const [kind, index] = [packet[0]!, packet[1]!];
    if (index === this.index) return;
    const name = text.decode(packet.subarray(2));
    const known = this.nodes.get(index);
    // After the exit notices it sent before leaving, which wait one macrotask (control()).
    if (kind === GOODBYE) return void (known && setTimeout(() => this.nodes.get(index) === known && this.nodeDown(index), 0));
    if (known && known.name !== name) this.nodeDown(index); // the index was reused by a new node
    if (!this.nodes.has(index)) {
      this.nodes.set(index, { name, lastSeen: Date.now() });
      this.heartbeat(HEARTBEAT); // so a node that just joined learns of this one at once
    } else this.nodes.get(index)!.lastSeen = Date.now();
  }

  /**
   * Declares down the nodes silent for longer than the timeout. When this check itself comes
   * late, this node's event loop was blocked: what the others sent meanwhile still waits in the
   * socket (timers run before I/O is read), so they get the benefit of the doubt for one period.
   */
  private checkPeers(): void {
    const now = Date.now();
    const timeout = this.options.nodeTimeoutMs ?? 1000;
    const stalled = now - this.lastCheck > timeout / 2;
    this.lastCheck = now;
    for (const [index, known] of this.nodes) {
      if (stalled) known.lastSeen = Math.max(known.lastSeen, now - timeout / 2);
      else if (known.lastSeen < now - timeout) this.nodeDown(index);
    }
  }

  /** Traffic from a node proves it alive as well as a heartbeat (which may wait behind that traffic). */
  private alive(pid: number): void {
    const known = this.nodes.get(nodeIndexOf(pid));
    if (known) known.lastSeen = Date.now();
  }

  /** Node `index` died or is unreachable: its processes are DOWN (reason NODE_DOWN) for their monitors and links here. */
  private nodeDown(index: number): void {
    this.nodes.delete(index);
    for (const process of [...this.world.processes.values()]) {
      for (const pid of process.monitoredBy) if (nodeIndexOf(pid) === index) process.monitoredBy.delete(pid);
      for (const pid of [...process.monitoring])
        if (nodeIndexOf(pid) === index) this.world.deliverDown(process.pid, pid, Reason.NODE_DOWN, 0);
      for (const pid of [...process.links])
        if (nodeIndexOf(pid) === index) this.world.deliverLinkExit(process.pid, pid, Reason.NODE_DOWN, 0);
    }
  }

  /** The index of the live node of `pid`, or SRCH. */
  private nodeOf(pid: number): number {
    const index = nodeIndexOf(pid);
    if (!this.nodes.has(index)) throw new LunaticError(Errno.SRCH, `no process ${pid}: its node (index ${index}) is not in the cluster`);
    return index;
  }

  // ---- messages ----

  send(from: number, to: number, tag: bigint, data: Uint8Array): void {
    const index = this.nodeOf(to);
    const size = MESSAGE_HEADER + data.length;
    if (size > this.transport.maxPayload)
      throw new LunaticError(Errno.MSGSIZE, `a message to another node is at most ${this.transport.maxPayload - MESSAGE_HEADER} bytes`);
    const packet = new Uint8Array(size);
    const view = new DataView(packet.buffer);
    view.setInt32(0, to, true);
    view.setInt32(4, from, true);
    view.setBigInt64(8, tag, true);
    packet.set(data, MESSAGE_HEADER);
    this.transport.publish(`${PREFIX}.${index}.msg`, packet);
  }

  /** A message from another node: queued, or dropped when the receiver is gone or its mailbox is full. */
  private deliver(packet: Uint8Array): void {
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const receiver = this.world.processes.get(view.getInt32(0, true));
    this.alive(view.getInt32(4, true));
    receiver?.mailbox.send(view.getBigInt64(8, true), view.getInt32(4, true), packet.subarray(MESSAGE_HEADER));
  }

  // ---- links, monitors, kills, exits ----

  private publishControl(index: number, control: Control): void {
    this.transport.publish(`${PREFIX}.${index}.ctl`, json(control));
  }

  /** A request to node `index`; its error reply rejects as that LunaticError. */
  private async ask(index: number, kind: string, payload: Uint8Array): Promise<Reply> {
    let data: Uint8Array | undefined;
    try {
      data = await this.transport.request(`${PREFIX}.${index}.${kind}`, payload, this.requestTimeout);
    } catch {
      throw new LunaticError(
        Errno.TIMEDOUT,
        `node ${this.nodes.get(index)?.name ?? index} did not answer within ${this.requestTimeout} ms`,
      );
    }
    if (!data) throw new LunaticError(Errno.SRCH, `node index ${index} left the cluster`);
    const reply = parse<Reply>(data);
    if (reply.errno) throw new LunaticError(reply.errno, reply.message ?? 'refused');
    return reply;
  }

  async monitor(watcher: LunaticProcess, watched: number): Promise<void> {
    const index = this.nodeOf(watched);
    watcher.monitoring.add(watched); // before asking: the DOWN may come right behind the answer
    try {
      await this.ask(index, 'ctl', json({ op: 'monitor', watched, watcher: watcher.pid }));
    } catch (error) {
      watcher.monitoring.delete(watched);
      throw error;
    }
  }

  demonitor(watcher: LunaticProcess, watched: number): void {
    watcher.monitoring.delete(watched);
    this.publishControl(this.nodeOf(watched), { op: 'demonitor', watched, watcher: watcher.pid });
  }

  async link(local: LunaticProcess, remote: number): Promise<void> {
    const index = this.nodeOf(remote);
    local.links.add(remote);
    try {
      await this.ask(index, 'ctl', json({ op: 'link', target: remote, linker: local.pid }));
    } catch (error) {
      local.links.delete(remote);
      throw error;
    }
  }

  unlink(local: LunaticProcess, remote: number): void {
    local.links.delete(remote);
    this.publishControl(this.nodeOf(remote), { op: 'unlink', target: remote, linker: local.pid });
  }

  kill(pid: number): void {
    this.publishControl(this.nodeOf(pid), { op: 'kill', pid });
  }

  ended(process: LunaticProcess, status: ExitStatus): void {
    const notice = { pid: process.pid, reason: reasonOf(status), code: status.code ?? 0 };
    const remote = (pids: Iterable<number>) => [...pids].filter((pid) => !this.world.isLocal(pid) && this.nodes.has(nodeIndexOf(pid)));
    for (const to of remote(process.monitoredBy)) this.publishControl(nodeIndexOf(to), { op: 'down', to, ...notice });
    for (const to of remote(process.links)) this.publishControl(nodeIndexOf(to), { op: 'linkexit', to, ...notice });
    for (const watched of remote(process.monitoring))
      this.publishControl(nodeIndexOf(watched), { op: 'demonitor', watched, watcher: process.pid });
    for (const name of this.world.registry.namesOf(process.pid)) this.names.get(name)?.();
  }

  private control(control: Control, respond?: (reply: Uint8Array) => void): void {
    const world = this.world;
    switch (control.op) {
      case 'monitor':
        respond?.(json(this.recordFor(control.watched, (target) => target.monitoredBy.add(control.watcher))));
        return;
      case 'link':
        respond?.(json(this.recordFor(control.target, (target) => target.links.add(control.linker))));
        return;
      case 'demonitor':
        world.processes.get(control.watched)?.monitoredBy.delete(control.watcher);
        return;
      case 'unlink':
        world.processes.get(control.target)?.links.delete(control.linker);
        return;
      case 'kill':
        world.processes.get(control.pid)?.core.kill();
        return;
      // Exit notices wait one macrotask: the answer to a monitor, link or spawn sent just before
      // them must be handled first.
      case 'down':
        return void setTimeout(() => world.deliverDown(control.to, control.pid, control.reason, control.code), 0);
      case 'linkexit':
        return void setTimeout(() => world.deliverLinkExit(control.to, control.pid, control.reason, control.code), 0);
    }
  }

  /** Records a remote monitor or link on a live process here; SRCH when it is gone. */
  private recordFor(pid: number, record: (target: LunaticProcess) => void): Reply {
    const target = this.world.processes.get(pid);
    if (!target) return { errno: Errno.SRCH, message: `no process ${pid}` };
    record(target);
    return {};
  }

  // ---- names ----

  async register(process: LunaticProcess, name: string): Promise<void> {
    const registry = this.world.registry;
    registry.register(process.pid, name); // EXIST when a process here holds it
    registry.unregister(process.pid, name);
    const holder = await this.whereis(name);
    if (holder !== undefined && holder !== process.pid)
      throw new LunaticError(Errno.EXIST, `the name "${name}" is taken by process ${holder}`);
    if (!this.world.processes.has(process.pid)) return;
    registry.register(process.pid, name);
    const unsubscribe = this.transport.subscribe(`${PREFIX}.name.${name}`, (_data, respond) => respond?.(utf8.encode(String(process.pid))));
    this.names.set(name, () => {
      this.names.delete(name);
      unsubscribe();
    });
    await this.transport.flush();
  }

  unregister(_process: LunaticProcess, name: string): void {
    this.names.get(name)?.();
  }

  async whereis(name: string): Promise<number | undefined> {
    let data: Uint8Array | undefined;
    try {
      data = await this.transport.request(`${PREFIX}.name.${name}`, EMPTY, this.requestTimeout);
    } catch {
      throw new LunaticError(Errno.TIMEDOUT, `no answer for the name "${name}" within ${this.requestTimeout} ms`);
    }
    return data ? Number(text.decode(data)) : undefined;
  }

  // ---- remote spawn ----

  async spawn(parent: LunaticProcess, node: string, options: RemoteSpawn): Promise<number> {
    const index = await this.resolveNode(node);
    const program = parent.program;
    if (!program.bytes)
      throw new LunaticError(Errno.INVAL, 'this process was started without its module bytes: it cannot spawn on other nodes');
    let hash = this.hashes.get(program);
    if (!hash) this.hashes.set(program, (hash = sha256(program.bytes)));
    const request: SpawnRequest = {
      hash: await hash,
      entry: options.entry,
      arg: options.arg.toString(),
      link: options.link,
      parent: parent.pid,
      permissions: options.permissions,
    };
    let reply = await this.ask(index, 'spawn', json(request));
    if (reply.need === 'module') {
      if (program.bytes.length > this.transport.maxPayload)
        throw new LunaticError(
          Errno.MSGSIZE,
          `the module (${program.bytes.length} bytes) is larger than the cluster's largest message (${this.transport.maxPayload})`,
        );
      await this.ask(index, 'module', program.bytes);
      reply = await this.ask(index, 'spawn', json(request));
    }
    const pid = reply.pid!;
    if (options.link) parent.links.add(pid);
    return pid;
  }

  private async resolveNode(node: string): Promise<number> {
    if (!NODE_NAME.test(node)) throw new LunaticError(Errno.INVAL, `"${node}" is not a node name`);
    if (node === this.name) return this.index;
    const data = await this.transport.request(`${PREFIX}.node.${node}`, EMPTY, this.requestTimeout).catch(() => undefined);
    if (!data) throw new LunaticError(Errno.SRCH, `no node "${node}" in the cluster`);
    return Number(text.decode(data));
  }

  private refusal(): Reply | undefined {
    if (this.options.allowRemoteSpawn) return undefined;
    return { errno: Errno.PERM, message: `node "${this.name}" does not accept remote spawns (start it with --allow-remote-spawn)` };
  }

  private async spawnHere(request: SpawnRequest): Promise<Reply> {
    const refused = this.refusal();
    if (refused) return refused;
    const compiled = this.programs.get(request.hash);
    if (!compiled) return { need: 'module' };
    try {
      const program = await compiled;
      if (!program.entries.has(request.entry))
        return { errno: Errno.INVAL, message: `the module exports no function "${request.entry}" taking nothing, an i32 or an i64` };
      const permissions = narrowForRemote(this.options.remoteSpawnPermissions ?? NO_PERMISSIONS, request.permissions);
      const child = this.world.start(program, { permissions, entry: request.entry, arg: BigInt(request.arg) });
      if (request.link) child.links.add(request.parent);
      this.options.onSpawn?.(child);
      return { pid: child.pid };
    } catch (error) {
      return replyError(error);
    }
  }

  /** Module bytes for a later spawn: compiled once per content hash, and only when remote spawns are allowed. */
  private async acceptModule(bytes: Uint8Array): Promise<Reply> {
    const refused = this.refusal();
    if (refused) return refused;
    const hash = await sha256(bytes);
    if (!this.programs.has(hash)) {
      const compiling = this.world.load(bytes.slice());
      this.programs.set(hash, compiling);
      compiling.catch(() => this.programs.delete(hash));
    }
    try {
      await this.programs.get(hash);
      return {};
    } catch (error) {
      return { errno: Errno.INVAL, message: `the module does not compile: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  /** Leaves the cluster: a goodbye (the others report this node's processes DOWN at once), then the connection closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.heartbeat(GOODBYE);
    await this.transport.close();
  }
}
