// The lunatic process API as a host module: spawn, messages, links, TCP, permissions.
export { Lunatic, LunaticProcess } from './lunatic.js';
export type { Emigrant, LunaticOptions, Program, StartOptions } from './lunatic.js';
export type { CoreProcess, CoreSpawnOptions, ProcessCore } from './core.js';
export type { Connection, Listener, Network } from './network.js';
export { Errno, LunaticError } from './errno.js';
export { DEFAULT_MAILBOX_CAPACITY, NO_PERMISSIONS, grantedPermissions } from './permissions.js';
export type { Grants, Permissions } from './permissions.js';
export { Reason, TAG_DOWN, TAG_LINK_DOWN } from './notifications.js';
export { MAILBOX_MAX_BYTES } from './mailbox.js';
export { Cluster, ClusterError } from './distribution.js';
export type { ClusterOptions, Transport } from './distribution.js';
export { LOCAL_PID_LIMIT, NODE_SHIFT, nodeIndexOf } from './remote.js';
