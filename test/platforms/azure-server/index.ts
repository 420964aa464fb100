// The ARM test server's public surface for tests and benchmarks.
export { startArmServer, type ArmServer, type ArmServerOptions, type RequestRecord } from './server.ts';
export { opensslMissingReason } from './certs.ts';
export type { FaultRule, FaultEffect } from './faults.ts';
export type { GuestBehaviour } from './guest.ts';
export type { Timing } from './clock.ts';
