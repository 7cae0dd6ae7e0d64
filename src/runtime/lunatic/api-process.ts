// lunatic host API, processes: spawn (an export of the same module, with an argument and
// optionally a narrowed configuration), spawn_fn (the same for a function pointer: a table
// entry), self, exit, kill, link/unlink/trap_links, monitor, sleep_ms, yield_now. Signatures
// and codes: include/lunatic.h. A pid of another node goes to the cluster (world.remote,
// distribution.ts), one of another thread to the threads (world.threads, src/runtime/threads/).
import { NEXT_TURN, Pending } from '../pending.js';
import { after } from '../timers.js';
import { type HostFunction, ProcessExit } from '../types.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import type { ConfigResource } from './api-config.js';
import type { Permissions } from './permissions.js';

/** lunatic_spawn flag: link the child to the caller before it runs. */
const SPAWN_LINK = 1;

/** A child's permissions and link flag from spawn's flags and config; PERM when `parent` may not spawn. */
function spawnOptions(world: Lunatic, parent: LunaticProcess, flags: number, config: number): { permissions: Permissions; link: boolean } {
  if (!parent.permissions.canSpawn) throw new LunaticError(Errno.PERM, `process ${parent.pid} may not spawn`);
  const permissions = config === 0 ? parent.permissions : world.handles.get<ConfigResource>(parent.pid, config, 'config').permissions;
  return { permissions, link: (flags & SPAWN_LINK) !== 0 };
}

/** 0 once a link or monitor elsewhere is in place (at once on another thread, after the answer on another node). */
const zeroWhenDone = (done: void | Promise<void>): number | Promise<number> => (done ? done.then(() => 0) : 0);

export function processApi(world: Lunatic, self: LunaticProcess, memory: GuestMemory): Record<string, HostFunction> {
  const other = (pid: number) => {
    const process = world.process(pid);
    if (process === self) throw new LunaticError(Errno.INVAL, 'a process cannot link to or monitor itself');
    return process;
  };
  return {
    spawn(entryPointer: number, entryLength: number, arg: bigint, flags: number, config: number): number {
      const options = spawnOptions(world, self, flags, config);
      return world.spawnChild(self, { entry: memory.string(entryPointer, entryLength), arg, ...options });
    },
    spawn_fn(tableIndex: number, arg: bigint, flags: number, config: number): number {
      return world.spawnChild(self, { tableIndex: tableIndex >>> 0, arg, ...spawnOptions(world, self, flags, config) });
    },
    self: () => self.pid,
    exit(code: number): never {
      throw new ProcessExit(code);
    },
    kill(pid: number): number {
      if (!world.isLocal(pid)) return (world.elsewhere(pid).kill(pid), 0);
      world.process(pid).core.kill();
      return 0;
    },
    link(pid: number): number | Promise<number> {
      if (!world.isLocal(pid)) return zeroWhenDone(world.elsewhere(pid).link(self, pid));
      world.link(self, other(pid));
      return 0;
    },
    unlink(pid: number): number {
      if (!world.isLocal(pid)) return (world.elsewhere(pid).unlink(self, pid), 0);
      world.unlink(self, other(pid));
      return 0;
    },
    trap_links(on: number): number {
      self.trapLinks = on !== 0;
      return 0;
    },
    monitor(pid: number): number | Promise<number> {
      if (!world.isLocal(pid)) return zeroWhenDone(world.elsewhere(pid).monitor(self, pid));
      world.monitor(self, other(pid));
      return 0;
    },
    demonitor(pid: number): number {
      if (!world.isLocal(pid)) return (world.elsewhere(pid).demonitor(self, pid), 0);
      world.demonitor(self, other(pid));
      return 0;
    },
    sleep_ms(ms: number): Pending<number> {
      let cancel: (() => void) | undefined;
      const pending = new Pending<number>(() => cancel?.());
      cancel = after(ms >>> 0, () => pending.resolve(0));
      return pending;
    },
    yield_now: () => NEXT_TURN,
  };
}
