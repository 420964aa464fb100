// Runs on the appliance at every boot, before cloud-init: reads the network settings ESXi hands over in the OVF
// environment (vApp properties hostname, ip, netmask, gateway, dns) and turns them into cloud-init system
// configuration; with no static address it removes that file, so cloud-init applies the NoCloud seed (Proxmox) or
// DHCP on the first NIC. DNS servers go to /etc/resolv.conf, which cloud-init's ifupdown renderer does not write.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { attr, findAll, parseXml } from './xml.ts';

const oeNs = 'http://schemas.dmtf.org/ovf/environment/1';
export const propertyKeys = ['hostname', 'ip', 'netmask', 'gateway', 'dns'] as const;
export type NetworkProperties = Partial<Record<(typeof propertyKeys)[number], string>>;

/** The Property key/value pairs of an OVF environment document (`oe:` namespace). */
export function ovfEnvProperties(xml: string): Record<string, string> {
  const env = parseXml(xml);
  const out: Record<string, string> = {};
  const section = findAll(env, oeNs, 'PropertySection', true);
  for (const s of section)
    for (const p of findAll(s, oeNs, 'Property')) {
      const key = attr(p, oeNs, 'key');
      if (key) out[key] = attr(p, oeNs, 'value') ?? '';
    }
  return out;
}

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const hostnameRe = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function prefixOf(netmask: string): number | undefined {
  if (/^\d{1,2}$/.test(netmask)) {
    const n = Number(netmask);
    return n >= 1 && n <= 32 ? n : undefined;
  }
  if (!ipv4.test(netmask)) return undefined;
  const bits = netmask.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
  const prefix = bits.toString(2).replace(/0/g, '').length;
  // Contiguous ones only: 255.0.255.0 is no netmask.
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return prefix >= 1 && bits === mask ? prefix : undefined;
}

export interface NetworkPlan {
  /** Contents of /etc/cloud/cloud.cfg.d/90-glassdome-network.cfg, or null to remove it (DHCP / NoCloud). */
  cloudConfig: string | null;
  /** Contents of /etc/resolv.conf, or null to leave it to DHCP. */
  resolvConf: string | null;
  /** What went wrong with the given settings; the appliance then falls back to DHCP so it can still be reached. */
  problems: string[];
  summary: string;
}

/**
 * Pure: the configuration for `props` on the NIC `iface` (name and MAC). An empty ip means DHCP; a static address
 * needs a valid netmask, and the gateway and DNS servers when given must be IPv4 addresses.
 */
export function planNetwork(props: NetworkProperties, iface: { name: string; mac: string } | undefined): NetworkPlan {
  const problems: string[] = [];
  const v = (k: keyof NetworkProperties) => (props[k] ?? '').trim();
  const hostname = v('hostname');
  if (hostname && !hostnameRe.test(hostname)) problems.push(`hostname "${hostname}" is not a valid host name`);
  const hostLines =
    hostname && hostnameRe.test(hostname)
      ? [`hostname: ${hostname.split('.')[0]}`, ...(hostname.includes('.') ? [`fqdn: ${hostname}`] : [])]
      : [];
  const ip = v('ip');
  const dhcp = (): NetworkPlan => ({
    cloudConfig: hostLines.length
      ? `# Written at boot by glassdome-network from the OVF environment.\n${hostLines.join('\n')}\n`
      : null,
    resolvConf: null,
    problems,
    summary: `DHCP${hostLines.length ? `, hostname ${hostname}` : ''}`,
  });
  if (!ip) return dhcp();
  if (!ipv4.test(ip)) {
    problems.push(`ip "${ip}" is not an IPv4 address; using DHCP`);
    return dhcp();
  }
  const prefix = prefixOf(v('netmask'));
  if (prefix === undefined) {
    problems.push(`netmask "${v('netmask')}" is neither a netmask nor a prefix length; using DHCP`);
    return dhcp();
  }
  const gateway = v('gateway');
  if (gateway && !ipv4.test(gateway)) {
    problems.push(`gateway "${gateway}" is not an IPv4 address; using DHCP`);
    return dhcp();
  }
  const dns = v('dns')
    .split(/[\s,;]+/)
    .filter(Boolean);
  const badDns = dns.filter((d) => !ipv4.test(d));
  if (badDns.length) {
    problems.push(`dns ${badDns.map((d) => `"${d}"`).join(', ')} not IPv4 addresses; using DHCP`);
    return dhcp();
  }
  if (!iface) {
    problems.push('no network interface found; using DHCP');
    return dhcp();
  }
  // Network config v1: cloud-init's ifupdown renderer on Debian takes it as is; the MAC pins it to this NIC.
  const subnet = [
    `          - type: static`,
    `            address: ${ip}/${prefix}`,
    ...(gateway ? [`            gateway: ${gateway}`] : []),
    ...(dns.length ? [`            dns_nameservers: [${dns.join(', ')}]`] : []),
  ];
  const cloudConfig = [
    '# Written at boot by glassdome-network from the OVF environment (vApp properties); removed when ip is empty.',
    ...hostLines,
    'network:',
    '  version: 1',
    '  config:',
    '    - type: physical',
    `      name: ${iface.name}`,
    `      mac_address: "${iface.mac}"`,
    '      subnets:',
    ...subnet.map((l) => `  ${l}`),
    '',
  ].join('\n');
  return {
    cloudConfig,
    resolvConf: dns.length
      ? `# Written at boot by glassdome-network from the OVF environment.\n${dns.map((d) => `nameserver ${d}`).join('\n')}\n`
      : null,
    problems,
    summary: `static ${ip}/${prefix}${gateway ? ` via ${gateway}` : ''}${dns.length ? `, DNS ${dns.join(' ')}` : ''} on ${iface.name}${hostLines.length ? `, hostname ${hostname}` : ''}`,
  };
}

