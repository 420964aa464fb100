// The plan of a deployment as data: every network, machine and step, with the addresses and VLANs it was given.
// Planning (orchestrator/planner.ts) produces it; the executor, agents, drivers and pages read it.
import type { PlatformKind } from './platform-kind.ts';
import type { PlannedWindows, Scenario, ScenarioMachine, ScenarioRule } from './scenario.ts';
import type { VulnerabilityInstance } from './vulnerability.ts';

/** Where pools are involved, what the deployment was given; produced by the IPAM before planning. */
export interface Allocations {
  /** Network name -> CIDR, for scenario networks without one. Shared by every instance (they are isolated). */
  subnets: Record<string, string>;
  /** `${instance}/${network}` -> VLAN id, for on-premises platforms. */
  vlans: Record<string, number>;
}

export interface PlanInput {
  deploymentId: string;
  scenario: Scenario;
  platform: PlatformKind;
  instances: number;
  allocations: Allocations;
  /** Draws selected vulnerability modules; default the scenario's own seed, else a fixed preview seed. */
  seed?: string;
  /** A per-trainee WireGuard VPN into each instance, ending on its range router (on-premises platforms only). */
  vpn?: boolean;
  /** The appliance's package cache (GLASSDOME_PACKAGE_CACHE_URL): machines without internet may install from it. */
  packageCache?: PackageCache;
  /**
   * AWS: how networks with internet reach it: through a range router instance per lab instance (the default, no
   * extra charge) or a managed NAT gateway (billed per hour and per GB). The platform's `egress` setting.
   */
  cloudEgress?: CloudEgress;
}

export type CloudEgress = 'router' | 'nat-gateway';

/** The appliance's package cache: a flat APT repository at `${url}/debian/` (offline-bundle/README.md). */
export interface PackageCache {
  /** Its base URL without a trailing slash, e.g. `http://192.0.2.10:3142`. */
  url: string;
  /** The IPv4 address and TCP port behind the URL: all a range router lets lab machines reach of it. */
  address: string;
  port: number;
}

export interface PlannedNetwork {
  /** Unique in the plan: `i1.dmz`; `uplink` for the platform's own outside network. */
  key: string;
  instance: number;
  /** Scenario network name (`uplink` for the uplink). */
  name: string;
  /** The platform resource name, carrying the deployment id. */
  resourceName: string;
  kind: 'isolated' | 'uplink';
  cidr: string;
  gateway: string;
  vlan?: number;
  dhcp: boolean;
  internet: boolean;
  /**
   * AWS only, on networks with internet: `gateway` routes straight to the internet gateway and gives its machines
   * public addresses (a firewall rule lets the internet in to it, or it is the instance's edge network that holds the
   * router or NAT gateway); `router` sends its default route to the instance's range router; `nat-gateway` to the
   * instance's NAT gateway. Absent: `gateway` (plans made before the range router existed on AWS).
   */
  egress?: 'gateway' | 'router' | 'nat-gateway';
  /** AWS edge network with `cloudEgress: nat-gateway`: the instance's NAT gateway is made in it. */
  natGateway?: boolean;
}

export interface PlannedNic {
  networkKey: string;
  /** Deterministic MAC, so first-boot network configuration can match the NIC on any platform. */
  mac: string;
  /** Static address; absent on the router's uplink, which takes DHCP. */
  ip?: string;
  prefix: number;
  /** The default route goes through the first NIC that has a gateway. */
  gateway?: string;
  /**
   * Azure: the NIC gets a public address, because a firewall rule lets the internet in to it (`from: "*"`) and its
   * network has internet. (AWS decides per network: see PlannedNetwork.egress.)
   */
  publicIp?: boolean;
}

export interface PlannedUser {
  name: string;
  sudo: boolean;
  sshKeys: string[];
  groups: string[];
  shell: string;
  /** `scenario`: the scenario file gives it; `generated`: derived from the deployment's secret at run time. */
  password: 'scenario' | 'generated';
}

export interface FirewallRule {
  /** CIDRs or single addresses (/32). */
  from: string[];
  to: string[];
  protocol: ScenarioRule['protocol'];
  ports: Array<[number, number]>;
  action: 'allow' | 'deny';
}

