// The PowerShell first-boot script of one Windows machine: the static script in templates/windows-first-boot.ps1
// with the machine's configuration (addresses, users and passwords, remote access, domain role, commands) put in as
// one line of JSON. The result is ASCII with CRLF line ends, which Windows PowerShell 5.1 reads without a BOM.
import { readFileSync } from 'node:fs';
import { AppError } from '../../errors.ts';
import type { Plan, PlannedMachine } from '../../model/plan.ts';
import type { WindowsRemoteAccess } from '../../model/scenario.ts';
import type { RenderedVulnerability } from '../../model/vulnerability.ts';
import { derivePassword } from '../credentials.ts';
import { domainController, windowsOf } from './settings.ts';

const template = readFileSync(new URL('../templates/windows-first-boot.ps1', import.meta.url), 'utf8');
const placeholder = '__GLASSDOME_CONFIG__';

/** Where the script reports its outcome in the guest, for drivers that read files through their guest channel. */
export const windowsStatusFile = 'C:\\ProgramData\\Glassdome\\first-boot-status.txt';

export interface WindowsFirstBootConfig {
  resource: string;
  hostname: string;
  /** `static`: on premises, addresses by MAC; `dhcp`: clouds, whose DHCP gives the reserved address. */
  addressing: 'static' | 'dhcp';
  nics: Array<{ mac: string; network: string; ip: string; prefix: number; gateway?: string; dns: string[] }>;
  /** Resolvers for `dhcp` addressing. */
  dns: string[];
  /** CIDRs that remote access and ping are opened to: the instance's own networks. */
  labNetworks: string[];
  remote: WindowsRemoteAccess[];
  online: boolean;
  users: Array<{ name: string; password: string; admin: boolean; groups: string[]; sshKeys: string[] }>;
  administratorPassword: string;
  domain?:
    | { role: 'dc'; name: string; netbios: string; safeModePassword: string; forwarders: string[] }
    | {
        role: 'member';
        name: string;
        netbios: string;
        controller: string;
        controllerAddress: string;
        joinUser: string;
        joinPassword: string;
      };
  /**
   * Vulnerability modules (server/reaper), applied after the domain steps and before `run`, each at most once: its
   * users first (domain users on a controller, local ones elsewhere), then its PowerShell.
   */
  modules: Array<{
    key: string;
    module: string;
    users: Array<{ name: string; password: string; groups: string[] }>;
    script: string;
  }>;
  run: string[];
  maxBoots: number;
  domainWaitSeconds: number;
}

export interface WindowsConfigContext {
  /** User name -> plain password, for every user of the machine. */
  passwords: Record<string, string>;
  /** The deployment's secret: the directory services restore (DSRM) password of a controller derives from it. */
  secret: string;
  /** A domain member's join password: the controller's administrator's (see domainJoinAccount). */
  domainAdminPassword?: string;
  /** The machine's vulnerability modules, rendered by the reaper (Windows modules only). */
  vulnerabilities?: RenderedVulnerability[];
}

/** Derived like a user's password, under a name no user can have (user names cannot start with "@"). */
export function safeModePassword(secret: string, machineKey: string): string {
  return derivePassword(secret, machineKey, '@dsrm');
}

