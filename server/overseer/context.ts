// What the overseer's jobs and fixes share: the domain they read and act through, the clock, the policies, and the
// options an appliance may tune. Built once by createOverseer; tests build it with an injected clock.
import type { Db } from '../db/client.ts';
import type { AuditSink } from '../model/audit.ts';
import type { Finding, OverseerPolicy } from '../model/overseer.ts';
import type { Deployments } from '../orchestrator/deployments.ts';
import type { EventBus } from '../orchestrator/event-bus.ts';
import type { GuestChannel } from '../orchestrator/guest-channel.ts';
import type { Lifecycle } from '../orchestrator/lifecycle.ts';
import type { Runner } from '../orchestrator/run/runner.ts';
import type { RangeAccess } from '../orchestrator/ssh-targets.ts';
import type { TestingMode } from '../orchestrator/testing-mode.ts';
import type { VpnPeers } from '../orchestrator/vpn-peers.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { SshConnectOptions } from '../ssh/connection.ts';
import type { Findings } from './findings.ts';
import type { Watch } from './watch.ts';
import type { FailureMemory } from './seen-before.ts';

export interface OverseerOptions {
  /** How long a running guest has before a silent guest agent, a missing address or router becomes a finding. */
  agentGraceMs: number;
  /** CPU load (0..1) of any machine above which its deployment counts as in use for idle shutdown. */
  busyCpu: number;
  /** Per-machine and per-router calls in flight at once, per platform. */
  concurrency: number;
  /** Fixes running at once, and how many times one finding is tried before the overseer gives up on it. */
  fixConcurrency: number;
  maxFixAttempts: number;
  /** Where a range without internet installs the guest agent from (an apt repository in flat form). */
  packageCacheUrl?: string;
  /** SSH options for the guest-agent fix (tests shorten the retries). */
  ssh?: Omit<SshConnectOptions, 'signal'>;
  /** Timings of the guest-agent fix (tests shorten them). */
  guestAgentFix?: { checkTimeoutMs?: number; verifyTimeoutMs?: number; retryDelay?: { baseMs: number; maxMs: number } };
}

export const defaultOverseerOptions: OverseerOptions = {
  agentGraceMs: 5 * 60_000,
  busyCpu: 0.1,
  concurrency: 16,
  fixConcurrency: 4,
  maxFixAttempts: 5,
};

export interface OverseerDeps {
  db: Db;
  platforms: PlatformStore;
  events: EventBus;
  audit: AuditSink;
  runner: Runner;
  deployments: Deployments;
  lifecycle: Lifecycle;
  testing: TestingMode;
  vpnPeers: VpnPeers;
  access: RangeAccess;
  channel: GuestChannel;
  /** Earlier failures like a new one, for the "seen before" line on a failing deployment's stream. */
  knowledge?: FailureMemory;
  /** The clock every job reads; tests inject one and never sleep. */
  now?: () => Date;
  /** Where job failures and skips are logged (default: console.error / console.log). */
  log?: (line: string) => void;
  options?: Partial<OverseerOptions>;
}

/** What every job and fix receives. */
export interface OverseerContext {
  deps: OverseerDeps;
  options: OverseerOptions;
  findings: Findings;
  watch: Watch;
  policy(platformId: string): OverseerPolicy;
  now(): Date;
  log(line: string): void;
  /** Starts fixes for open findings, by each platform's policy; returns how many started. */
  fix(open: Finding[]): number;
  /** Publishes on a deployment's stream when this appliance knows the deployment (an orphan's may not exist). */
  publish(deploymentId: string | null, message: string, stepKey?: string | null): void;
}
