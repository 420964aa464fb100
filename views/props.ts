// What the pages are given: every shape a view renders, in one place. Views import only this file and server/model
// types; the web layer builds these values from the domain (server/web/*-model.ts) and never the other way round.
import type { ConnectionReport } from '../server/model/connection-report.ts';
import type { MachineStatus } from '../server/model/deployment.ts';
import type { Plan } from '../server/model/plan.ts';
import type { DeploymentState } from '../server/model/states.ts';
import type { InstanceSnapshot, TestingModeState } from '../server/model/overseer.ts';

export type Role = 'admin' | 'instructor' | 'trainee';

/** Machines per page of a deployment; beyond that the page shows a window with previous/next links. */
export const machinePageSize = 250;

export type MachineModel = MachineStatus & { assignedTo: string | null };

export interface NetworkModel {
  key: string;
  instance: number;
  name: string;
  cidr: string;
  gateway: string;
  vlan?: number;
  internet: boolean;
  /** The network's step: pending, running, done, failed; `destroyed` once teardown removed it. */
  state: string;
}

export interface InstanceModel {
  instance: number;
  assignedTo: string | null;
  total: number;
  ready: number;
  failed: number;
}

export interface DeploymentHead {
  id: string;
  scenarioName: string;
  platformId: string;
  platformName: string;
  platformKind: string;
  instances: number;
  state: DeploymentState;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface DeploymentModel {
  head: DeploymentHead;
  counts: {
    stepsTotal: number;
    stepsDone: number;
    stepsFailed: number;
    machinesTotal: number;
    machinesReady: number;
    machinesFailed: number;
    machinesDestroyed: number;
  };
  /** The machines of the window the page shows. */
  machines: MachineModel[];
  /** How many machines the window selects from (the page's "of N"), and where the window starts. */
  windowTotal: number;
  windowOffset: number;
  windowInstance: number | undefined;
  instances: InstanceModel[];
  networks: NetworkModel[];
  plan: Plan;
  assigned: Map<number, { userId: string; username: string }>;
  lastEventId: number;
}

export interface DashboardRow {
  id: string;
  scenarioName: string;
  platformName: string;
  instances: number;
  state: string;
  error: string | null;
  createdAt: string;
  machines: number;
  ready: number;
}

export interface PlatformHealth {
  id: string;
  name: string;
  kind: string;
  health?: ConnectionReport | undefined;
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The drawing of one instance: networks under the router, machines under their first network, the router's rules. */
export interface TopologyInstance {
  instance: number;
  assignedTo: string | null;
  width: number;
  height: number;
  uplink?: Box;
  router?: Box & { hostname: string; state: string; key: string; addresses: string[] };
  networks: Array<Box & { key: string; name: string; cidr: string; vlan?: number; internet: boolean }>;
  machines: Array<Box & { key: string; hostname: string; os: string; state: string; addresses: string[] }>;
  links: Array<{ x1: number; y1: number; x2: number; y2: number; kind: 'router' | 'primary' | 'secondary' | 'uplink' }>;
  rules: Array<{ from: string; to: string; protocol: string; ports: string; action: string }>;
  forwardDefault?: string;
}

export interface ConfigField {
  name: string;
  label: string;
  type: 'text' | 'number' | 'boolean' | 'enum' | 'list' | 'json';
  options?: string[];
  default?: string;
  required: boolean;
  description?: string;
}

/** A platform kind's form, generated from its driver's config schema. */
export interface PlatformKindForm {
  kind: string;
  title: string;
  fields: ConfigField[];
  /** What the driver's secret is called; absent when it takes none (the simulator). */
  secretLabel?: string;
}

export interface PlatformRow {
  id: string;
  name: string;
  kind: string;
  config: Record<string, unknown>;
  hasSecret: boolean;
}

export interface UserRow {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

export interface TokenRow {
  id: string;
  userId: string;
  username: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface AuditRow {
  id: number;
  at: string;
  username: string;
  ip: string;
  action: string;
  target: string;
  detail: string;
}

// ------------------------------------------------------------------------------------------------ the overseer

export type {
  DeploymentLifecycle,
  Finding,
  InstanceSnapshot,
  JobStatus,
  MachineHealth,
  OverseerPolicy,
  TestingModeState,
} from '../server/model/overseer.ts';

export interface QuotaRow {
  userId: string;
  username: string;
  role: Role;
  machines: number | null;
  vcpus: number | null;
  memoryMb: number | null;
  deployments: number | null;
  usage: { machines: number; vcpus: number; memoryMb: number; deployments: number };
}

/** One instance on the range page: who works in it, its snapshots and testing mode, and what the viewer may do. */
export interface RangeInstance {
  instance: number;
  assignedTo: string | null;
  snapshots: InstanceSnapshot[];
  testing: TestingModeState;
  /** The viewer may reset this instance (staff, or its trainee). */
  canReset: boolean;
  /** The viewer may switch testing mode here (staff, or its trainee when the deployment allows it). */
  canTest: boolean;
}
