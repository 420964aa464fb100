// Planning: a pure function from scenario + platform + instance count + allocations to every network,
// machine and step of a deployment. Same input, same plan; no I/O and no secrets.
import crypto from 'node:crypto';
import { AppError } from '../errors.ts';
import { packageCacheOs } from '../agents/package-cache.ts';
import {
  containsIp,
  intToIp,
  ipToInt,
  isUsableHost,
  lastAddress,
  overlaps,
  parseSubnet,
  subnetSize,
  type Subnet,
} from '../ipam/cidr.ts';
import { osCatalog, routerOs, sizes } from '../model/catalog.ts';
import type {
  CloudEgress,
  FirewallRule,
  PackageCache,
  Plan,
  PlanInput,
  PlannedMachine,
  PlannedNetwork,
  PlannedNic,
  PlannedStep,
  PlannedUser,
  PlannedVpn,
  RouterConfig,
} from '../model/plan.ts';
import type { PlatformKind } from '../model/platform-kind.ts';
import type { Scenario, ScenarioMachine } from '../model/scenario.ts';
import type { VulnerabilityInstance } from '../model/vulnerability.ts';
import { defaultCatalogue } from '../reaper/catalogue.ts';
import { resolveVulnerabilities } from '../reaper/selection.ts';
import { replicaNames } from './scenario/normalize.ts';

/** Platforms on premises need a router machine per instance; clouds route and filter natively. */
export const onPremises: Record<PlatformKind, boolean> = {
  simulator: true,
  proxmox: true,
  esxi: true,
  aws: false,
  azure: false,
};

/** The first host address given to machines without a static one; lower ones stay free for gateways and services. */
const firstDynamicHost = 10;
export const defaultUserName = 'glassdome';
export const uplinkKey = 'uplink';

/** What the IPAM must allocate before this scenario can be planned. */
export function allocationNeeds(
  scenario: Scenario,
  platform: PlatformKind,
  instances: number,
): { subnets: string[]; vlans: string[] } {
  const subnets = scenario.networks.filter((n) => n.cidr === undefined).map((n) => n.name);
  const vlans: string[] = [];
  if (onPremises[platform])
    for (let i = 1; i <= instances; i++)
      for (const n of scenario.networks) if (n.vlan === undefined) vlans.push(`${i}/${n.name}`);
  return { subnets, vlans };
}

export function instanceLabel(instance: number): string {
  return `i${instance}`;
}

export function resourceName(deploymentId: string, instance: number, name: string): string {
  return `gd-${deploymentId}-${instanceLabel(instance)}-${name}`;
}

/** The WireGuard port every range router listens on (UDP, on its uplink). */
export const vpnPort = 51820;

/** Which address a VPN peer's Endpoint is, per platform: the router's lease on the platform's uplink network. */
export const vpnEndpoints: Record<PlatformKind, string | undefined> = {
  proxmox:
    "the range router's DHCP address on the Proxmox uplink (platform setting uplink.bridge and uplink.vlan; by default the bridge of the lab networks, untagged)",
  esxi: 'the range router\'s DHCP address on the ESXi port group named by the platform setting uplinkPortGroup (default "VM Network")',
  simulator:
    "the range router's simulated uplink address (203.0.113.0/24, TEST-NET-3): the configuration shows the workflow but connects nowhere",
  aws: "the range router's public IPv4 address, which EC2 gives it at launch (a router stopped and started gets another: download the configuration again then)",
  azure: undefined,
};

/** The tunnel network: the first /24 of 100.64.0.0/10 (shared address space) that no scenario network overlaps. */
function vpnTunnel(scenario: Scenario, subnetOf: SubnetMap): Subnet {
  for (let i = 0; i < 256; i++) {
    const s = parseSubnet(`100.${64 + Math.floor(i / 4)}.${(i % 4) * 64}.0/24`) as Subnet;
    if (!scenario.networks.some((n) => overlaps(s, subnetOf.get(n.name)!.sub))) return s;
  }
  throw new AppError('invalid_input', `Unable to plan the VPN of "${scenario.name}": its networks cover 100.64.0.0/10`);
}

/** Why a cloud's range (if any) cannot carry a VPN or reach the package cache. */
function cloudRouterWhy(platform: PlatformKind): string {
  return platform === 'aws'
    ? 'the range router on aws carries internet egress only, with no uplink'
    : `${platform} deployments have no range router`;
}

