// The interface every deployment target implements: simulator, Proxmox VE, ESXi, AWS, Azure.
// Drivers know nothing of scenarios or plans: they receive concrete network and machine specs.
// Every resource a driver creates carries the deployment id (tag, label or name prefix) so orphans can be found.
import type { Db } from '../db/client.ts';
import type { FirewallRule } from '../model/plan.ts';
import type { PlatformKind } from '../model/platform-kind.ts';

export interface CallOptions {
  /** Aborts the call; a driver stops waiting and throws. */
  signal?: AbortSignal;
}

export interface ConnectionReport {
  ok: boolean;
  /** e.g. "Proxmox VE 9.1.2", "VMware ESXi 8.0.3", "simulator". */
  product: string;
  version?: string;
  /** What the driver checked, one line each, including what is missing (privileges, datastores). */
  details: string[];
  /** What the target offers, for the setup wizard's choices. */
  choices?: { nodes?: string[]; storages?: string[]; networks?: string[]; templates?: TemplateInfo[] };
}

export interface TemplateInfo {
  id: string;
  name: string;
  /** The catalog OS key the template is mapped to, if known. */
  os?: string;
}

export interface NetworkSpec {
  deploymentId: string;
  /** Unique platform name, carrying the deployment id: gd-<id>-i1-dmz. */
  name: string;
  /** `isolated`: a segment the driver creates; `uplink`: the platform's existing outside network (nothing is created). */
  kind: 'isolated' | 'uplink';
  cidr: string;
  gateway: string;
  vlan?: number;
  /**
   * Clouds only (no router is planned there): whether machines on this network may reach the internet; absent
   * means no. On-premises drivers ignore it (their router's NAT decides).
   */
  internet?: boolean;
  /**
   * Clouds only: the scenario's firewall, enforced by the cloud's own filters (security groups). Every rule with its
   * endpoints resolved to addresses, as the plan resolves them for a router; a driver applies to each network the
   * rules whose destination lies in it (and rules to `0.0.0.0/0` as egress of their source). Absent: traffic
   * between networks is denied and traffic within a network allowed.
   */
  firewall?: { default: 'allow' | 'deny'; rules: FirewallRule[] };
}

export interface NetworkRef {
  /** The platform's id: a bridge+tag, a port group name, a subnet id. */
  id: string;
  name: string;
}

export interface MachineSpec {
  deploymentId: string;
  /** Unique platform name, carrying the deployment id: gd-<id>-i1-web-1. Creating is idempotent by this name. */
  name: string;
  hostname: string;
  /** Catalog OS key; the driver maps it to a template or image. */
  os: string;
  /** A platform-specific template or image that overrides the catalog mapping. */
  template?: string;
  cpus: number;
  memoryMb: number;
  diskGb: number;
  /**
   * In NIC order; `ip` is informational for drivers that must reserve it (clouds), the guest configures itself.
   * `publicIp` (clouds only) gives the NIC an address reachable from the internet; inbound traffic still needs a
   * firewall rule from `*`.
   */
  nics: Array<{ network: NetworkRef; mac: string; ip?: string; publicIp?: boolean }>;
  /** First-boot configuration (cloud-init NoCloud documents). */
  cloudInit?: { userData: string; networkConfig: string; metaData: string };
  /** Driver-specific options from the scenario's `platform` block. */
  options?: Record<string, unknown>;
}

export interface MachineRef {
  /** The platform's id: a VMID, a MoRef, an instance id. */
  id: string;
  name: string;
}

export type PowerState = 'running' | 'stopped' | 'paused' | 'missing';

export interface MachineState {
  power: PowerState;
  /** Guest addresses reported so far (loopback, link-local and APIPA removed). */
  addresses: string[];
}

export interface GuestExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface SnapshotInfo {
  name: string;
  createdAt?: string;
}

export interface OwnedResource {
  kind: 'machine' | 'network' | 'disk' | 'other';
  id: string;
  name: string;
}

export interface Platform {
  readonly kind: PlatformKind;
  /** Which optional capabilities this driver has. */
  readonly supports: { snapshots: boolean; guestExec: boolean };
  /** How many machine creations (clones) the platform runs at once, over all its storages, when it knows. */
  readonly cloneSlots?: number;
  /** Simulated platforms run faster than real time; the runner scales its timeouts and backoff by this (default 1). */
  readonly timeScale?: number;

  /** Checks credentials, reachability and privileges. Never throws for a bad target: reports `ok: false` with why. */
  testConnection(opts?: CallOptions): Promise<ConnectionReport>;

