// First-boot configuration for the cloud-init OSes (Ubuntu, Debian, Kali): user-data, network-config (v2) and
// meta-data for a NoCloud seed or a cloud's user-data field. Routers get their nftables/dnsmasq files here too.
import { stringify } from 'yaml';
import { AppError } from '../errors.ts';
import { osCatalog } from '../model/catalog.ts';
import type { PackageCache, PlannedMachine, PlannedNetwork } from '../model/plan.ts';
import type { RenderedVulnerability } from '../model/vulnerability.ts';
import type { RouterVpnKeys } from '../model/vpn.ts';
import { mergeVulnerabilities } from './vulnerabilities.ts';
import { deriveSalt, hashPassword } from './credentials.ts';
import { interfaceName, labDomain, routerSelfChecks, routerSetup } from './lab-router.ts';
import { aptRepositoryUrl, cacheAptSection, cloudInitAptConf } from './package-cache.ts';
import { failedMarker, readyMarker } from '../model/first-boot.ts';

export interface CloudInitContext {
  networks: PlannedNetwork[];
  /** User name -> plain password: the scenario's, or derivePassword()'s. */
  passwords: Record<string, string>;
  instanceId: string;
  /** The deployment's secret; crypt salts are derived from it so the same deployment gives the same user-data. */
  secret: string;
  /** The package and service through which the platform sees the guest; QEMU's agent unless said otherwise. */
  guestAgent?: GuestAgent | null;
  /** The machine's vulnerability modules, rendered (reaper/cloud-init-merge.ts renderMachineVulnerabilities). */
  vulnerabilities?: RenderedVulnerability[];
  /** A router of a deployment with a VPN: its WireGuard private key and its peers' public keys. */
  vpnKeys?: RouterVpnKeys;
  /** The plan's package cache: a machine the plan marks `packageCache` installs its packages from it. */
  packageCache?: PackageCache;
}

export interface GuestAgent {
  package: string;
  service: string;
}

export const qemuGuestAgent: GuestAgent = { package: 'qemu-guest-agent', service: 'qemu-guest-agent' };
export const vmwareTools: GuestAgent = { package: 'open-vm-tools', service: 'open-vm-tools' };

export interface CloudInitMedia {
  userData: string;
  networkConfig: string;
  metaData: string;
}

/**
 * Generated passwords are 20 random characters (~116 bits): no amount of key stretching changes what it takes to
 * guess one, so they get crypt's minimum of 1000 rounds, a fifth of the cost. Passwords from a scenario file may be
 * weak, and keep the default 5000.
 */
export const generatedPasswordRounds = 1000;

/** The script first boot ends with: it checks what first boot did and prints the console line drivers watch for. */
export const firstBootCheckPath = '/usr/local/sbin/glassdome-first-boot-check';

export function buildCloudInit(machine: PlannedMachine, ctx: CloudInitContext): CloudInitMedia {
  const fail = (why: string, code: 'internal' | 'invalid_input' = 'internal') =>
    new AppError(code, `Unable to build cloud-init for machine "${machine.key}": ${why}`);
  const os = osCatalog[machine.os];
  if (!os) throw fail(`unknown OS "${machine.os}"`, 'invalid_input');
  if (os.installer !== 'cloud-init') throw fail(`${os.title} is not installed with cloud-init`, 'invalid_input');
  for (const nic of machine.nics)
    if (!ctx.networks.some((n) => n.key === nic.networkKey))
      throw fail(`its NIC on "${nic.networkKey}" refers to no planned network`);

  const router = machine.role === 'router' ? routerSetup(machine, ctx.vpnKeys) : undefined;
  const ownFiles = [...machine.files, ...(router?.files ?? [])];
  const vuln = mergeVulnerabilities(ctx.vulnerabilities ?? [], {
    key: machine.key,
    users: machine.users.map((u) => u.name),
    files: ownFiles.map((f) => f.path),
  });
  const users = machine.users.map((u) => {
    const plain = ctx.passwords[u.name];
    if (plain === undefined) throw fail(`no password was given for user "${u.name}"`);
    const groups = [...new Set([...(u.sudo ? ['sudo'] : []), ...u.groups])];
    return {
      name: u.name,
      ...(groups.length > 0 ? { groups } : {}),
      shell: u.shell,
      lock_passwd: false,
      passwd: hashPassword(
        plain,
        deriveSalt(ctx.secret, machine.key, u.name),
        u.password === 'generated' ? generatedPasswordRounds : undefined,
      ),
      ...(u.sshKeys.length > 0 ? { ssh_authorized_keys: u.sshKeys } : {}),
    };
  });
  for (const u of vuln.users) {
    const rounds = u.passwordSource === 'derived' ? generatedPasswordRounds : undefined;
    users.push({
      name: u.name,
      ...(u.groups.length > 0 ? { groups: u.groups } : {}),
      shell: u.shell,
      lock_passwd: false,
      passwd: hashPassword(u.password, deriveSalt(ctx.secret, machine.key, u.name), rounds),
    });
  }
  // null: the platform has no guest channel (clouds), so nothing is installed for one.
  const agent = ctx.guestAgent === undefined ? qemuGuestAgent : ctx.guestAgent;
  const packages = [
    ...new Set([...(agent ? [agent.package] : []), ...(router?.packages ?? []), ...machine.packages, ...vuln.packages]),
  ];
  // cloud-init runs `apt-get update` whenever `packages` is set (22.4, Debian 12's, does so whatever
  // package_update says), and on a machine with no way out that fails its whole first boot. So only a machine on a
  // network with internet installs packages, or one the plan sends to the appliance's package cache (apt then reads
  // the cache's list alone); any other checks that its template already has them, and its first boot fails naming
  // any that is missing.
  if (machine.packageCache && !ctx.packageCache)
    throw fail('its plan installs its packages from the package cache, and no package cache was given');
  const cache = machine.packageCache ? ctx.packageCache : undefined;
  const online =
    cache === undefined &&
    machine.nics.some((nic) => ctx.networks.find((n) => n.key === nic.networkKey)?.internet === true);
  const installs = online || cache !== undefined;
  // cloud-init runs runcmd as one `sh` script without -e: the check must end the script itself.
  const names = packages.map((p) => p.split('=')[0]!);
  const offlineCheck = `dpkg-query --show ${names.map(shellQuote).join(' ')} || { echo ${shellQuote(`glassdome: no internet here, so the image must already hold: ${names.join(' ')}`)} >&2; exit 1; }`;
  const check = {
    path: firstBootCheckPath,
    content: firstBootCheck(machine, names, cache ? { packageCache: aptRepositoryUrl(cache) } : {}),
    mode: '0755',
    owner: 'root:root',
  };
  const files = [...ownFiles, ...vuln.files, check].map((f) => ({
    path: f.path,
    content: f.content,
    permissions: f.mode.padStart(4, '0'),
    owner: f.owner,
    ...('append' in f && f.append ? { append: true } : {}),
    // Deferred to the final stage: after users exist (they may own files) and after packages are installed
    // (a package's own copy of a config file must not win over ours).
    defer: true,
  }));

  const userData = {
    hostname: machine.hostname,
    fqdn: `${machine.hostname}.${labDomain}`,
    preserve_hostname: false,
    manage_etc_hosts: true,
    users,
    ssh_pwauth: true,
    ...(cache ? { apt: cacheAptSection(cache) } : {}),
    ...(installs ? { package_update: true, packages } : {}),
    ...(files.length > 0 ? { write_files: files } : {}),
    // Last: the check, which prints the console line (GLASSDOME-READY, or GLASSDOME-FAILED with why) and fails the
    // first boot when something is not as planned. Not final_message: cloud-init prints that even after a failure.
    runcmd: [
      ...(cache ? [`rm -f ${cloudInitAptConf}`] : []),
      ...(installs ? [] : [offlineCheck]),
      ...(agent ? [`systemctl enable --now ${agent.service}`] : []),
      ...(router?.run ?? []),
      ...machine.run,
      ...vuln.runcmd,
      firstBootCheckPath,
    ],
  };

  return {
    userData: `#cloud-config\n${toYaml(userData)}`,
    networkConfig: toYaml(buildNetworkConfig(machine)),
    metaData: toYaml({ 'instance-id': ctx.instanceId, 'local-hostname': machine.hostname }),
  };
}