export function planDeployment(input: PlanInput): Plan {
  const { scenario, platform, instances, deploymentId, allocations } = input;
  if (input.vpn && !vpnEndpoints[platform])
    throw new AppError(
      'invalid_input',
      `Unable to plan a VPN for "${scenario.name}" on ${platform}: the VPN ends on a range router with an uplink the classroom reaches, and ${cloudRouterWhy(platform)}`,
      {
        issues: [{ path: 'vpn', message: `${platform} has no range router uplink` }],
        hint: "Deploy on Proxmox (its uplink is the platform setting uplink.bridge), ESXi (uplinkPortGroup) or AWS (the router's public address), or without the VPN.",
      },
    );
  if (!Number.isInteger(instances) || instances < 1)
    throw new AppError(
      'invalid_input',
      `Unable to plan "${scenario.name}": instances must be a whole number of at least 1, not ${instances}`,
    );
  const withRouter =
    onPremises[platform] &&
    (scenario.networks.length > 1 || scenario.networks.some((n) => n.internet) || input.vpn === true);
  // The scenario check sees only the file's own `instances`; a deployment may ask for more.
  const fixedVlan =
    onPremises[platform] && instances > 1 ? scenario.networks.find((n) => n.vlan !== undefined) : undefined;
  if (fixedVlan)
    throw new AppError(
      'invalid_input',
      `Unable to plan network "${fixedVlan.name}": its fixed VLAN ${fixedVlan.vlan} cannot isolate ${instances} instances`,
      { hint: 'Remove "vlan" from the network to allocate one per instance, or deploy a single instance.' },
    );
  const mac = createMacAllocator(platform, deploymentId);
  const seed = input.seed ?? scenario.seed ?? 'preview';

  // Subnets and gateways are the same in every instance; instances are isolated from each other.
  const subnetOf: SubnetMap = new Map();
  for (const n of scenario.networks) {
    const cidr = n.cidr ?? allocations.subnets[n.name];
    if (!cidr)
      throw new AppError('invalid_input', `Unable to plan network "${n.name}": no CIDR given and none allocated`);
    const sub = parseSubnet(cidr);
    if ('error' in sub) throw new AppError('invalid_input', `Unable to plan network "${n.name}": ${sub.error}`);
    subnetOf.set(n.name, { sub, gateway: n.gateway ? ipToInt(n.gateway)! : sub.base + 1 });
  }
  const addressing = assignAddresses(scenario, subnetOf, onPremises[platform] ? 2 : cloudReservedHosts);
  if (!onPremises[platform]) checkCloudAddressing(scenario, subnetOf, addressing, platform);

  const networks: PlannedNetwork[] = [];
  const machines: PlannedMachine[] = [];
  const anyInternet = scenario.networks.some((n) => n.internet);
  const rules = resolveRules(scenario, subnetOf, addressing);
  const internetOf = (network: string) => scenario.networks.find((n) => n.name === network)!.internet;
  const tunnel = input.vpn ? vpnTunnel(scenario, subnetOf) : undefined;
  const edge =
    platform === 'aws' ? planAwsEdge(scenario, subnetOf, rules, input.cloudEgress ?? 'router', tunnel) : undefined;
  const cache = input.packageCache;
  const cacheBlocked = cache && packageCacheBlocked(cache, platform, withRouter, scenario, subnetOf, tunnel);
  // Machines without internet install from the package cache through their router when the cache holds their OS.
  const fromCache = (m: ScenarioMachine) =>
    cache !== undefined &&
    !cacheBlocked &&
    packageCacheOs.includes(m.os) &&
    !m.nics.some((nic) => scenario.networks.find((n) => n.name === nic.network)!.internet);
  const routerFromCache = cache !== undefined && !cacheBlocked && withRouter && !anyInternet;
  const cacheUsers = scenario.machines.filter(fromCache);
  const usesCache = routerFromCache || cacheUsers.length > 0;
  // The router's uplink carries internet egress, with a VPN the peers' UDP from the classroom, and the way to the
  // package cache. A router with an uplink for the first two installs from the internet (as it always has).
  const uplinkBeforeCache = anyInternet || tunnel !== undefined;
  const uplink = uplinkBeforeCache || usesCache;
  const routerCache =
    cacheUsers.length > 0
      ? {
          address: cache!.address,
          port: cache!.port,
          from: cacheUsers.flatMap((m) =>
            Array.from({ length: m.count }, (_, r) =>
              m.nics.map((nic) => intToIp(addressing.get(`${m.name}#${r}#${nic.network}`)!)),
            ).flat(),
          ),
        }
      : undefined;
  if (withRouter && uplink) {
    networks.push({
      key: uplinkKey,
      instance: 0,
      name: uplinkKey,
      resourceName: `gd-${deploymentId}-${uplinkKey}`,
      kind: 'uplink',
      cidr: '0.0.0.0/0',
      gateway: '0.0.0.0',
      dhcp: true,
      // An uplink only to the package cache is no way to the internet.
      internet: uplinkBeforeCache,
    });
  }

  for (let inst = 1; inst <= instances; inst++) {
    const il = instanceLabel(inst);
    if (edge)
      networks.push({
        key: `${il}.${uplinkKey}`,
        instance: inst,
        name: uplinkKey,
        resourceName: resourceName(deploymentId, inst, uplinkKey),
        kind: 'isolated',
        cidr: edge.sub.cidr,
        gateway: intToIp(edge.sub.base + 1),
        dhcp: true,
        internet: true,
        egress: 'gateway',
        ...(edge.mode === 'nat-gateway' ? { natGateway: true } : {}),
      });
    for (const n of scenario.networks) {
      const { sub, gateway } = subnetOf.get(n.name)!;
      const vlan = onPremises[platform] ? (n.vlan ?? allocations.vlans[`${inst}/${n.name}`]) : undefined;
      if (onPremises[platform] && vlan === undefined)
        throw new AppError(
          'invalid_input',
          `Unable to plan network "${n.name}" of instance ${inst}: no VLAN given and none allocated`,
        );
      networks.push({
        key: `${il}.${n.name}`,
        instance: inst,
        name: n.name,
        resourceName: resourceName(deploymentId, inst, n.name),
        kind: 'isolated',
        cidr: sub.cidr,
        gateway: intToIp(gateway),
        ...(vlan === undefined ? {} : { vlan }),
        dhcp: n.dhcp,
        internet: n.internet,
        ...(platform === 'aws' && n.internet ? { egress: edge?.egress.get(n.name) ?? 'gateway' } : {}),
      });
    }

    const routerKey = `${il}.router`;
    if (withRouter)
      machines.push({
        ...planRouter(input, inst, subnetOf, addressing, uplink, mac, tunnel, routerCache),
        ...(routerFromCache ? { packageCache: true } : {}),
      });
    const cloudRouter = edge?.router === true;
    if (cloudRouter) machines.push(planCloudRouter(input, inst, subnetOf, edge, rules, mac, tunnel));
    // On a cloud, only the machines whose egress the router carries wait for it.
    const waitsForRouter = (m: ScenarioMachine) =>
      withRouter || (cloudRouter && m.nics.some((nic) => edge.egress.get(nic.network) === 'router'));

    for (const m of scenario.machines) {
      const names = replicaNames(m.name, m.count);
      names.forEach((hostname, r) => {
        const nics = m.nics.map((nic, j): PlannedNic => {
          const { sub, gateway } = subnetOf.get(nic.network)!;
          const ip = addressing.get(`${m.name}#${r}#${nic.network}`)!;
          // One default route: through the first NIC, via the router (or the cloud's gateway).
          return {
            networkKey: `${il}.${nic.network}`,
            mac: mac(`${il}.${hostname}`, j),
            ip: intToIp(ip),
            prefix: sub.prefix,
            ...(j === 0 ? { gateway: intToIp(gateway) } : {}),
            ...(platform === 'azure' && internetOf(nic.network) && reachedFromInternet(rules, ip)
              ? { publicIp: true }
              : {}),
          };
        });
        const deps = m.dependsOn.flatMap((d) => {
          const dep = scenario.machines.find((x) => x.name === d)!;
          return replicaNames(dep.name, dep.count).map((n) => `${il}.${n}`);
        });
        machines.push({
          key: `${il}.${hostname}`,
          instance: inst,
          source: m.name,
          hostname,
          resourceName: resourceName(deploymentId, inst, hostname),
          role: 'machine',
          os: m.os,
          size: m.size,
          nics,
          dns: [nics[0]!.gateway!],
          dependsOn: waitsForRouter(m) ? [routerKey, ...deps] : deps,
          users: planUsers(m.users),
          packages: m.packages,
          files: m.files,
          run: m.run,
          vulnerabilities: vulnerabilitiesOf(m, `${il}.${hostname}`, hostname, seed),
          overrides: m.platform,
          ...(fromCache(m) ? { packageCache: true } : {}),
          ...(m.windows ? { windows: m.windows } : {}),
        });
      });
    }
  }

  return {
    deploymentId,
    scenario: scenario.name,
    platform,
    instances,
    seed,
    firewall: { default: scenario.firewall.default, rules },
    networks,
    machines,
    steps: planSteps(networks, machines),
    ...(tunnel
      ? { vpn: { port: vpnPort, cidr: tunnel.cidr, endpoint: vpnEndpoints[platform]! } satisfies PlannedVpn }
      : {}),
    ...(usesCache ? { packageCache: cache } : {}),
    ...notesOf([
      ...(cache
        ? packageCacheNotes(scenario, cache, cacheBlocked, withRouter && !uplinkBeforeCache, routerFromCache)
        : []),
      ...(edge ? awsEgressNotes(edge) : []),
    ]),
  };
}