export function windowsFirstBootConfig(
  plan: Plan,
  machine: PlannedMachine,
  ctx: WindowsConfigContext,
): WindowsFirstBootConfig {
  const fail = (why: string) =>
    new AppError('invalid_input', `Unable to build the Windows first boot of machine "${machine.key}": ${why}`);
  const settings = windowsOf(machine);
  const networkOf = (key: string) => {
    const n = plan.networks.find((x) => x.key === key);
    if (!n) throw fail(`its NIC on "${key}" refers to no planned network`);
    return n;
  };
  const dc = settings.domain ? domainController(plan, machine) : undefined;
  const member = settings.domain?.role === 'member';
  const dns = [
    ...(member && dc ? [dc.address] : []),
    ...machine.dns.filter((d) => !(member && dc && d === dc.address)),
  ];
  const routed = machine.nics.findIndex((n) => n.gateway !== undefined);
  const dnsNic = routed >= 0 ? routed : 0;

  const users = machine.users.map((u) => {
    const password = ctx.passwords[u.name];
    if (password === undefined) throw fail(`no password was given for user "${u.name}"`);
    return { name: u.name, password, admin: u.sudo, groups: u.groups, sshKeys: u.sshKeys };
  });
  if (users.length === 0) throw fail('it has no user');
  // The built-in Administrator: a user of that name sets it; otherwise it shares the first administrator's password.
  const builtin = users.find((u) => u.name.toLowerCase() === 'administrator');
  const admin = builtin ?? users.find((u) => u.admin) ?? users[0]!;

  let domain: WindowsFirstBootConfig['domain'];
  if (settings.domain && dc) {
    const { name, netbios } = settings.domain;
    if (settings.domain.role === 'dc')
      domain = {
        role: 'dc',
        name,
        netbios,
        safeModePassword: safeModePassword(ctx.secret, machine.key),
        forwarders: machine.dns,
      };
    else {
      if (ctx.domainAdminPassword === undefined)
        throw fail(
          `it joins domain "${name}" but the password of "${dc.adminUser}" on its controller "${dc.machine.key}" was not given`,
        );
      domain = {
        role: 'member',
        name,
        netbios,
        controller: dc.machine.hostname,
        controllerAddress: dc.address,
        joinUser: dc.adminUser,
        joinPassword: ctx.domainAdminPassword,
      };
    }
  }

  const modules = windowsModules(
    ctx.vulnerabilities ?? [],
    machine.users.map((u) => u.name),
    fail,
  );
  const clouds = plan.platform === 'aws' || plan.platform === 'azure';
  return {
    resource: machine.resourceName,
    hostname: machine.hostname,
    addressing: clouds ? 'dhcp' : 'static',
    nics: machine.nics.map((nic, j) => {
      if (nic.ip === undefined) throw fail(`its NIC on "${nic.networkKey}" has no address`);
      return {
        mac: nic.mac,
        network: networkOf(nic.networkKey).name,
        ip: nic.ip,
        prefix: nic.prefix,
        ...(nic.gateway ? { gateway: nic.gateway } : {}),
        dns: j === dnsNic ? dns : [],
      };
    }),
    dns,
    labNetworks: [
      ...new Set(
        plan.networks.filter((n) => n.kind === 'isolated' && n.instance === machine.instance).map((n) => n.cidr),
      ),
    ],
    remote: settings.remote,
    online: machine.nics.some((nic) => networkOf(nic.networkKey).internet),
    users: users.filter((u) => u !== builtin),
    administratorPassword: admin.password,
    ...(domain ? { domain } : {}),
    modules,
    run: machine.run,
    maxBoots: 10,
    domainWaitSeconds: 1800,
  };
}

/**
 * The modules' part of the configuration. A module may not create one of the machine's own users, and two modules
 * create the same user only the same way (Windows names compare without case).
 */
function windowsModules(
  rendered: RenderedVulnerability[],
  own: string[],
  fail: (why: string) => AppError,
): WindowsFirstBootConfig['modules'] {
  const machineUsers = new Set(own.map((n) => n.toLowerCase()));
  const taken = new Map<string, { module: string; password: string }>();
  return rendered.map((v) => {
    if (!v.windows) throw fail(`module "${v.module}" applies through cloud-init, not on Windows`);
    const users = v.users.flatMap((u) => {
      if (machineUsers.has(u.name.toLowerCase()))
        throw fail(`module "${v.module}" creates user "${u.name}", which the machine already has`);
      const prev = taken.get(u.name.toLowerCase());
      if (prev && prev.password !== u.password)
        throw fail(`modules "${prev.module}" and "${v.module}" both create user "${u.name}", differently`);
      if (prev) return [];
      taken.set(u.name.toLowerCase(), { module: v.module, password: u.password });
      return [{ name: u.name, password: u.password, groups: u.groups }];
    });
    return { key: v.key, module: v.module, users, script: v.applyScript ?? '' };
  });
}

/** JSON with every non-ASCII character escaped, so the script stays ASCII whatever the names and passwords. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function buildWindowsFirstBootScript(config: WindowsFirstBootConfig): string {
  // One line of JSON can never hold the here-string's closing '@ at the start of a line.
  const text = template.replace(placeholder, () => asciiJson(config));
  return text.replace(/\r?\n/g, '\r\n');
}