/**
 * The first-boot check: every package present, and on a router the firewall loaded as planned (lab-router.ts). It
 * ends the first boot with one console line, `GLASSDOME-READY <name>` or `GLASSDOME-FAILED <name>: <why>`, which the
 * drivers that can read a console wait for, and exits non-zero on a failure so cloud-init reports it too.
 */
export function firstBootCheck(machine: PlannedMachine, packages: string[], o: { packageCache?: string } = {}): string {
  const name = machine.resourceName;
  // The URL is checked to hold no shell or quote characters (package-cache.ts).
  const from = o.packageCache
    ? ` (not installed from the package cache ${o.packageCache}: does the range reach it?)`
    : '';
  const lines = [
    '#!/bin/sh',
    '# Generated by Glassdome: checks that first boot did what the scenario says, then says so on the console.',
    'say() { echo "$1"; echo "$1" > /dev/console 2>/dev/null || true; }',
    `fail() { say "${failedMarker} ${name}: $1"; exit 1; }`,
    'missing=""',
    `for p in ${packages.map(shellQuote).join(' ')}; do dpkg-query --show "$p" >/dev/null 2>&1 || missing="$missing $p"; done`,
    `[ -z "$missing" ] || fail "packages missing:$missing${from}"`,
    ...(machine.role === 'router'
      ? routerSelfChecks(machine).map((c) => `${c.test} || fail ${shellQuote(c.failure)}`)
      : []),
    `say "${readyMarker} ${name}"`,
  ];
  return `${lines.join('\n')}\n`;
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function buildNetworkConfig(machine: PlannedMachine): { version: 2; ethernets: Record<string, unknown> } {
  const routed = machine.nics.findIndex((n) => n.gateway !== undefined);
  // Resolvers go with the default route; a machine without one puts them on its first static NIC.
  const dnsNic = routed >= 0 ? routed : machine.nics.findIndex((n) => n.ip !== undefined);
  const ethernets: Record<string, unknown> = {};
  machine.nics.forEach((nic, j) => {
    const name = interfaceName(j);
    ethernets[name] = {
      match: { macaddress: nic.mac },
      'set-name': name,
      ...(nic.ip === undefined ? { dhcp4: true } : { dhcp4: false, addresses: [`${nic.ip}/${nic.prefix}`] }),
      // 0.0.0.0/0, not netplan's `default`: Debian 12's cloud-init (22.4) fails on `default` when it renders for
      // ifupdown or systemd-networkd instead of netplan.
      ...(j === routed ? { routes: [{ to: '0.0.0.0/0', via: nic.gateway }] } : {}),
      ...(j === dnsNic && machine.dns.length > 0
        ? { nameservers: { addresses: machine.dns, search: [labDomain] } }
        : {}),
    };
  });
  return { version: 2, ethernets };
}

// cloud-init reads YAML 1.1 (PyYAML): emitting 1.1 makes the library quote strings such as "yes", "on" or "0644"
// that a 1.1 reader would otherwise turn into booleans and numbers. No line folding, so keys and commands stay whole.
function toYaml(value: unknown): string {
  return stringify(value, { version: '1.1', lineWidth: 0 });
}
