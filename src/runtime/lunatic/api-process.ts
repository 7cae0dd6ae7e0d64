// lunatic host API, processes: spawn (an export of the same module, with an argument and
// optionally a narrowed configuration), spawn_fn (the same for a function pointer: a table
// entry), self, exit, kill, link/unlink/trap_links, monitor, sleep_ms, yield_now. Signatures
// and codes: include/lunatic.h. A pid of another node goes to the cluster (world.remote,
// distribution.ts), one of another thread to the threads (world.threads, src/runtime/threads/).
import { hibernatable, NEXT_TURN, Pending } from '../pending.js';
import { after } from '../timers.js';
import { ProcessExit } from '../types.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import type { ConfigResource } from './api-config.js';
import type { Permissions } from './permissions.js';

/** lunatic_spawn flags: link the child to the caller, or make the caller monitor it, before it runs. */
export const SPAWN_LINK = 1;
export const SPAWN_MONITOR = 2;

interface SpawnFlags {
  permissions: Permissions;
  link: boolean;
  monitor: boolean;
}

/** A child's permissions, link and monitor flags from spawn's flags and config; PERM when `parent` may not spawn. */
function spawnOptions(world: Lunatic, parent: LunaticProcess, flags: number, config: number): SpawnFlags {
  if (!parent.permissions.canSpawn) throw new LunaticError(Errno.PERM, `process ${parent.pid} may not spawn`);
  const permissions = config === 0 ? parent.permissions : world.handles.get<ConfigResource>(parent.pid, config, 'config').permissions;
  return { permissions, link: (flags & SPAWN_LINK) !== 0, monitor: (flags & SPAWN_MONITOR) !== 0 };
}

/** 0 once a link or monitor elsewhere is in place (at once on another thread, after the answer on another node). */
const zeroWhenDone = (done: void | Promise<void>): number | Promise<number> => (done ? done.then(() => 0) : 0);

export function processApi(world: Lunatic, tenant: () => LunaticProcess, memory: GuestMemory) {
  const other = (pid: number) => {
    const process = world.process(pid);
    if (process === tenant()) throw new LunaticError(Errno.INVAL, 'a process cannot link to or monitor itself');
    return process;
  };
  return {
    spawn(entryPointer: number, entryLength: number, arg: bigint, flags: number, config: number): number {
      const options = spawnOptions(world, tenant(), flags, config);
      return world.spawnChild(tenant(), { entry: memory.string(entryPointer, entryLength), arg, ...options });
    },
    spawn_fn(tableIndex: number, arg: bigint, flags: number, config: number): number {
      return world.spawnChild(tenant(), { tableIndex: tableIndex >>> 0, arg, ...spawnOptions(world, tenant(), flags, config) });
    },
    self: () => tenant().pid,
    exit(code: number): never {
      throw new ProcessExit(code);
    },
    kill(pid: number): number {
      if (!world.isLocal(pid)) return (world.elsewhere(pid).kill(pid), 0);
      world.process(pid).core.kill();
      return 0;
    },
    link(pid: number): number | Promise<number> {
      if (!world.isLocal(pid)) return zeroWhenDone(world.elsewhere(pid).link(tenant(), pid));
      world.link(tenant(), other(pid));
      return 0;
    },
    unlink(pid: number): number {
      if (!world.isLocal(pid)) return (world.elsewhere(pid).unlink(tenant(), pid), 0);
      world.unlink(tenant(), other(pid));
      return 0;
    },
    trap_links(on: number): number {
      tenant().trapLinks = on !== 0;
      return 0;
    },
    monitor(pid: number): number | Promise<number> {
      if (!world.isLocal(pid)) return zeroWhenDone(world.elsewhere(pid).monitor(tenant(), pid));
      world.monitor(tenant(), other(pid));
      return 0;
    },
    demonitor(pid: number): number {
      if (!world.isLocal(pid)) return (world.elsewhere(pid).demonitor(tenant(), pid), 0);
      world.demonitor(tenant(), other(pid));
      return 0;
    },
    sleep_ms(ms: number): Pending<number> {
      let cancel: (() => void) | undefined;
      const pending = hibernatable(new Pending<number>(() => cancel?.()));
      cancel = after(ms >>> 0, () => pending.resolve(0));
      return pending;
    },
    yield_now: () => NEXT_TURN,
  };
}
