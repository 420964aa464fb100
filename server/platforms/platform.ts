// The interface every deployment target implements: simulator, Proxmox VE, ESXi, AWS, Azure.
// Drivers know nothing of scenarios or plans: they receive concrete network and machine specs.
// Every resource a driver creates carries the deployment id (tag, label or name prefix) so orphans can be found.
import type WebSocket from 'ws';
import type { Db } from '../db/client.ts';
import type { ConnectionReport } from '../model/connection-report.ts';
import type { PlatformKind } from '../model/platform-kind.ts';

export interface CallOptions {
  /** Aborts the call; a driver stops waiting and throws. */
  signal?: AbortSignal;
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
  /** The network has internet egress (the scenario's `internet: true`); clouds route it to their internet gateway. */
  internet?: boolean;
  /**
   * Clouds, which route and filter natively instead of through a router machine: the lab instance this network
   * belongs to, the same value for every network of one instance. Drivers size the instance's address space from
   * `networks` and enforce `firewall` between them. Absent: the network stands alone, and nothing crosses from it to
   * another network.
   */
  range?: RangeSpec;
  /**
   * Clouds, on networks with internet, how they reach it: `gateway` (the default) straight to the internet gateway,
   * with public addresses for single-NIC machines; `router` through the instance's range router, whose machine
   * (`MachineSpec.routesFor`) points the network's default route at itself when it starts; `nat-gateway` through the
   * NAT gateway of the instance's network that has `natGateway`.
   */
  egress?: 'gateway' | 'router' | 'nat-gateway';
  /** Clouds: make the instance's NAT gateway in this network (which has `egress: gateway`). */
  natGateway?: boolean;
}

/** One lab instance's networks and firewall, as a cloud driver needs them to build its address space and filters. */
export interface RangeSpec {
  /** Every isolated network of the instance, by platform name (the `name` of its NetworkSpec). */
  networks: Array<{ name: string; cidr: string; internet: boolean; egress?: 'gateway' | 'router' | 'nat-gateway' }>;
  firewall: FirewallPolicy;
  /**
   * The instance's edge network (platform name), when it has one: it holds the range router or NAT gateway, and takes
   * in the internet traffic of the networks whose egress is `router`. The scenario's rules do not apply to it.
   */
  edge?: string;
  /**
   * The instance's VPN, when it has one: its peers' tunnel network, which every network's route table sends to the
   * range router (`MachineSpec.vpnCidr`), and the UDP port the router listens on.
   */
  vpn?: { cidr: string; port: number };
}

/**
 * The scenario's firewall resolved to addresses: `rules` in order, the first that matches decides; `default` decides
 * traffic between the instance's networks that no rule matches. Traffic within one network is always allowed, and
 * internet egress is allowed from networks with `internet` unless a rule denies it.
 */
export interface FirewallPolicy {
  default: 'allow' | 'deny';
  rules: TrafficRule[];
}

