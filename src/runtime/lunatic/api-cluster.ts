// lunatic host API, names and nodes: register/unregister/whereis a process name (this node's
// names first, then the cluster's), and spawn an export of the caller's module on a named node
// (distribution.ts). Without a cluster, names are local and every node name is unknown (SRCH).
import type { HostFunction } from '../types.js';
import type { ConfigResource } from './api-config.js';
import { Errno, LunaticError } from './errno.js';
import type { GuestMemory } from './guest-memory.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import { checkName } from './registry.js';

/** lunatic_spawn flag: link the child to the caller before it runs (as for lunatic_spawn). */
const SPAWN_LINK = 1;

export function clusterApi(world: Lunatic, self: LunaticProcess, memory: GuestMemory): Record<string, HostFunction> {
  const nameAt = (pointer: number, length: number) => checkName(memory.string(pointer, length));
  return {
    register(pointer: number, length: number): number | Promise<number> {
      const name = nameAt(pointer, length);
      if (world.registry.whereis(name) === self.pid) return 0;
      if (world.threads) return world.threads.register(self, name);
      if (world.remote) return world.remote.register(self, name).then(() => 0);
      world.registry.register(self.pid, name);
      return 0;
    },
    unregister(pointer: number, length: number): number | Promise<number> {
      const name = nameAt(pointer, length);
      if (world.threads) return world.threads.unregister(self, name);
      if (!world.registry.unregister(self.pid, name)) throw new LunaticError(Errno.SRCH, `process ${self.pid} holds no name "${name}"`);
      world.remote?.unregister(self, name);
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
      if (!self.permissions.canSpawn) throw new LunaticError(Errno.PERM, `process ${self.pid} may not spawn`);
      const node = memory.string(nodePointer, nodeLength);
      const entry = memory.string(entryPointer, entryLength);
      const permissions = config === 0 ? self.permissions : world.handles.get<ConfigResource>(self.pid, config, 'config').permissions;
      if (!world.remote) throw new LunaticError(Errno.SRCH, `no node "${node}": this node is in no cluster`);
      if (!self.program.entries.has(entry))
        throw new LunaticError(Errno.INVAL, `the module exports no function "${entry}" taking nothing, an i32 or an i64`);
      return world.remote.spawn(self, node, { entry, arg, link: (flags & SPAWN_LINK) !== 0, permissions });
    },
  };
}