/** The first physical Ethernet interface (sorted by name, as cloud-init's fallback picks it). */
export function firstNic(sysClassNet = '/sys/class/net'): { name: string; mac: string } | undefined {
  const names = fs.existsSync(sysClassNet) ? fs.readdirSync(sysClassNet).sort() : [];
  for (const name of names) {
    const dir = path.join(sysClassNet, name);
    // Physical NICs have a backing device; lo, bridges, bonds and tunnels do not.
    if (name === 'lo' || !fs.existsSync(path.join(dir, 'device'))) continue;
    const type = fs.readFileSync(path.join(dir, 'type'), 'utf8').trim();
    if (type !== '1') continue;
    return { name, mac: fs.readFileSync(path.join(dir, 'address'), 'utf8').trim() };
  }
  return undefined;
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/**
 * The OVF environment: from VMware Tools' guestinfo (vCenter, ovftool --X:injectOvfEnv, the ESXi host client), else
 * an ISO transport CD holding ovf-env.xml; `guestinfo.glassdome.<key>` advanced settings fill in on standalone ESXi
 * hosts without vApp options.
 */
export function readProperties(): { props: NetworkProperties; source: string } {
  const rpctool = ['/usr/bin/vmware-rpctool'].find((p) => fs.existsSync(p));
  const isVmware = /vmware/i.test(tryRun('systemd-detect-virt', []) ?? '');
  if (rpctool && isVmware) {
    const env = tryRun(rpctool, ['info-get guestinfo.ovfEnv'])?.trim();
    if (env) return { props: pick(ovfEnvProperties(env)), source: 'guestinfo.ovfEnv' };
    const props: NetworkProperties = {};
    for (const k of propertyKeys) {
      const val = tryRun(rpctool, [`info-get guestinfo.glassdome.${k}`])?.trim();
      if (val) props[k] = val;
    }
    if (Object.keys(props).length) return { props, source: 'guestinfo.glassdome.*' };
  }
  // This runs early in boot: let udev finish announcing the CD-ROMs first (bounded).
  tryRun('udevadm', ['settle', '--timeout=15']);
  for (const dev of ['/dev/sr0', '/dev/sr1']) {
    if (!fs.existsSync(dev)) continue;
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-ovf-'));
    try {
      if (tryRun('mount', ['-t', 'iso9660', '-o', 'ro', dev, mnt]) === undefined) continue;
      const file = ['ovf-env.xml', 'OVF-ENV.XML', 'ovf_env.xml']
        .map((f) => path.join(mnt, f))
        .find((f) => fs.existsSync(f));
      const xml = file ? fs.readFileSync(file, 'utf8') : undefined;
      tryRun('umount', [mnt]);
      if (xml) return { props: pick(ovfEnvProperties(xml)), source: `${dev} ovf-env.xml` };
    } finally {
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  }
  return { props: {}, source: 'none' };
}

function pick(all: Record<string, string>): NetworkProperties {
  const out: NetworkProperties = {};
  for (const k of propertyKeys) if (all[k] !== undefined) out[k] = all[k];
  return out;
}

export interface Paths {
  cloudCfg: string;
  resolvConf: string;
  status: string;
}

export const defaultPaths: Paths = {
  cloudCfg: '/etc/cloud/cloud.cfg.d/90-glassdome-network.cfg',
  resolvConf: '/etc/resolv.conf',
  status: '/run/glassdome/network.txt',
};

/** Writes (or removes) what `plan` says, and a one-line status the console banner shows. */
export function applyPlan(plan: NetworkPlan, source: string, p: Paths = defaultPaths): void {
  if (plan.cloudConfig === null) fs.rmSync(p.cloudCfg, { force: true });
  else {
    fs.mkdirSync(path.dirname(p.cloudCfg), { recursive: true });
    fs.writeFileSync(p.cloudCfg, plan.cloudConfig, { mode: 0o644 });
  }
  if (plan.resolvConf !== null) {
    // resolv.conf may be a dangling link (resolvconf, systemd-resolved): replace it with the file.
    fs.rmSync(p.resolvConf, { force: true });
    fs.writeFileSync(p.resolvConf, plan.resolvConf, { mode: 0o644 });
  }
  fs.mkdirSync(path.dirname(p.status), { recursive: true });
  fs.writeFileSync(
    p.status,
    `${plan.summary} (from ${source})${plan.problems.map((x) => `\nnetwork settings: ${x}`).join('')}\n`,
  );
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const { props, source } = readProperties();
  const plan = planNetwork(props, firstNic());
  applyPlan(plan, source);
  console.log(`glassdome-network: ${plan.summary} (from ${source})`);
  for (const p of plan.problems) console.error(`glassdome-network: ${p}`);
}