/** Whether an allow rule from anywhere (`from: "*"`) names this address, alone or in a network it names. */
function reachedFromInternet(rules: FirewallRule[], ip: number): boolean {
  return rules.some(
    (r) =>
      r.action === 'allow' &&
      r.from.includes('0.0.0.0/0') &&
      r.to.some((c) => {
        const s = parseSubnet(c.includes('/') ? c : `${c}/32`);
        return !('error' in s) && containsIp(s, ip);
      }),
  );
}

/** AWS: how each network with internet reaches it, and the edge subnet that holds the router or NAT gateway. */
interface AwsEdge {
  mode: CloudEgress;
  /** The edge subnet, the same in every instance: a /28 of the VPC outside every scenario network. */
  sub: Subnet;
  /** Scenario network -> its egress; only networks with internet. */
  egress: Map<string, 'gateway' | 'router' | 'nat-gateway'>;
  /** Whether each instance gets a range router: a network's egress goes through it, or the VPN ends on it. */
  router: boolean;
}

/**
 * AWS egress: a network with internet routes straight to the internet gateway (its machines get public addresses)
 * only when a firewall rule lets the internet in to it; the others go through the instance's range router (or NAT
 * gateway), so no lab machine has a public address it does not need. Undefined when no network goes through one.
 */
