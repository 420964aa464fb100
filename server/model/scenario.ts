// A validated scenario with its defaults applied: what planning works from. The format itself (schema, checks,
// located errors) is orchestrator/scenario/; this is only its shape.
import type { VulnerabilityRequest } from './vulnerability.ts';

/** Remote access a Windows machine opens, on the lab's networks only. */
export type WindowsRemoteAccess = 'ssh' | 'winrm' | 'rdp';

/** A Windows machine's settings from the scenario's `windows` block (agents/windows/settings.ts parses it). */
export interface PlannedWindows {
  /** Absent: a standalone machine (workgroup). */
  domain?: {
    /** DNS name of the domain, e.g. `corp.lab`. */
    name: string;
    /** NetBIOS name, e.g. `CORP` (derived from the first label when the scenario gives none). */
    netbios: string;
    /** `dc`: this machine creates the domain (a new forest); `member`: it joins the domain's dc of its instance. */
    role: 'dc' | 'member';
  };
  remote: WindowsRemoteAccess[];
}

/** Per-platform settings of a machine from the scenario's `platform` block. */
export interface PlatformOverrides {
  simulator?: { failAlways?: boolean | undefined } | undefined;
  proxmox?:
    | {
        template?: number | string | undefined;
        node?: string | undefined;
        storage?: string | undefined;
        fullClone?: boolean | undefined;
      }
    | undefined;
  esxi?: { template?: string | undefined; image?: string | undefined; datastore?: string | undefined } | undefined;
  aws?: { ami?: string | undefined; instanceType?: string | undefined } | undefined;
  azure?: { image?: string | undefined; vmSize?: string | undefined } | undefined;
}

export interface ScenarioUser {
  name: string;
  password?: string;
  sudo: boolean;
  sshKeys: string[];
  groups: string[];
  shell: string;
}

export interface ScenarioNetwork {
  name: string;
  /** Absent: allocated from the appliance's address pool. */
  cidr?: string;
  gateway?: string;
  vlan?: number;
  dhcp: boolean;
  internet: boolean;
}

export interface ScenarioRule {
  from: string;
  to: string;
  protocol: 'tcp' | 'udp' | 'icmp' | 'any';
  /** Single ports and ranges as [first, last]; empty means all ports. */
  ports: Array<[number, number]>;
  action: 'allow' | 'deny';
}

export interface ScenarioMachine {
  name: string;
  os: string;
  size: { cpus: number; memoryMb: number; diskGb: number };
  count: number;
  nics: Array<{ network: string; ip?: string }>;
  dependsOn: string[];
  users: ScenarioUser[];
  packages: string[];
  files: Array<{ path: string; content: string; mode: string; owner: string }>;
  run: string[];
  vulnerabilities: VulnerabilityRequest[];
  vulnerableOnInternet: boolean;
  platform: PlatformOverrides;
  windows?: PlannedWindows;
}

/** A validated scenario with defaults applied: what planning works from. */
export interface Scenario {
  glassdome: 1;
  name: string;
  title: string;
  description: string;
  instances: number;
  /** The selection seed the file fixes, if any. */
  seed?: string;
  networks: ScenarioNetwork[];
  firewall: { default: 'allow' | 'deny'; rules: ScenarioRule[] };
  machines: ScenarioMachine[];
}
