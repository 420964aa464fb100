// What the overseer watches, finds and does, as every layer sees it: its jobs and their runs, findings, the auto-fix
// policy per platform, the health of each machine, and the per-deployment lifecycle, quotas, snapshots and testing
// mode it enforces. Types only.

export const overseerJobNames = ['health', 'drift', 'idle', 'expiry'] as const;
export type OverseerJobName = (typeof overseerJobNames)[number];

export type JobResult = 'ok' | 'failed';

export interface JobRun {
  id: number;
  job: OverseerJobName;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  result: JobResult;
  /** One line: what the run saw and did, or why it failed. */
  summary: string;
  /** `schedule` (its cron tick) or `manual` (`glassdome overseer run`, the page, the API). */
  trigger: 'schedule' | 'manual';
  by: string;
}

export interface JobStatus {
  name: OverseerJobName;
  /** Its cron expression (node-cron syntax, seconds optional). */
  schedule: string;
  description: string;
  /** A run in progress: since when and in which process. */
  running: { since: string; owner: string } | null;
  lastRun: JobRun | null;
  /** The last tick that was skipped because the previous run was still going, and what it said. */
  lastSkip: { at: string; reason: string } | null;
  runs: number;
  skips: number;
  failures: number;
}

/** Kinds of finding; the fixable ones have a fix in server/overseer/fixes/, keyed by this name. */
export const findingKinds = [
  'power-off',
  'power-on',
  'guest-agent-missing',
  'address-missing',
  'router-unreachable',
  'router-firewall',
  'testing-mode-missing',
  'vpn-peers-stale',
  'machine-missing',
  'orphan',
  'config-drift',
] as const;
export type FindingKind = (typeof findingKinds)[number];

export const fixableFindingKinds = [
  'power-off',
  'guest-agent-missing',
  'testing-mode-missing',
  'vpn-peers-stale',
  'machine-missing',
  'orphan',
] as const satisfies readonly FindingKind[];
export type FixableFindingKind = (typeof fixableFindingKinds)[number];

export const findingTitles: Record<FindingKind, string> = {
  'power-off': 'stopped outside the appliance',
  'power-on': 'started outside the appliance',
  'guest-agent-missing': 'guest agent not answering',
  'address-missing': 'planned address not reported',
  'router-unreachable': 'router unreachable',
  'router-firewall': "router firewall is not the scenario's",
  'testing-mode-missing': 'testing-mode egress block not loaded',
  'vpn-peers-stale': "router VPN peers are not the appliance's keys",
  'machine-missing': 'machine missing on the platform',
  orphan: 'orphan machine',
  'config-drift': 'configuration drift',
};

export type FixState = 'none' | 'running' | 'fixed' | 'failed' | 'waiting';

export interface Finding {
  id: number;
  kind: FindingKind;
  platformId: string;
  /** The deployment the machine belongs to (or, for an orphan, the one its tag or name names). */
  deploymentId: string | null;
  /** The machine's key in its deployment's plan (`i1.web-1`); null for an orphan. */
  machineKey: string | null;
  resourceName: string;
  externalId: string | null;
  message: string;
  state: 'open' | 'resolved';
  firstSeenAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
  fix: { state: FixState; attempts: number; at: string | null; detail: string | null };
}

/** Per platform, chosen by an admin: `report` only records findings; `fix` also acts on the fixable ones. */
export interface OverseerPolicy {
  platformId: string;
  mode: 'report' | 'fix';
  /** An orphan is destroyed only once it has been seen this long (and only when tagged or named as Glassdome's). */
  orphanGraceMinutes: number;
  updatedAt: string | null;
  updatedBy: string | null;
}

export const defaultOverseerPolicy = { mode: 'report', orphanGraceMinutes: 60 } as const;

export type AgentHealth = 'ok' | 'missing' | 'unknown';
export type RouterHealth = 'ok' | 'unreachable' | 'firewall' | 'unchecked';

/** What the last health sweep saw of one machine. */
export interface MachineHealth {
  deploymentId: string;
  key: string;
  power: string;
  agent: AgentHealth;
  addresses: string[];
  router: RouterHealth | null;
  cpuLoad: number | null;
  checkedAt: string;
  changedAt: string;
}

export type ExpiryStage = 'none' | 'warned' | 'stopped' | 'destroyed';

/** A deployment's lifecycle settings and where the overseer is with them. */
export interface DeploymentLifecycle {
  deploymentId: string;
  ownerId: string | null;
  /** Stop every machine after this many minutes without page/API activity and without CPU load; null: never. */
  idleShutdownMinutes: number | null;
  /** The range's end: warned `warnHours` before, stopped at, destroyed `destroyGraceHours` after. Null: none. */
  endsAt: string | null;
  warnHours: number;
  destroyGraceHours: number;
  expiryStage: ExpiryStage;
  lastActivityAt: string | null;
  lastBusyAt: string | null;
  idleStoppedAt: string | null;
  /** Trainees may switch their own instance into and out of testing mode. */
  traineeTestingMode: boolean;
}

/** Limits per user (instructor); null fields are unlimited. Counted over their deployments that are not destroyed. */
export interface Quota {
  userId: string;
  machines: number | null;
  vcpus: number | null;
  memoryMb: number | null;
  deployments: number | null;
}

export interface QuotaUsage {
  machines: number;
  vcpus: number;
  memoryMb: number;
  deployments: number;
}

export interface InstanceSnapshot {
  deploymentId: string;
  instance: number;
  name: string;
  createdAt: string;
  createdBy: string;
  /** Machine keys the snapshot holds. */
  machines: string[];
  purpose: 'manual' | 'testing';
}

export interface TestingAllowList {
  /** IPv4 addresses or CIDRs. */
  addresses: string[];
  /** DNS names; their addresses are pinned into the router's set as dnsmasq resolves them. */
  domains: string[];
}

export interface TestingModeState {
  deploymentId: string;
  instance: number;
  state: 'on' | 'off';
  allow: TestingAllowList;
  /** The snapshot taken on entering, to which leaving may revert. */
  snapshot: string | null;
  switchedBy: string;
  switchedAt: string;
  /** How the router's firewall was verified after the last switch. */
  verified: string | null;
}