function planAwsEdge(
  scenario: Scenario,
  subnetOf: SubnetMap,
  rules: FirewallRule[],
  mode: CloudEgress,
  tunnel: Subnet | undefined,
): AwsEdge | undefined {
  const inbound = rules.filter((r) => r.action === 'allow' && r.from.includes('0.0.0.0/0'));
  const egress = new Map<string, 'gateway' | 'router' | 'nat-gateway'>();
  for (const n of scenario.networks) {
    if (!n.internet) continue;
    const { sub } = subnetOf.get(n.name)!;
    const reached = inbound.some((r) =>
      r.to.some((c) => overlaps(parseSubnet(c.includes('/') ? c : `${c}/32`) as Subnet, sub)),
    );
    egress.set(n.name, reached ? 'gateway' : mode);
  }
  const routed = [...egress.values()].some((e) => e !== 'gateway');
  if (!routed && !tunnel) return undefined;
  return {
    mode,
    sub: edgeSubnet(scenario, subnetOf, tunnel),
    egress,
    router: tunnel !== undefined || [...egress.values()].includes('router'),
  };
}

/**
 * The edge subnet's /28: the lowest one free inside the block that covers the scenario's networks, else in the /16 of
 * the first network, else the next free /16 (a block of the VPC of its own). Pure, so every instance gets the same.
 */
function edgeSubnet(scenario: Scenario, subnetOf: SubnetMap, tunnel: Subnet | undefined): Subnet {
  const subs = scenario.networks.map((n) => subnetOf.get(n.name)!.sub);
  const free = (base: number) => {
    const s = parseSubnet(`${intToIp(base)}/28`) as Subnet;
    return [...subs, ...(tunnel ? [tunnel] : [])].every((x) => !overlaps(s, x)) ? s : undefined;
  };
  const lo = Math.min(...subs.map((s) => s.base));
  const hi = Math.max(...subs.map((s) => s.base + subnetSize(s) - 1));
  let prefix = 32;
  while (prefix > 16 && Math.floor(lo / 2 ** (32 - prefix)) !== Math.floor(hi / 2 ** (32 - prefix))) prefix--;
  const cover = Math.floor(lo / 2 ** (32 - prefix)) * 2 ** (32 - prefix);
  const first16 = Math.floor(subs[0]!.base / 65536) * 65536;
  const scans: Array<[number, number]> = [
    [cover, 2 ** (32 - prefix)],
    [first16, 65536],
  ];
  for (const [start, size] of scans)
    for (let b = start; b < start + size; b += 16) {
      const s = free(b);
      if (s) return s;
    }
  for (let k = 1; k < 256; k++) {
    const s = free((first16 + k * 65536) >>> 0);
    if (s) return s;
  }
  throw new AppError('invalid_input', `Unable to plan "${scenario.name}" on aws: no /28 is free for the range router`);
}

