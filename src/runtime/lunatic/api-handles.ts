// lunatic host API, handles of any kind (socket, listener, configuration): close one, or give
// it to another process (e.g. a connection to the process spawned to serve it). The number
// stays the same; the giver loses it. A handle given to a process on another thread goes
// through the threads (src/runtime/threads/: sockets stay where they are and are proxied).
import type { Lunatic, LunaticProcess } from './lunatic.js';

export function handleApi(world: Lunatic, tenant: () => LunaticProcess) {
  return {
    close(handle: number): number {
      world.handles.close(tenant().pid, handle);
      return 0;
    },
    give(handle: number, pid: number): number {
      const { threads } = world;
      if (threads && (!world.isLocal(pid) || threads.drawsTo(tenant(), handle, pid))) return (threads.give(tenant(), handle, pid), 0);
      world.handles.transfer(tenant().pid, handle, world.process(pid).pid);
      return 0;
    },
  };
}
