import { describe, expect, it } from 'vitest';
import { checkWindows } from '../../../server/agents/windows/check.ts';
import { domainController, domainJoinAccount, windowsSettingsSchema } from '../../../server/agents/windows/settings.ts';
import { adScenario, adWindows, planWithWindows, scenarioMachines } from './ad-plan.ts';

describe('the scenario fragment for Windows machines', () => {
  it('fills the NetBIOS name from the domain and lower-cases the domain', () => {
    expect(windowsSettingsSchema.parse({ domain: { name: 'Corp.Lab', role: 'dc' } })).toEqual({
      domain: { name: 'corp.lab', netbios: 'CORP', role: 'dc' },
      remote: ['ssh', 'winrm', 'rdp'],
    });
    expect(
      windowsSettingsSchema.parse({
        domain: { name: 'a-very-long-company-name.example', netbios: 'acme', role: 'member' },
        remote: ['rdp', 'rdp'],
      }),
    ).toEqual({
      domain: { name: 'a-very-long-company-name.example', netbios: 'ACME', role: 'member' },
      remote: ['rdp'],
    });
    expect(
      windowsSettingsSchema.parse({ domain: { name: 'averyveryverylongname.lab', role: 'dc' } }).domain?.netbios,
    ).toBe('AVERYVERYVERYLO');
  });

  it('refuses a single-label domain, a bad NetBIOS name, an unknown role or key', () => {
    const issues = (v: unknown) =>
      windowsSettingsSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ domain: { name: 'corp', role: 'dc' } })).toEqual([
      'domain.name: expected a DNS domain name with at least two labels, such as corp.lab',
    ]);
    expect(issues({ domain: { name: 'corp.lab', netbios: 'CORP.LAB', role: 'dc' } })?.[0]).toMatch(
      /^domain.netbios: expected a NetBIOS name/,
    );
    expect(issues({ domain: { name: 'corp.lab', role: 'rodc' } })?.[0]).toMatch(/^domain.role: /);
    expect(issues({ domian: {} })?.[0]).toMatch(/Unrecognized key/);
  });
});

describe('domains in a plan', () => {
  const plan = planWithWindows(adScenario, adWindows, 'proxmox', 2);
  const m = (key: string) => plan.machines.find((x) => x.key === key)!;

  it("finds each member's controller in its own instance, at the address they share, with its first sudo user", () => {
    const dc = domainController(plan, m('i2.ws-1'))!;
    expect(dc.machine.key).toBe('i2.dc01');
    expect(dc.address).toBe('10.20.10.5');
    expect(dc.adminUser).toBe('labadmin');
    expect(domainJoinAccount(plan, m('i1.ws-2'))).toEqual({ controllerKey: 'i1.dc01', user: 'labadmin' });
    expect(domainJoinAccount(plan, m('i1.dc01'))).toBeUndefined();
    expect(domainJoinAccount(plan, m('i1.attacker'))).toBeUndefined();
  });

  it('orders members after their controller through dependsOn (start waits for the controller to be ready)', () => {
    const start = plan.steps.find((s) => s.key === 'i1.ws-1:start')!;
    expect(start.dependsOn).toContain('i1.dc01:ready');
    expect(plan.steps.find((s) => s.key === 'i1.dc01:start')!.dependsOn.some((d) => d.includes('ws-'))).toBe(false);
  });
});