function awsEgressNotes(edge: AwsEdge): string[] {
  const through = (e: string) => [...edge.egress].filter(([, x]) => x === e).map(([n]) => n);
  const via =
    edge.mode === 'router'
      ? 'the range router (an instance per lab instance, source/destination check off)'
      : 'a NAT gateway per lab instance (billed by AWS per hour and per GB)';
  const served = through(edge.mode);
  const notes: string[] = [];
  if (served.length > 0)
    notes.push(
      `${served.join(', ')} reach${served.length === 1 ? 'es' : ''} the internet through ${via}, from edge subnet ${edge.sub.cidr}; their machines get no public address`,
    );
  const direct = through('gateway');
  if (direct.length > 0)
    notes.push(
      `${direct.join(', ')} route${direct.length === 1 ? 's' : ''} to the internet gateway directly, and single-NIC machines there get public addresses: a firewall rule lets the internet in`,
    );
  return notes;
}

function notesOf(notes: string[]): { notes?: string[] } {
  return notes.length > 0 ? { notes } : {};
}

/** Why no range of this deployment can reach the package cache, or undefined when they can. */
function packageCacheBlocked(
  cache: PackageCache,
  platform: PlatformKind,
  withRouter: boolean,
  scenario: Scenario,
  subnetOf: SubnetMap,
  tunnel: Subnet | undefined,
): string | undefined {
  if (!onPremises[platform]) return `${cloudRouterWhy(platform)} to reach the package cache through`;
  if (!withRouter)
    return 'the range has no router to reach the package cache through (one network, no internet, no VPN)';
  const ip = ipToInt(cache.address)!;
  for (const n of scenario.networks) {
    const { sub } = subnetOf.get(n.name)!;
    if (containsIp(sub, ip))
      return `the package cache's address ${cache.address} is inside network "${n.name}" (${sub.cidr}), so the range cannot reach it`;
  }
  if (tunnel && containsIp(tunnel, ip))
    return `the package cache's address ${cache.address} is inside the VPN's tunnel network (${tunnel.cidr})`;
  return undefined;
}

/**
 * In words, with a package cache configured: which machines without internet install from it, and which install
 * nothing (their templates must hold their packages) and why. Machines are named as in the scenario: every instance
 * is the same.
 */
function packageCacheNotes(
  scenario: Scenario,
  cache: PackageCache,
  blocked: string | undefined,
  offlineRouter: boolean,
  routerFromCache: boolean,
): string[] {
  const internetOf = (network: string) => scenario.networks.find((n) => n.name === network)!.internet;
  const offline = scenario.machines.filter(
    (m) => osCatalog[m.os]?.installer === 'cloud-init' && !m.nics.some((nic) => internetOf(nic.network)),
  );
  const users = [
    ...(routerFromCache ? ['router'] : []),
    ...offline.filter((m) => !blocked && packageCacheOs.includes(m.os)).map((m) => m.name),
  ];
  const notes: string[] = [];
  if (users.length > 0)
    notes.push(
      `${users.join(', ')} install${users.length === 1 ? 's' : ''} packages from the package cache ${cache.url} (no internet on ${users.length === 1 ? 'its networks' : 'their networks'}; the range router lets them reach ${cache.address}:${cache.port} only)`,
    );
  const others = offline.filter((m) => blocked || !packageCacheOs.includes(m.os));
  const why = (os: string) =>
    blocked ?? `${osCatalog[os]?.title ?? os} is not Debian 12, the release the package cache holds`;
  if (offlineRouter && !routerFromCache) notes.push(`router installs nothing at first boot: ${why('debian-12')}`);
  for (const m of others)
    notes.push(`${m.name} installs nothing at first boot (its template must hold its packages): ${why(m.os)}`);
  return notes;
}

function planUsers(users: ScenarioMachine['users']): PlannedUser[] {
  const list =
    users.length > 0 ? users : [{ name: defaultUserName, sudo: true, sshKeys: [], groups: [], shell: '/bin/bash' }];
  return list.map((u) => ({
    name: u.name,
    sudo: u.sudo,
    sshKeys: u.sshKeys,
    groups: u.groups,
    shell: u.shell,
    password: 'password' in u && u.password !== undefined ? 'scenario' : 'generated',
  }));
}