export interface TrafficRule {
  /** CIDRs or single addresses (/32); `0.0.0.0/0` is anywhere. */
  from: string[];
  to: string[];
  protocol: 'tcp' | 'udp' | 'icmp' | 'any';
  /** [first, last] port ranges, for tcp and udp; empty means every port. */
  ports: Array<[number, number]>;
  action: 'allow' | 'deny';
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
  /**
   * The deployment's SSH public key (one OpenSSH line). Clouds install it for the image's default user through their
   * own mechanism (an EC2 key pair); the users of `cloudInit` are unaffected.
   */
  sshPublicKey?: string;
  /**
   * Clouds: the machine is its instance's range router. Its NIC does not check source and destination (it forwards
   * others' traffic), and once it runs, the default route of these networks (platform names) goes through it.
   */
  routesFor?: string[];
  /** Clouds, on the range router: the VPN's tunnel network, which every network of its instance routes to it. */
  vpnCidr?: string;
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

export interface FirstBootDelivery {
  /** e.g. "snippets on storage nfs-snippets", "NoCloud seed ISO on storage local", "EC2 user data". */
  method: string;
  complete: boolean;
  detail: string;
}

export interface PlatformCapacity {
  cpus?: number;
  memoryMb?: number;
  storageGb?: number;
  /** How the figures were obtained, e.g. "node pve1: 61 GiB free memory; storage local-lvm: 812 GiB free". */
  detail: string;
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

/**
 * A machine's graphical console, asked for with the platform's own credentials: a single-use channel the appliance
 * opens itself and relays (the browser never sees the platform, its credentials or this ticket).
 */
export interface ConsoleTicket {
  /** `vnc`: the socket carries RFB, its security handshake still to be done with `password`. */
  protocol: 'vnc';
  /** The password of the VNC authentication for this one connection. Never logged, never sent to a browser. */
  password: string;
  /** After this (epoch ms) the platform refuses `connect`; ask for a new ticket. */
  expiresAt: number;
  /** Opens the console: binary WebSocket messages carry the protocol's bytes. Call once, soon after the ticket. */
  connect(opts?: CallOptions): Promise<WebSocket>;
}

export interface OwnedResource {
  kind: 'machine' | 'network' | 'disk' | 'other';
  id: string;
  name: string;
}

/** One machine as a platform's batched inventory reports it. */
export interface InventoryMachine {
  /** The platform's id (a VMID, a MoRef). */
  id: string;
  name: string;
  /** The deployment its tag, extra config or `gd-<deployment>-` name carries. */
  deploymentId: string;
  /** `tag`: marked by its tag or extra config (and name); `name`: only its name says it is Glassdome's. */
  owner: 'tag' | 'name';
  power: PowerState;
  cpus?: number;
  memoryMb?: number;
  /**
   * Clouds: the named size it runs as (an EC2 instance type, an Azure VM size), whose vCPUs and memory `cpus` and
   * `memoryMb` are. The driver chose the smallest size that holds the plan, so they may be more than planned.
   */
  size?: string;
  /** Fraction of its vCPUs busy (0..1), where the platform reports it. */
  cpuLoad?: number;
  /** With `guest`: whether the guest agent answers; absent when it could not be told. */
  agent?: boolean;
  /** With `guest` (or where the batch carries them anyway): usable guest addresses; absent when unknown. */
  addresses?: string[];
  /** With `config`: the NICs in order, each with the NetworkRef id it is on and the VLAN it carries, if any. */
  nics?: Array<{ network: string; vlan?: number; mac?: string }>;
}

export interface InventoryOptions extends CallOptions {
  /** Only machines of these deployments; absent: every machine marked as Glassdome's (orphans included). */
  deploymentIds?: readonly string[];
  /** Also the guest agent's answer and the addresses (Proxmox: one agent call per running VM on top of the list). */
  guest?: boolean;
  /** Also each machine's NICs (Proxmox: one config read per VM on top of the list). */
  config?: boolean;
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
   * Waits, bounded by `timeoutMs`, until the guest reports at least one usable address, or with `expect`, every one
   * of those addresses (the plan's static ones); returns what it reports. Throws AppError('timeout') naming the
   * machine, the addresses still missing and those it reports instead.
   */
  waitForAddress(ref: MachineRef, opts: CallOptions & { timeoutMs: number; expect?: string[] }): Promise<string[]>;

  /**
   * Waits, bounded by `timeoutMs`, until first-boot configuration has finished in the guest (cloud-init done).
   * Throws AppError('platform_error') when the guest reports that it failed, AppError('timeout') when it takes too long.
   */
  waitForReady(ref: MachineRef, opts: CallOptions & { timeoutMs: number }): Promise<void>;

  /**
   * Runs a program in the guest through the platform's own channel to it (the QEMU guest agent, VMware Tools guest
   * operations) and returns its exit code and output; a non-zero exit is a result, not an error. Only where
   * `supports.guestExec`; throws AppError('transient') naming the machine when the guest's agent does not answer (not
   * started yet, stopped, not installed), AppError('platform_error') when the channel is not configured or not
   * allowed, AppError('timeout') after `timeoutMs`. Used to verify what first boot did (the router's firewall, addresses).
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

  /**
   * Every machine marked as Glassdome's (tag, extra config or `gd-<deployment>-` name; templates and other VMs are
   * left out), read in one batch where the API allows: power, size and load, and on request the guest agent and
   * addresses (`guest`) and the NICs (`config`). What the overseer's health and drift sweeps work from; where absent
   * they fall back to getMachineState per machine. Never throws for a machine that vanishes while it is read.
   */
  inventory?(opts?: InventoryOptions): Promise<InventoryMachine[]>;

  /**
   * How first-boot data reaches this platform's guests, checked against the platform now (a snippets storage the
   * nodes share, an ISO storage that takes uploads). `complete: false`: only part of it would arrive (e.g. only the
   * user and network fields), so the executor refuses to deploy, before creating anything, with `detail`.
   * Absent: the platform always delivers the whole user data (clouds).
   */
  firstBootDelivery?(opts?: CallOptions): Promise<FirstBootDelivery>;

  /**
   * What the platform can still hold now: free vCPUs, memory and storage (and quotas where readable); absent fields
   * are unknown. The executor refuses a deployment that needs more, before creating anything, with the numbers.
   */
  capacity?(opts?: CallOptions): Promise<PlatformCapacity>;

  /**
   * A ticket for the machine's graphical console (Proxmox: vncproxy + vncwebsocket). Only where the platform has a
   * console it can hand out; absent elsewhere (ESXi's WebMKS and the clouds' serial consoles are not built). Throws
   * AppError('not_found') when the machine is gone and AppError('conflict') naming it when it is not running.
   */
  consoleTicket?(ref: MachineRef, opts?: CallOptions): Promise<ConsoleTicket>;

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

/** The deployment a Glassdome resource name carries: `gd-<deployment>-...`; undefined for any other name. */
export function deploymentOfName(name: string): string | undefined {
  return /^gd-([a-z0-9]+)-./.exec(name)?.[1];
}