  /**
   * Creates the isolated segment, or returns the existing one of the same name (idempotent).
   * For `uplink`, returns the platform's configured outside network without creating anything.
   * Throws AppError (transient for lock/rate-limit errors, platform_error otherwise).
   */
  ensureNetwork(spec: NetworkSpec, opts?: CallOptions): Promise<NetworkRef>;

  /** Removes a segment this driver created. Succeeds when it is already gone. */
  deleteNetwork(ref: NetworkRef, opts?: CallOptions): Promise<void>;

  /**
   * Creates a stopped machine from its template or image, configured (CPU, memory, disk, NICs, first-boot data).
   * Idempotent by `spec.name`: when a machine of that name and deployment exists, returns it and creates nothing.
   * A half-created machine from an interrupted call is completed or replaced, never duplicated.
   */
  createMachine(spec: MachineSpec, opts?: CallOptions): Promise<MachineRef>;

  /**
   * Powers on. Succeeds when already running. Throws not_found when the machine is gone.
   * `spec` is what the machine was created from: a cloud VM boots as it is created, so drivers that create it only
   * at its first start (Azure) need it then, also in a process that did not create it (after a crash). The executor
   * passes it on every start; other drivers ignore it.
   */
  startMachine(ref: MachineRef, opts?: CallOptions & { spec?: MachineSpec }): Promise<void>;

  /** Powers off (graceful shutdown first unless `force`). Succeeds when already stopped or gone. */
  stopMachine(ref: MachineRef, opts?: CallOptions & { force?: boolean }): Promise<void>;

  /** Current power state and addresses. A machine that does not exist is `{ power: 'missing' }`, not an error. */
  getMachineState(ref: MachineRef, opts?: CallOptions): Promise<MachineState>;

  /**
   * Waits, bounded by `timeoutMs`, until the guest reports at least one usable address; returns them.
   * Throws AppError('timeout') naming the machine when none appears in time.
   */
  waitForAddress(ref: MachineRef, opts: CallOptions & { timeoutMs: number }): Promise<string[]>;

  /**
   * Waits, bounded by `timeoutMs`, until first-boot configuration has finished in the guest (cloud-init done).
   * Throws AppError('platform_error') when the guest reports that it failed, AppError('timeout') when it takes too long.
   */
  waitForReady(ref: MachineRef, opts: CallOptions & { timeoutMs: number }): Promise<void>;

  /**
   * Runs a program in the guest through the platform's own channel to it (the QEMU guest agent, VMware Tools guest
   * operations) and returns its exit code and output; a non-zero exit is a result, not an error. Only where
   * `supports.guestExec`; throws AppError('platform_error') naming the machine when the channel does not answer,
   * AppError('timeout') after `timeoutMs`. Used to verify what first boot did (the router's firewall, addresses).
   */
  guestExec?(ref: MachineRef, argv: string[], opts: CallOptions & { timeoutMs: number }): Promise<GuestExecResult>;

  /** Snapshots; each throws AppError('invalid_input') where `supports.snapshots` is false. */
  createSnapshot(ref: MachineRef, name: string, opts?: CallOptions): Promise<void>;
  listSnapshots(ref: MachineRef, opts?: CallOptions): Promise<SnapshotInfo[]>;
  revertSnapshot(ref: MachineRef, name: string, opts?: CallOptions): Promise<void>;
  /** Succeeds when the snapshot is already gone. */
  deleteSnapshot(ref: MachineRef, name: string, opts?: CallOptions): Promise<void>;

  /** Stops and deletes the machine with its disks and first-boot media. Succeeds when it is already gone. */
  destroyMachine(ref: MachineRef, opts?: CallOptions): Promise<void>;

  /** Everything on the platform that carries this deployment's id: what teardown and the overseer work from. */
  listOwned(deploymentId: string, opts?: CallOptions): Promise<OwnedResource[]>;

  /** Releases sessions and timers. */
  close(): Promise<void>;
}

/** Addresses worth reporting: not loopback, not link-local (IPv4 APIPA 169.254/16, IPv6 fe80::/10). */
export function isUsableGuestAddress(ip: string): boolean {
  const v = ip.toLowerCase();
  if (v.startsWith('127.') || v === '::1' || v.startsWith('169.254.')) return false;
  if (/^fe[89ab][0-9a-f]:/.test(v)) return false;
  return v.length > 0;
}

/** What the registry hands every driver factory, beside its parsed config; a driver takes the part it uses. */
export interface DriverDeps {
  db: Db;
  /** The platform record's id: scopes a driver's state (the simulator's inventory, caches). */
  platformId: string;
  /** The opened secret (password, token, key) of the platform record, if it has one. */
  secret?: string;
  /** A folder the driver may keep caches in (converted disk images); inside the appliance's data folder. */
  cacheDir?: string;
}