/** Static addresses for every machine replica and NIC: given ones first, then the lowest free host from .10 up. */
function assignAddresses(scenario: Scenario, subnetOf: SubnetMap, firstSmallHost: number): Map<string, number> {
  const taken = new Map<string, Set<number>>();
  const out = new Map<string, number>();
  for (const n of scenario.networks) taken.set(n.name, new Set([subnetOf.get(n.name)!.gateway]));
  for (const m of scenario.machines)
    for (const nic of m.nics)
      if (nic.ip)
        for (let r = 0; r < m.count; r++) {
          const ip = ipToInt(nic.ip)! + r;
          taken.get(nic.network)!.add(ip);
          out.set(`${m.name}#${r}#${nic.network}`, ip);
        }
  const cursor = new Map<string, number>();
  for (const m of scenario.machines)
    for (const nic of m.nics) {
      if (nic.ip) continue;
      const { sub } = subnetOf.get(nic.network)!;
      const used = taken.get(nic.network)!;
      for (let r = 0; r < m.count; r++) {
        let ip = cursor.get(nic.network) ?? sub.base + (sub.prefix <= 26 ? firstDynamicHost : firstSmallHost);
        while (used.has(ip)) ip++;
        if (!isUsableHost(sub, ip))
          throw new AppError(
            'invalid_input',
            `Unable to plan machine "${m.name}": network "${nic.network}" (${sub.cidr}) has no free address left for ${m.count > 1 ? `replica ${r + 1}` : 'it'}`,
            { hint: 'Give the network a wider cidr.' },
          );
        used.add(ip);
        cursor.set(nic.network, ip + 1);
        out.set(`${m.name}#${r}#${nic.network}`, ip);
      }
    }
  return out;
}

type SubnetMap = Map<string, { sub: Subnet; gateway: number }>;

function planRouter(
  input: PlanInput,
  inst: number,
  subnetOf: SubnetMap,
  addressing: Map<string, number>,
  uplink: boolean,
  mac: MacAllocator,
  tunnel: Subnet | undefined,
  packageCache: RouterConfig['packageCache'],
): PlannedMachine {
  const { scenario, deploymentId } = input;
  const il = instanceLabel(inst);
  const lans = scenario.networks.map((n) => {
    const { sub, gateway } = subnetOf.get(n.name)!;
    return {
      networkKey: `${il}.${n.name}`,
      cidr: sub.cidr,
      address: intToIp(gateway),
      prefix: sub.prefix,
      dhcp: n.dhcp,
      internet: n.internet,
    };
  });
  const nics: PlannedNic[] = lans.map((l, j) => ({
    networkKey: l.networkKey,
    mac: mac(`${il}.router`, j),
    ip: l.address,
    prefix: l.prefix,
  }));
  if (uplink) nics.push({ networkKey: uplinkKey, mac: mac(`${il}.router`, lans.length), prefix: 0 });
  const size = {
    ...sizes.small,
    memoryMb: 1024,
    diskGb: Math.max(sizes.small.diskGb / 2, osCatalog[routerOs]!.minDiskGb),
  };
  return {
    key: `${il}.router`,
    instance: inst,
    source: 'router',
    hostname: 'router',
    resourceName: resourceName(deploymentId, inst, 'router'),
    role: 'router',
    os: routerOs,
    size,
    nics,
    dns: [],
    dependsOn: [],
    users: planUsers([]),
    // dnsmasq always: every machine resolves names through its router.
    packages: ['nftables', 'dnsmasq'],
    files: [],
    run: [],
    vulnerabilities: [],
    overrides: {},
    router: {
      lans,
      ...(uplink ? { uplinkNic: lans.length } : {}),
      forwardDefault: scenario.firewall.default,
      rules: resolveRules(scenario, subnetOf, addressing),
      nat: lans.filter((l) => l.internet).map((l) => l.cidr),
      ...(packageCache ? { packageCache } : {}),
      ...(tunnel ? { vpn: routerVpn(inst, tunnel) } : {}),
    },
  };
}

/** The WireGuard side of an instance's router. Router .1, the instructor .2, the instance's trainee .3: the same in
 * every instance, which are isolated. */
function routerVpn(inst: number, tunnel: Subnet): RouterConfig['vpn'] & object {
  return {
    ifname: `wg-i${inst}`,
    port: vpnPort,
    cidr: tunnel.cidr,
    address: intToIp(tunnel.base + 1),
    peers: [
      { role: 'instructor', address: intToIp(tunnel.base + 2) },
      { role: 'trainee', address: intToIp(tunnel.base + 3) },
    ],
  };
}

/**
 * AWS: the range router of one lab instance, one-armed. Its single NIC is on the instance's edge subnet (public
 * address, route to the internet gateway); the route tables of the networks whose egress is `router` point their
 * default route at it, and it forwards their traffic to the internet only, masqueraded, under the scenario's rules.
 */
