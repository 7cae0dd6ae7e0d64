// lunatic host API, configurations: a process builds a configuration for the children it
// spawns. It starts as a copy of the caller's own permissions and can only be narrowed (fewer
// host:port patterns, fewer directories, lower limits, no spawning), so a child never gets
// more than its parent.
import type { GuestMemory } from './guest-memory.js';
import type { Resource } from './handles.js';
import type { Lunatic, LunaticProcess } from './lunatic.js';
import { narrowDirs, narrowLimit, narrowPatterns, type Permissions } from './permissions.js';

export class ConfigResource implements Resource {
  readonly kind = 'config';
  constructor(public permissions: Permissions) {}
  close(): void {}
}

/** Splits a comma-separated list from wasm, dropping blanks. */
const list = (text: string) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export function configApi(world: Lunatic, tenant: () => LunaticProcess, memory: GuestMemory) {
  const narrow = (handle: number, change: (permissions: Permissions) => Partial<Permissions>): number => {
    const config = world.handles.get<ConfigResource>(tenant().pid, handle, 'config');
    config.permissions = { ...config.permissions, ...change(config.permissions) };
    return 0;
  };
  return {
    config_new: () => world.handles.add(tenant().pid, new ConfigResource(tenant().permissions)),
    config_deny_spawn: (handle: number) => narrow(handle, () => ({ canSpawn: false })),
    config_set_max_memory: (handle: number, pages: number) =>
      narrow(handle, (current) => ({ maxMemoryPages: narrowLimit(current.maxMemoryPages, pages >>> 0, 'max memory pages') })),
    config_set_max_reductions: (handle: number, reductions: bigint) =>
      narrow(handle, (current) => ({ maxReductions: narrowLimit(current.maxReductions, Number(reductions), 'max reductions') })),
    config_set_mailbox: (handle: number, capacity: number) =>
      narrow(handle, (current) => ({ mailboxCapacity: narrowLimit(current.mailboxCapacity, capacity >>> 0, 'mailbox capacity') })),
    config_set_listen: (handle: number, pointer: number, length: number) =>
      narrow(handle, (current) => ({ listen: narrowPatterns(current.listen, list(memory.string(pointer, length))) })),
    config_set_connect: (handle: number, pointer: number, length: number) =>
      narrow(handle, (current) => ({ connect: narrowPatterns(current.connect, list(memory.string(pointer, length))) })),
    config_set_dirs: (handle: number, pointer: number, length: number) =>
      narrow(handle, (current) => ({ dirs: narrowDirs(current.dirs, list(memory.string(pointer, length))) })),
  };
}
