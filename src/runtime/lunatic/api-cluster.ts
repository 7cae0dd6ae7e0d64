// lunatic host API, names and nodes: register/unregister/whereis a process name (this node's
// names first, then the cluster's), and spawn an export of the caller's module on a named node
// (distribution.ts). Without a cluster, names are local and every node name is unknown (SRCH).
import type { ConfigResource } from './api-config.js';
import { SPAWN_LINK, SPAWN_MONITOR } from './api-process.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import { checkName } from './registry.js';

export function clusterApi(world: Lunatic, tenant: () => LunaticProcess, memory: GuestMemory) {
  const nameAt = (pointer: number, length: number) => checkName(memory.string(pointer, length));
  return {
    register(pointer: number, length: number): number | Promise<number> {
      const name = nameAt(pointer, length);
      if (world.registry.whereis(name) === tenant().pid) return 0;
      if (world.threads) return world.threads.register(tenant(), name);
      if (world.remote) return world.remote.register(tenant(), name).then(() => 0);
      world.registry.register(tenant().pid, name);
      return 0;
    },
    unregister(pointer: number, length: number): number | Promise<number> {
      const name = nameAt(pointer, length);
      if (world.threads) return world.threads.unregister(tenant(), name);
      if (!world.registry.unregister(tenant().pid, name))
        throw new LunaticError(Errno.SRCH, `process ${tenant().pid} holds no name "${name}"`);
      world.remote?.unregister(tenant(), name);
      return 0;
    },
    whereis(pointer: number, length: number): number | Promise<number> {
      const name = nameAt(pointer, length);
      if (world.threads) return world.threads.whereis(name);
      const local = world.registry.whereis(name);
      if (local !== undefined || !world.remote) return local ?? -Errno.SRCH;
      return world.remote.whereis(name).then((pid) => pid ?? -Errno.SRCH);
    },
    spawn_on(
      nodePointer: number,
      nodeLength: number,
      entryPointer: number,
      entryLength: number,
      arg: bigint,
      flags: number,
      config: number,
    ): Promise<number> {
      if (!tenant().permissions.canSpawn) throw new LunaticError(Errno.PERM, `process ${tenant().pid} may not spawn`);
      const node = memory.string(nodePointer, nodeLength);
      const entry = memory.string(entryPointer, entryLength);
      const permissions =
        config === 0 ? tenant().permissions : world.handles.get<ConfigResource>(tenant().pid, config, 'config').permissions;
      if (!world.remote) throw new LunaticError(Errno.SRCH, `no node "${node}": this node is in no cluster`);
      if (flags & SPAWN_MONITOR)
        throw new LunaticError(Errno.INVAL, 'LUNATIC_SPAWN_MONITOR is for local spawns: monitor the pid once it is known');
      if (!tenant().program.entries.has(entry))
        throw new LunaticError(Errno.INVAL, `the module exports no function "${entry}" taking nothing, an i32 or an i64`);
      return world.remote.spawn(tenant(), node, { entry, arg, link: (flags & SPAWN_LINK) !== 0, permissions });
    },
  };
}
