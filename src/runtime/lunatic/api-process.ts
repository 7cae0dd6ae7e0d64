// lunatic host API, processes: spawn (an export of the same module, with an argument and
// optionally a narrowed configuration), self, exit, kill, link/unlink/trap_links, monitor,
// sleep_ms, yield_now. Signatures and codes: include/lunatic.h. A pid of another node goes to
// the cluster (world.remote, distribution.ts).
import { type HostFunction, type ProcessContext, ProcessExit } from '../types.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import type { ConfigResource } from './api-config.js';

/** lunatic_spawn flag: link the child to the caller before it runs. */
const SPAWN_LINK = 1;

export function processApi(world: Lunatic, self: LunaticProcess, ctx: ProcessContext, memory: GuestMemory): Record<string, HostFunction> {
  const other = (pid: number) => {
    const process = world.process(pid);
    if (process === self) throw new LunaticError(Errno.INVAL, 'a process cannot link to or monitor itself');
    return process;
  };
  return {
    spawn(entryPointer: number, entryLength: number, arg: bigint, flags: number, config: number): number {
      if (!self.permissions.canSpawn) throw new LunaticError(Errno.PERM, `process ${self.pid} may not spawn`);
      const permissions = config === 0 ? self.permissions : world.handles.get<ConfigResource>(self.pid, config, 'config').permissions;
      return world.spawn(self, { entry: memory.string(entryPointer, entryLength), arg, permissions, link: (flags & SPAWN_LINK) !== 0 }).pid;
    },
    self: () => self.pid,
    exit(code: number): never {
      throw new ProcessExit(code);
    },
    kill(pid: number): number {
      if (!world.isLocal(pid)) return world.remote!.kill(pid), 0;
      world.process(pid).core.kill();
      return 0;
    },
    link(pid: number): number | Promise<number> {
      if (!world.isLocal(pid)) return world.remote!.link(self, pid).then(() => 0);
      world.link(self, other(pid));
      return 0;
    },
    unlink(pid: number): number {
      if (!world.isLocal(pid)) return world.remote!.unlink(self, pid), 0;
      world.unlink(self, other(pid));
      return 0;
    },
    trap_links(on: number): number {
      self.trapLinks = on !== 0;
      return 0;
    },
    monitor(pid: number): number | Promise<number> {
      if (!world.isLocal(pid)) return world.remote!.monitor(self, pid).then(() => 0);
      world.monitor(self, other(pid));
      return 0;
    },
    demonitor(pid: number): number {
      if (!world.isLocal(pid)) return world.remote!.demonitor(self, pid), 0;
      world.demonitor(self, other(pid));
      return 0;
    },
    sleep_ms: (ms: number) => ctx.sleep(ms >>> 0).then(() => 0),
    yield_now: () => ctx.yieldNow().then(() => 0),
  };
}