/** The WireGuard side of a range router: its interface, its tunnel address and its peers' (keys are not in the plan). */
export interface RouterVpn {
  /** The interface name, unique per instance (`wg-i1`): userspace WireGuard names its control socket after it. */
  ifname: string;
  port: number;
  /** The tunnel network, the same in every instance (instances are isolated), outside every scenario network. */
  cidr: string;
  address: string;
  peers: Array<{ role: 'trainee' | 'instructor'; address: string }>;
}

export interface RouterConfig {
  /** Isolated networks, in NIC order. */
  lans: Array<{ networkKey: string; cidr: string; address: string; prefix: number; dhcp: boolean; internet: boolean }>;
  /** Present when any network has internet egress or the deployment has a VPN: the NIC that faces the platform's network. */
  uplinkNic?: number;
  forwardDefault: 'allow' | 'deny';
  rules: FirewallRule[];
  /** CIDRs masqueraded out of the uplink. */
  nat: string[];
  /** The deployment's VPN, when it has one. */
  vpn?: RouterVpn;
  /**
   * Clouds: a one-armed router. Its single NIC (`uplinkNic` 0, on the instance's edge network) receives the traffic
   * the cloud's route tables send it from the `nat` networks, and sends it to the internet masqueraded; `labCidrs`
   * (the instance's scenario networks) and `edgeCidr` (its own) are never forwarded to, since the cloud routes between
   * them itself, except from the VPN's peers into `labCidrs`. `lans` is empty: the router has no NIC on them, and
   * serves no DNS or DHCP (the cloud does).
   */
  cloud?: { labCidrs: string[]; edgeCidr: string };
  /**
   * Present when lab machines of this instance install from the package cache: the router forwards TCP from `from`
   * (their addresses) to the cache's address and port only, out of the uplink and masqueraded.
   */
  packageCache?: { address: string; port: number; from: string[] };
}

export interface PlannedMachine {
  /** Unique in the plan: `i1.web-1`. */
  key: string;
  instance: number;
  /** The scenario machine it comes from (`router` for the router). */
  source: string;
  hostname: string;
  resourceName: string;
  role: 'machine' | 'router';
  os: string;
  size: { cpus: number; memoryMb: number; diskGb: number };
  nics: PlannedNic[];
  dns: string[];
  dependsOn: string[];
  users: PlannedUser[];
  packages: string[];
  files: ScenarioMachine['files'];
  run: string[];
  /** The catalogue modules applied to it, every parameter decided (flags and passwords derive at boot). */
  vulnerabilities: VulnerabilityInstance[];
  overrides: ScenarioMachine['platform'];
  router?: RouterConfig;
  /**
   * True when first boot installs the machine's packages from the plan's package cache (it has no internet; a range
   * router leads to the cache). Absent: from the internet when a network of its has it, else its template must hold them.
   */
  packageCache?: boolean;
  /** Windows machines only; absent means a standalone machine with the default remote access. */
  windows?: PlannedWindows;
}

export type StepKind = 'network' | 'create' | 'start' | 'address' | 'ready';

export interface PlannedStep {
  /** `net:i1.dmz`, `i1.web-1:create`, ... */
  key: string;
  kind: StepKind;
  /** The network or machine key it acts on. */
  target: string;
  dependsOn: string[];
}

/** A deployment's VPN: where peers connect and which networks they reach (per instance, through its router). */
export interface PlannedVpn {
  port: number;
  cidr: string;
  /** Which address a peer's `Endpoint` uses on this platform (the router's uplink lease), in words. */
  endpoint: string;
}

export interface Plan {
  deploymentId: string;
  scenario: string;
  platform: PlatformKind;
  instances: number;
  /** The vulnerability selection seed: the same seed gives every instance the same modules again. */
  seed: string;
  /** The scenario's firewall with every endpoint resolved to addresses (the same in every instance): what a range
   * router enforces on premises and what a cloud turns into its own filters. */
  firewall: { default: 'allow' | 'deny'; rules: FirewallRule[] };
  networks: PlannedNetwork[];
  machines: PlannedMachine[];
  steps: PlannedStep[];
  vpn?: PlannedVpn;
  /** The package cache machines install from (present when one does: PlannedMachine.packageCache). */
  packageCache?: PackageCache;
  /** What the plan decided that the scenario does not say, in words: which machines install from the package cache. */
  notes?: string[];
}
