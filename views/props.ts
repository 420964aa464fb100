// What the pages are given: every shape a view renders, in one place. Views import only this file and server/model
// types; the web layer builds these values from the domain (server/web/*-model.ts) and never the other way round.
import type { ConnectionReport } from '../server/model/connection-report.ts';
import type { MachineStatus } from '../server/model/deployment.ts';
import type { Plan } from '../server/model/plan.ts';
import type { DeploymentState } from '../server/model/states.ts';
import type { InstanceSnapshot, TestingModeState } from '../server/model/overseer.ts';
import type { TraineeVpnState } from '../server/model/vpn.ts';

export type Role = 'admin' | 'instructor' | 'trainee';

/** Machines per page of a deployment; beyond that the page shows a window with previous/next links. */
export const machinePageSize = 250;

/**
 * A built machine's power as last seen by the overseer's health sweep (or, before any sweep, as last asked), beside
 * its deployment state: a ready machine someone stopped is still "ready" as a deployment, and says "stopped" here.
 */
export interface MachinePowerModel {
  /** running, stopped, paused, missing; `unknown` before the first sweep when nothing was asked. */
  state: string;
  /** The appliance asked for it (a person, idle shutdown or expiry): stopped on purpose, not a problem. */
  asked: boolean;
  checkedAt: string | null;
}

export type MachineModel = MachineStatus & { assignedTo: string | null; power?: MachinePowerModel | undefined };

export interface NetworkModel {
  key: string;
  instance: number;
  name: string;
  cidr: string;
  gateway: string;
  vlan?: number;
  internet: boolean;
  /** AWS: how its internet goes, when not straight to the internet gateway (`router`, `nat-gateway`). */
  egress?: string;
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
  /** The deployment has a per-trainee VPN (its range page offers the configurations). */
  vpn?: boolean;
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
  /** `sub`: the line under the router's name (a cloud's one-armed router says what it carries). */
  router?: Box & { hostname: string; state: string; key: string; addresses: string[]; sub?: string };
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

/** One packer template build of a platform, as its Templates page shows it; the variables come by download only. */
export interface TemplateBuildRow {
  template: string;
  title: string;
  builder: string;
  varsFile: string;
  varsFileName: string;
  /** Where the page downloads the variables file (an audited API route). */
  varsUrl: string;
  credential: string;
  toFill: Array<{ variable: string; what: string }>;
  uploads: Array<{ what: string; where: string; variable?: string | undefined; ready?: boolean | undefined }>;
  commands: Array<{ purpose: string; command: string }>;
  notes: string[];
  after: string;
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

// ---- Ask, Research, Flags ---------------------------------------------------------------------------------------

export interface AskPassageModel {
  collection: string;
  source: string;
  title: string;
  headings: string[];
  /** Where the passage comes from: an appliance page (href set) or a repository path with its anchor. */
  link: string;
  href?: string | undefined;
  text: string;
  scores: { fused: number; vector: number | null; keyword: number | null };
}

export interface AskModel {
  q: string;
  k: number;
  /** Absent until a question is asked. */
  mode?: 'hybrid' | 'keyword' | undefined;
  notice?: string | undefined;
  collections: string[];
  passages: AskPassageModel[];
  building: boolean;
  error?: string | undefined;
}

/** What an admin sees of the knowledge base. */
export interface KnowledgeStatusModel {
  mode: 'hybrid' | 'keyword';
  model: string;
  modelReason?: string | undefined;
  chunks: Array<{ collection: string; count: number }>;
  total: number;
  unembedded: number;
  vectors: number;
  warnings: string[];
  building: boolean;
  lastSync?:
    { at: string; ms: number; added: number; removed: number; unchanged: number; embedded: number } | undefined;
  lastError?: string | undefined;
}

export interface CveRowModel {
  id: string;
  state: string;
  published: string | null;
  cvss: { version: string; score: number; severity: string | null } | null;
  description: string;
  products: string[];
  cwes: string[];
  references: string[];
}

export interface CveSearchModel {
  /** The form's fields as typed. */
  values: Record<string, string>;
  errors: Record<string, string>;
  searched: boolean;
  total: number;
  results: CveRowModel[];
  offset: number;
  limit: number;
}

export interface ModuleSuggestionModel {
  id: string;
  title: string;
  category: string;
  difficulty?: string | undefined;
  score: number;
  reasons: string[];
  cves: Array<{ id: string; score: number | null }>;
}

export interface SuggestModel {
  description: string;
  error?: string | undefined;
  machine?:
    { image?: string | undefined; family?: string | undefined; roles: string[]; products: string[] } | undefined;
  modules: ModuleSuggestionModel[];
  cves: CveRowModel[];
}

export interface LlmSettingsModel {
  baseUrl: string;
  model: string;
  timeoutMs: number;
  maxTokens: number;
  hasKey: boolean;
}

export interface DraftModel {
  label: string;
  text: string;
  model: string;
  createdAt: string;
}

export interface ResearchStatusModel {
  cves: number;
  records: { nvd: number; cve5: number };
  lastImport?: { file: string; finishedAt: string } | undefined;
}

export interface ModuleDetailModel {
  id: string;
  title: string;
  category: string;
  difficulty: string;
  summary: string;
  challenge: string;
  os: string[];
  cwe: string[];
  cve: string[];
  links: string[];
  hints: Array<{ text: string; cost: number }>;
  flagLocation: string;
  marking: string;
  explanation: string;
  cves: CveRowModel[];
}

/** One module instance of a deployment, for instructors: the flag and how it is found. */
export interface FlagRowModel {
  instance: number;
  machine: string;
  hostname: string;
  module: string;
  title: string;
  category: string;
  difficulty: string;
  points: number;
  kind: 'planted' | 'answer';
  flag: string;
  location: string;
  challenge: string;
  hints: Array<{ text: string; cost: number }>;
  marking: string;
  accounts: Array<{ user: string; password: string; foothold: boolean }>;
  selected: boolean;
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
  /** Its trainee's VPN seat (staff only; null without a VPN): whether the router holds the seat's current key. */
  vpn: TraineeVpnState | null;
  snapshots: InstanceSnapshot[];
  testing: TestingModeState;
  /** The viewer may reset this instance (staff, or its trainee). */
  canReset: boolean;
  /** The viewer may switch testing mode here (staff, or its trainee when the deployment allows it). */
  canTest: boolean;
}