describe('checkWindows: bad input as located issues naming the machine', () => {
  it('accepts the AD lab as written', () => {
    expect(checkWindows(scenarioMachines(adScenario, adWindows))).toEqual([]);
  });

  it('reports a domain join with no controller in the scenario', () => {
    const machines = scenarioMachines(adScenario, { ws: adWindows.ws! });
    expect(checkWindows(machines)).toEqual([
      {
        path: ['machines', 1, 'windows', 'domain', 'name'],
        message:
          'machine "ws" joins domain "corp.lab", but no machine in the scenario is its controller; give a Windows Server machine windows: { domain: { name: corp.lab, role: dc } }',
      },
    ]);
  });

  it('reports a member that does not wait for its controller, and a NetBIOS name that disagrees', () => {
    const machines = scenarioMachines(adScenario.replace('dependsOn: [dc01]', 'dependsOn: []'), {
      ...adWindows,
      ws: { domain: { name: 'corp.lab', netbios: 'CORPORATE', role: 'member' } },
    });
    expect(checkWindows(machines).map((i) => [i.path.join('.'), i.message])).toEqual([
      [
        'machines.1.windows.domain.netbios',
        'machine "ws": domain "corp.lab" has NetBIOS name CORP on its controller "dc01", not CORPORATE',
      ],
      [
        'machines.1.dependsOn',
        'machine "ws" joins domain "corp.lab" but does not depend on its controller "dc01"; add dependsOn: [dc01] so it starts once the domain exists',
      ],
    ]);
  });

  it('reports a machine smaller than its Windows needs', () => {
    // The scenario parser refuses this already; a plan-time caller sees sizes that overrides changed.
    const machines = scenarioMachines(adScenario, adWindows);
    machines[1]!.size = { cpus: 1, memoryMb: 2048, diskGb: 30 };
    expect(checkWindows(machines)).toEqual([
      {
        path: ['machines', 1, 'size'],
        message: 'machine "ws": Windows 11 needs at least 4096 MiB of memory; it has 2048',
      },
      { path: ['machines', 1, 'size'], message: 'machine "ws": Windows 11 needs a disk of at least 64 GiB; it has 30' },
    ]);
    expect(checkWindows(machines, { sizes: false })).toEqual([]);
  });

  it('reports a Windows OS the platform has no template for, unless the machine names one', () => {
    const machines = scenarioMachines(adScenario, adWindows);
    const issues = checkWindows(machines, {
      platform: { kind: 'proxmox', name: 'lab-pve', osKeys: ['windows-server-2022', 'kali-rolling'] },
    });
    expect(issues).toEqual([
      {
        path: ['machines', 1, 'os'],
        message:
          'machine "ws": platform "lab-pve" (proxmox) has no template or image for Windows 11 ("windows-11"); build one (packer/README-windows.md) and map "windows-11" to it in the platform\'s settings, or set platform.proxmox.template on the machine',
      },
    ]);
    machines[1]!.platform = { proxmox: { template: 9100 } };
    expect(
      checkWindows(machines, { platform: { kind: 'proxmox', name: 'lab-pve', osKeys: ['windows-server-2022'] } }),
    ).toEqual([]);
    expect(
      checkWindows(machines, { platform: { kind: 'aws', name: 'aws', osKeys: [] } }).map(
        (i) => i.message.split(';')[0],
      ),
    ).toEqual([
      'machine "dc01": platform "aws" (aws) has no template or image for Windows Server 2022 ("windows-server-2022")',
      'machine "ws": platform "aws" (aws) has no template or image for Windows 11 ("windows-11")',
    ]);
    expect(checkWindows(machines, { platform: { kind: 'simulator', name: 'sim', osKeys: [] } })).toEqual([]);
  });

  it('reports controllers that cannot be: a client OS, replicas, two per domain, no administrator', () => {
    const text = adScenario.replace('os: windows-11\n    count: 2', 'os: windows-11\n    count: 1');
    const machines = scenarioMachines(text, {
      dc01: adWindows.dc01!,
      ws: { domain: { name: 'corp.lab', role: 'dc' } },
    });
    expect(checkWindows(machines).map((i) => [i.path.join('.'), i.message])).toEqual([
      [
        'machines.1.windows.domain.role',
        'machine "ws": only Windows Server can be a domain controller, and its OS is Windows 11',
      ],
      [
        'machines.1.users',
        'machine "ws": a domain controller needs a user with sudo: true; that user becomes the domain\'s administrator',
      ],
      [
        'machines.1.windows.domain.name',
        'machine "ws": domain "corp.lab" already has its controller "dc01" (machines[0]); a scenario creates one controller per domain',
      ],
    ]);
    const replicas = scenarioMachines(
      adScenario
        .replace('name: dc01\n    os: windows-server-2022', 'name: dc\n    count: 2\n    os: windows-server-2022')
        .replace('dependsOn: [dc01]', 'dependsOn: [dc]'),
      { dc: adWindows.dc01!, ws: adWindows.ws! },
    );
    expect(checkWindows(replicas)[0]).toEqual({
      path: ['machines', 0, 'count'],
      message: 'machine "dc": a domain controller is one machine; count 2 would create 2 forests named "corp.lab"',
    });
  });

  it('reports windows settings on Linux, apt packages and over-long user names on Windows', () => {
    const text = adScenario
      .replace('name: attacker\n    os: kali-rolling', 'name: attacker\n    os: kali-rolling\n    packages: [nmap]')
      .replace(
        '- { name: svc-sql, password: "Summer2024" }',
        '- { name: svc-sql-reporting-agent, password: "Summer2024" }',
      );
    const machines = scenarioMachines(text, { ...adWindows, attacker: { remote: ['ssh'] } });
    machines[0]!.packages = ['nginx'];
    expect(checkWindows(machines).map((i) => [i.path.join('.'), i.message])).toEqual([
      [
        'machines.0.users.1.name',
        'machine "dc01": Windows user names are at most 20 characters; "svc-sql-reporting-agent" has 23',
      ],
      [
        'machines.0.packages',
        'machine "dc01": packages are installed with apt and do not apply to Windows Server 2022; use run with PowerShell commands instead',
      ],
      [
        'machines.2.windows',
        'machine "attacker": windows settings apply only to Windows machines, and its OS is Kali Linux (rolling)',
      ],
    ]);
  });
});