function planCloudRouter(
  input: PlanInput,
  inst: number,
  subnetOf: SubnetMap,
  edge: AwsEdge,
  rules: FirewallRule[],
  mac: MacAllocator,
  tunnel: Subnet | undefined,
): PlannedMachine {
  const { scenario, deploymentId } = input;
  const il = instanceLabel(inst);
  const routed = scenario.networks.filter((n) => edge.egress.get(n.name) === 'router');
  return {
    key: `${il}.router`,
    instance: inst,
    source: 'router',
    hostname: 'router',
    resourceName: resourceName(deploymentId, inst, 'router'),
    role: 'router',
    os: routerOs,
    size: { ...sizes.small, memoryMb: 1024, diskGb: Math.max(sizes.small.diskGb / 2, osCatalog[routerOs]!.minDiskGb) },
    nics: [
      {
        networkKey: `${il}.${uplinkKey}`,
        mac: mac(`${il}.router`, 0),
        ip: intToIp(edge.sub.base + cloudReservedHosts),
        prefix: edge.sub.prefix,
        gateway: intToIp(edge.sub.base + 1),
      },
    ],
    dns: [],
    dependsOn: [],
    users: planUsers([]),
    packages: ['nftables'],
    files: [],
    run: [],
    vulnerabilities: [],
    overrides: {},
    router: {
      lans: [],
      uplinkNic: 0,
      forwardDefault: 'deny',
      rules,
      nat: routed.map((n) => subnetOf.get(n.name)!.sub.cidr),
      cloud: { labCidrs: scenario.networks.map((n) => subnetOf.get(n.name)!.sub.cidr), edgeCidr: edge.sub.cidr },
      ...(tunnel ? { vpn: routerVpn(inst, tunnel) } : {}),
    },
  };
}

/**
 * A stable MAC for a NIC. ESXi accepts manually set MACs only in 00:50:56:00:00:00-00:50:56:3f:ff:ff;
 * elsewhere a locally administered unicast address (02:...) cannot clash with a vendor's.
 */
