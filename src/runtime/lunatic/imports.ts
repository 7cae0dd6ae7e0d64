// The `lunatic` import namespace of one process: the process, message, TCP, handle and
// configuration calls, names and remote spawn, each guarded (limits checked first, errors returned as codes).
// The runtime core adds `lunatic.yield` itself.
import { declareNeverWaits } from '../pending.js';
import type { Imports, ProcessContext } from '../types.js';
import { clusterApi } from './api-cluster.js';
import { configApi } from './api-config.js';
import { handleApi } from './api-handles.js';
import { messageApi } from './api-message.js';
import { processApi } from './api-process.js';
import { tcpApi } from './api-tcp.js';
import { GuestMemory } from './guest-memory.js';
import { guarded } from './guard.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';

/**
 * Reductions a lunatic call costs the caller (the slice is 4,000,000, about 1 ms): about what the
 * host spends on a send or a receive, so sends in a row end a slice as computing would. Calls that
 * cost the host more end it by the clock (Vessel.charge).
 */
export const HOST_CALL_REDUCTIONS = 2000;

/** The lunatic calls in which a process never waits: plain imports even under JSPI (pending.ts, neverWaits). */
const NEVER_WAITING = [
  'self',
  'spawn',
  'spawn_fn',
  'exit',
  'kill',
  'unlink',
  'trap_links',
  'demonitor',
  'send',
  'close',
  'give',
  'config_new',
  'config_deny_spawn',
  'config_set_max_memory',
  'config_set_max_reductions',
  'config_set_mailbox',
  'config_set_listen',
  'config_set_connect',
  'config_set_dirs',
] as const;
type NeverWaiting = (typeof NEVER_WAITING)[number];

/**
 * The `lunatic` namespace of one instance (`ctx`), for whichever process it runs (`tenant`): made
 * once per instance, so a pooled instance serves process after process (src/runtime/vessel.ts).
 */
export function lunaticImports(world: Lunatic, tenant: () => LunaticProcess, ctx: ProcessContext): Imports {
  const memory = new GuestMemory(() => ctx.memory());
  const functions = {
    ...processApi(world, tenant, memory),
    ...messageApi(world, tenant, memory),
    ...tcpApi(world, tenant, ctx, memory),
    ...handleApi(world, tenant),
    ...configApi(world, tenant, memory),
    ...clusterApi(world, tenant, memory),
  };
  // The calls that return at once: their types say so (a Promise or a Pending would not fit).
  functions satisfies Record<NeverWaiting, (...args: never[]) => number | bigint>;
  const beforeEach = () => {
    ctx.charge(HOST_CALL_REDUCTIONS);
    const self = tenant();
    if (self.limited) world.checkLimits(self);
  };
  const lunatic = guarded(functions, beforeEach);
  for (const name of NEVER_WAITING) declareNeverWaits(lunatic[name]!);
  return { lunatic };
}
