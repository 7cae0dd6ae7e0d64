// The `run` command's cluster flags: --node NAME --nats URL join a NATS cluster
// (src/runtime/node/nats.ts); credentials and TLS files come from flags or the environment
// (LUNATIC_NATS_URL, LUNATIC_NATS_USER, LUNATIC_NATS_PASS, LUNATIC_NATS_TOKEN). Without
// --node nothing of the cluster is loaded.
import type { Argv } from 'yargs';
import { InputError, UsageError } from '../errors.js';
import type { Cluster } from '../runtime/lunatic/distribution.js';
import type { Lunatic, LunaticProcess, Permissions } from '../runtime/lunatic/index.js';

export interface ClusterArgs {
  node?: string;
  nats?: string;
  natsUser?: string;
  natsPass?: string;
  natsToken?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  allowRemoteSpawn: boolean;
}

export function clusterOptions<T>(yargs: Argv<T>): Argv<T> {
  return yargs
    .option('node', { describe: 'join a cluster as this node (a unique name; needs --nats)', type: 'string' })
    .option('nats', { describe: 'the NATS server of the cluster, e.g. nats://127.0.0.1:4222 (or LUNATIC_NATS_URL)', type: 'string' })
    .option('nats-user', { describe: 'NATS user (or LUNATIC_NATS_USER)', type: 'string' })
    .option('nats-pass', { describe: 'NATS password (or LUNATIC_NATS_PASS)', type: 'string' })
    .option('nats-token', { describe: 'NATS token (or LUNATIC_NATS_TOKEN)', type: 'string' })
    .option('nats-tls-ca', { describe: 'TLS: CA file (PEM) to trust for the NATS server', type: 'string' })
    .option('nats-tls-cert', { describe: 'TLS: client certificate file (PEM)', type: 'string' })
    .option('nats-tls-key', { describe: 'TLS: client key file (PEM)', type: 'string' })
    .option('allow-remote-spawn', {
      describe: "accept processes spawned here by other nodes (within this node's permissions)",
      type: 'boolean',
      default: false,
    }) as Argv<T>;
}

const env = (name: string) => process.env[name] || undefined;

export function checkClusterArgs(argv: ClusterArgs): void {
  const url = argv.nats ?? env('LUNATIC_NATS_URL');
  if (argv.node !== undefined && !url)
    throw new UsageError('--node needs --nats URL (or LUNATIC_NATS_URL): the NATS server of the cluster');
  if (argv.nats !== undefined && argv.node === undefined)
    throw new UsageError('--nats needs --node NAME: the name of this node in the cluster');
  if (argv.allowRemoteSpawn && argv.node === undefined) throw new UsageError('--allow-remote-spawn needs --node and --nats');
}

/** Joins the cluster the flags name (undefined without --node); a refusal is one line, exit 1. */
export async function joinClusterFromArgs(
  world: Lunatic,
  argv: ClusterArgs,
  permissions: Permissions,
  onSpawn: (child: LunaticProcess) => void,
): Promise<Cluster | undefined> {
  if (argv.node === undefined) return undefined;
  const { joinNatsCluster } = await import('../runtime/node/nats.js');
  const nats = {
    servers: argv.nats ?? env('LUNATIC_NATS_URL')!,
    user: argv.natsUser ?? env('LUNATIC_NATS_USER'),
    pass: argv.natsPass ?? env('LUNATIC_NATS_PASS'),
    token: argv.natsToken ?? env('LUNATIC_NATS_TOKEN'),
    tlsCa: argv.natsTlsCa,
    tlsCert: argv.natsTlsCert,
    tlsKey: argv.natsTlsKey,
  };
  try {
    return await joinNatsCluster(world, nats, {
      node: argv.node,
      allowRemoteSpawn: argv.allowRemoteSpawn,
      remoteSpawnPermissions: permissions,
      onSpawn,
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'ClusterError') throw new InputError(`--node ${argv.node}: ${error.message}`);
    throw error;
  }
}
