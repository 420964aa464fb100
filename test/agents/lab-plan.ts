// Shared by the agent tests: real plans from scenario text, and the external validators (cloud-init, nft, dnsmasq)
// found on this machine, each with the reason a test skips when it is missing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planDeployment } from '../../server/orchestrator/planner.ts';
import type { PackageCache, Plan, PlannedMachine } from '../../server/model/plan.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';

export const aliceKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPk6bXl0ZXN0a2V5Zm9yZ2xhc3Nkb21lYWdlbnRz alice@lab';

/** Two networks, internet on dmz with DHCP; a web server with users, keys, files, packages and commands; a 2-NIC db. */
export const labScenario = `
glassdome: 1
name: agents-lab
title: Agents lab
networks:
  - { name: dmz, cidr: 10.0.1.0/24, vlan: 101, dhcp: true, internet: true }
  - { name: internal, cidr: 10.0.2.0/24, vlan: 102 }
firewall:
  default: deny
  rules:
    - { from: dmz, to: db, protocol: tcp, ports: [5432, "8000-8080"] }
    - { from: internal, to: "*", protocol: any, action: deny }
    - { from: web, to: internal, protocol: icmp }
machines:
  - name: web
    os: ubuntu-22.04
    networks: [dmz]
    users:
      - { name: alice, sudo: true, sshKeys: ["${aliceKey}"], groups: [adm, www-data] }
      - { name: bob, password: "yes" }
    packages: [nginx, "on"]
    files:
      - { path: /var/www/html/index.html, content: "yes\\nno: 1\\n", owner: "alice:alice", mode: "640" }
    run: ["echo on > /tmp/marker", "systemctl restart nginx"]
  - name: db
    os: debian-12
    networks: [dmz, { network: internal, ip: 10.0.2.5 }]
`;

/** Two isolated networks, neither with DHCP nor internet: a router with no uplink, no NAT, no dnsmasq. */
export const offlineScenario = `
glassdome: 1
name: offline-lab
title: Offline lab
networks:
  - { name: red, cidr: 172.16.0.0/24, vlan: 201 }
  - { name: blue, cidr: 172.16.1.0/24, vlan: 202 }
firewall:
  default: allow
machines:
  - { name: kali, os: kali-rolling, size: { cpus: 2, memory: 4G, disk: 40 }, networks: [red] }
  - { name: target, os: debian-12, networks: [blue] }
`;

/** The appliance's package cache as the tests configure it (GLASSDOME_PACKAGE_CACHE_URL=http://192.0.2.10:3142). */
export const testCache: PackageCache = { url: 'http://192.0.2.10:3142', address: '192.0.2.10', port: 3142 };

export function planOf(text: string, o: { packageCache?: PackageCache } = {}): Plan {
  return planDeployment({
    deploymentId: 'd1',
    scenario: parseScenario(text),
    platform: 'proxmox',
    instances: 1,
    allocations: { subnets: {}, vlans: {} },
    ...(o.packageCache ? { packageCache: o.packageCache } : {}),
  });
}

export function machine(plan: Plan, key: string): PlannedMachine {
  const m = plan.machines.find((x) => x.key === key);
  if (!m) throw new Error(`no machine ${key} in the plan; have ${plan.machines.map((x) => x.key).join(', ')}`);
  return m;
}

export function passwordsFor(m: PlannedMachine): Record<string, string> {
  return Object.fromEntries(m.users.map((u) => [u.name, `pw-${u.name}`]));
}

export interface Tool {
  has: boolean;
  why: string;
}

/** A tool is usable when its probe command exits 0; otherwise `why` says what is missing, for the skip message. */
export function probe(name: string, args: string[], input?: string, install = name): Tool {
  const r = spawnSync(name, args, { input, encoding: 'utf8' });
  if (r.error) return { has: false, why: `${name} is not installed (apt-get install ${install})` };
  if (r.status !== 0)
    return {
      has: false,
      why: `${name} is installed but cannot run here: ${(r.stderr || r.stdout).trim().split('\n')[0]}`,
    };
  return { has: true, why: '' };
}

export function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const dir = mkdtempSync(join(tmpdir(), 'glassdome-agents-'));
let seq = 0;
export function tempFile(name: string, content: string): string {
  const path = join(dir, `${++seq}-${name}`);
  writeFileSync(path, content);
  return path;
}
