// The public surface of the fake Proxmox VE server for driver tests: start it, call it raw, inspect it.
export { startProxmoxServer, type ProxmoxServer, type ProxmoxServerOptions, type RequestRecord } from './server.ts';
export { callPve, type CallSpec, type RawAnswer } from './client.ts';
export { schemaMissingReason, schemaDir, type PveVersion } from './schema.ts';
export { parseUpid } from './tasks.ts';
export type { FaultRule, FaultEffect } from './faults.ts';
export type { AuthOptions, TokenSeed, UserSeed } from './auth.ts';
export type { Timing } from './sim.ts';
export type { ClusterState, GuestBehaviour, StorageState, TemplateSeed, VmState } from './state.ts';