export function macAddress(
  platform: PlatformKind,
  deploymentId: string,
  machineKey: string,
  nic: number,
  attempt = 0,
): string {
  const h = crypto
    .createHash('sha256')
    .update(`${deploymentId}/${machineKey}/${nic}${attempt ? `/${attempt}` : ''}`)
    .digest();
  const bytes =
    platform === 'esxi' ? [0x00, 0x50, 0x56, h[0]! & 0x3f, h[1]!, h[2]!] : [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

type MacAllocator = (machineKey: string, nic: number) => string;

/**
 * MACs unique within the plan. ESXi's range leaves 22 bits, so a large class (a few thousand NICs) would otherwise
 * likely get two NICs with the same MAC; a clash is rehashed, and the plan's fixed order keeps the result stable.
 */
function createMacAllocator(platform: PlatformKind, deploymentId: string): MacAllocator {
  const used = new Set<string>();
  return (machineKey, nic) => {
    let attempt = 0;
    let mac = macAddress(platform, deploymentId, machineKey, nic);
    while (used.has(mac)) mac = macAddress(platform, deploymentId, machineKey, nic, ++attempt);
    used.add(mac);
    return mac;
  };
}

/** AWS and Azure keep a subnet's first four addresses (network, router, DNS, reserved) and its last for themselves. */
const cloudReservedHosts = 4;

/** On a cloud the subnet's router is its first host, and its first four and last addresses are the cloud's. */
function checkCloudAddressing(
  scenario: Scenario,
  subnetOf: SubnetMap,
  addressing: Map<string, number>,
  platform: PlatformKind,
): void {
  for (const n of scenario.networks) {
    const { sub, gateway } = subnetOf.get(n.name)!;
    if (gateway !== sub.base + 1)
      throw new AppError(
        'invalid_input',
        `Unable to plan network "${n.name}" on ${platform}: its gateway must be the first host, ${intToIp(sub.base + 1)}; the cloud routes through it`,
        {
          hint: 'Remove "gateway" from the network.',
        },
      );
  }
  for (const [slot, ip] of addressing) {
    const [machine, , network] = slot.split('#');
    const { sub } = subnetOf.get(network!)!;
    if (ip - sub.base < cloudReservedHosts || ip === lastAddress(sub))
      throw new AppError(
        'invalid_input',
        `Unable to plan machine "${machine}" on ${platform}: ${intToIp(ip)} is one of the addresses the cloud reserves in ${sub.cidr} (the first four and the last)`,
        {
          hint: `Give it an address from ${intToIp(sub.base + cloudReservedHosts)} up, or none.`,
        },
      );
  }
}

function resolveRules(scenario: Scenario, subnetOf: SubnetMap, addressing: Map<string, number>): FirewallRule[] {
  return scenario.firewall.rules.map((r) => ({
    from: resolveEndpoint(r.from, scenario, subnetOf, addressing),
    to: resolveEndpoint(r.to, scenario, subnetOf, addressing),
    protocol: r.protocol,
    ports: r.ports,
    action: r.action,
  }));
}

/** A rule endpoint as addresses: a network's CIDR, a machine's addresses (every replica, every NIC), or any. */
function resolveEndpoint(
  name: string,
  scenario: Scenario,
  subnetOf: SubnetMap,
  addressing: Map<string, number>,
): string[] {
  if (name === '*') return ['0.0.0.0/0'];
  const net = subnetOf.get(name);
  if (net) return [net.sub.cidr];
  const m = scenario.machines.find((x) => x.name === name)!;
  const out: string[] = [];
  for (let r = 0; r < m.count; r++)
    for (const nic of m.nics) out.push(`${intToIp(addressing.get(`${m.name}#${r}#${nic.network}`)!)}/32`);
  return out;
}

/**
 * Steps and their dependencies. A machine's disk is created as soon as its networks exist; it is started only once
 * every machine it depends on is ready, so chains wait on readiness and nothing else waits at all.
 */
function planSteps(networks: PlannedNetwork[], machines: PlannedMachine[]): PlannedStep[] {
  const steps: PlannedStep[] = networks.map((n) => ({
    key: `net:${n.key}`,
    kind: 'network',
    target: n.key,
    // A network routed to its instance's NAT gateway is made once that gateway is (on the edge network).
    dependsOn: n.egress === 'nat-gateway' ? [`net:${instanceLabel(n.instance)}.${uplinkKey}`] : [],
  }));
  for (const m of machines) {
    const nets = [...new Set(m.nics.map((n) => `net:${n.networkKey}`))];
    steps.push({ key: `${m.key}:create`, kind: 'create', target: m.key, dependsOn: nets });
    // A cloud's range router points its networks' default route at itself when it starts: they must exist by then.
    // With a VPN, every scenario network's table routes the tunnel network to it too.
    const routed = m.router?.cloud
      ? networks
          .filter(
            (n) =>
              n.instance === m.instance &&
              (n.egress === 'router' || (m.router!.vpn !== undefined && n.name !== uplinkKey)),
          )
          .map((n) => `net:${n.key}`)
      : [];
    steps.push({
      key: `${m.key}:start`,
      kind: 'start',
      target: m.key,
      dependsOn: [`${m.key}:create`, ...routed, ...m.dependsOn.map((d) => `${d}:ready`)],
    });
    steps.push({ key: `${m.key}:address`, kind: 'address', target: m.key, dependsOn: [`${m.key}:start`] });
    steps.push({ key: `${m.key}:ready`, kind: 'ready', target: m.key, dependsOn: [`${m.key}:address`] });
  }
  return steps;
}

/** A plan as a fresh appliance would make it, for previews: pool subnets and VLANs are the first ones, nothing is reserved. */
export function previewPlan(
  scenario: Scenario,
  platform: PlatformKind,
  instances = scenario.instances,
  o: { vpn?: boolean; packageCache?: PackageCache | undefined } = {},
): Plan {
  const needs = allocationNeeds(scenario, platform, instances);
  const subnets = Object.fromEntries(needs.subnets.map((name, i) => [name, `10.200.${i}.0/24`]));
  const vlans = Object.fromEntries(needs.vlans.map((label, i) => [label, 2000 + i]));
  return planDeployment({
    deploymentId: 'preview',
    scenario,
    platform,
    instances,
    allocations: { subnets, vlans },
    ...(o.vpn ? { vpn: true } : {}),
    ...(o.packageCache ? { packageCache: o.packageCache } : {}),
  });
}

/** A replica's catalogue modules, drawn per instance from the seed; a selection that cannot be filled is refused. */
function vulnerabilitiesOf(m: ScenarioMachine, key: string, name: string, seed: string): VulnerabilityInstance[] {
  if (m.vulnerabilities.length === 0) return [];
  const r = resolveVulnerabilities(
    m.vulnerabilities,
    {
      key,
      name,
      os: m.os,
      users: m.users.map((u) => u.name),
      ...(m.windows?.domain ? { domainRole: m.windows.domain.role } : {}),
      ...(m.windows ? { remote: m.windows.remote } : {}),
    },
    { seed, catalogue: defaultCatalogue() },
  );
  if (r.issues.length > 0)
    throw new AppError(
      'invalid_input',
      `Unable to plan the vulnerabilities of machine "${key}": ${r.issues.join('; ')}`,
      {
        issues: r.issues.map((message) => ({ path: `machines.${m.name}.vulnerabilities`, message })),
        hint: 'Ask for fewer modules, or drop the one that clashes.',
      },
    );
  return r.instances;
}
