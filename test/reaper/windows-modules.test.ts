// Windows and Active Directory modules, structurally (pwsh is not in Debian's archive and no Windows runs here): an AD
// lab planned for real, its modules rendered into the Windows first boot; the PowerShell read by the structure reader
// the Windows agent's tests use; located refusals where a module cannot apply; selection; flags and the CTFd export.
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildBootMedia } from '../../server/agents/agent.ts';
import { buildCloudInit } from '../../server/agents/cloud-init.ts';
import type { WindowsFirstBootConfig } from '../../server/agents/windows/first-boot-script.ts';
import { domainJoinAccount } from '../../server/agents/windows/settings.ts';
import { formatIssue } from '../../server/errors.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import { validateScenario } from '../../server/orchestrator/scenario/parse.ts';
import { defaultCatalogue, parseModule, supportedOs } from '../../server/reaper/catalogue.ts';
import { ctfdChallengesCsv, instanceFlags } from '../../server/reaper/flags.ts';
import { renderProbes } from '../../server/reaper/probes.ts';
import { renderMachineVulnerabilities, renderVulnerability } from '../../server/reaper/render.ts';
import { checkMachineRequests, resolveVulnerabilities } from '../../server/reaper/selection.ts';
import { gppCpassword, renderTemplate } from '../../server/reaper/template.ts';
import { planWithWindows } from '../agents/windows/ad-plan.ts';
import { readPowerShell } from '../agents/windows/powershell-structure.ts';

const catalogue = defaultCatalogue();
const secret = 'deployment-secret';
const template = readFileSync(new URL('../../server/agents/templates/windows-first-boot.ps1', import.meta.url), 'utf8');
const templateFunctions = readPowerShell(template).defined;

const adLab = `
glassdome: 1
name: ad-vulns
title: AD lab with vulnerabilities
seed: winter-class
networks:
  - { name: corp, cidr: 10.20.10.0/24 }
  - { name: attack, cidr: 10.20.66.0/24 }
machines:
  - name: dc01
    os: windows-server-2022
    size: medium
    networks: [{ network: corp, ip: 10.20.10.5 }]
    users: [{ name: labadmin, password: "Corp-Lab-2024!", sudo: true }]
    windows: { domain: { name: corp.lab, role: dc } }
    vulnerabilities:
      - kerberoastable-service-account
      - { module: gpp-cpassword-sysvol, params: { password: "Gpp-Test.2024!" } }
      - { select: { category: ad, count: 2 } }
  - name: ws
    os: windows-11
    size: { cpus: 2, memory: 4G, disk: 64G }
    networks: [corp]
    dependsOn: [dc01]
    users: [{ name: student, password: "Student-2024!" }]
    windows: { domain: { name: corp.lab, role: member }, remote: [ssh, rdp] }
    run: ["Set-ItemProperty -Path 'HKLM:\\\\SOFTWARE\\\\Lab' -Name Ready -Value 1"]
    vulnerabilities: [weak-local-admin-smb, unquoted-service-path]
  - name: kali
    os: kali-rolling
    networks: [attack]
`;

const plan = planWithWindows(adLab, {}, 'proxmox', 2);
const machine = (key: string) => plan.machines.find((m) => m.key === key)!;
const passwords = (m: PlannedMachine) => Object.fromEntries(m.users.map((u) => [u.name, `pw-${u.name}`]));

function rendered(m: PlannedMachine) {
  return renderMachineVulnerabilities(m.vulnerabilities, {
    os: m.os,
    machineKey: m.key,
    secret,
    seed: plan.seed,
    catalogue,
    ...(m.windows?.domain ? { domain: m.windows.domain } : {}),
  });
}

function media(p: Plan, m: PlannedMachine) {
  const join = domainJoinAccount(p, m);
  const out = buildBootMedia(p, m, {
    secret,
    passwords: passwords(m),
    ...(join ? { domainAdminPassword: 'pw-labadmin' } : {}),
    vulnerabilities: rendered(m),
  });
  if (out.kind !== 'windows') throw new Error(`expected Windows media for ${m.key}`);
  return out;
}

function configOf(script: string): WindowsFirstBootConfig {
  const match = /ConvertFrom-Json @'\r\n(.*)\r\n'@/.exec(script);
  if (!match) throw new Error('no configuration here-string in the script');
  return JSON.parse(match[1]!) as WindowsFirstBootConfig;
}

const dc1 = media(plan, machine('i1.dc01'));
const dc2 = media(plan, machine('i2.dc01'));
const ws1 = media(plan, machine('i1.ws'));
const dc1Config = configOf(dc1.script);
const ws1Config = configOf(ws1.script);

describe('Windows modules in the first boot', () => {
  it("puts a controller's modules into its configuration in the order the plan gives them", () => {
    const planned = machine('i1.dc01').vulnerabilities;
    expect(planned.map((v) => v.module).slice(0, 2)).toEqual([
      'kerberoastable-service-account',
      'gpp-cpassword-sysvol',
    ]);
    expect(planned).toHaveLength(4);
    expect(dc1Config.modules.map((m) => m.key)).toEqual(planned.map((v) => v.key));
    expect(dc1Config.domain?.role).toBe('dc');
    // The member's modules and its own run command are both kept.
    expect(ws1Config.modules.map((m) => m.module)).toEqual(['weak-local-admin-smb', 'unquoted-service-path']);
    expect(ws1Config.run).toHaveLength(1);
  });

  it('runs the modules after the domain steps and the run commands, before the self-check', () => {
    const main = template.slice(template.lastIndexOf('try {'));
    const order = [
      "Invoke-GdStep 'domain'",
      "Invoke-GdStep 'domain-accounts'",
      'Invoke-GdRunCommands',
      'Invoke-GdModules',
      'Test-GdFirstBoot',
    ];
    const at = order.map((s) => main.indexOf(s));
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // Each module at most once: recorded as done before it runs, like the run commands; a failure names it.
    const body = template.slice(
      template.indexOf('function Invoke-GdModules'),
      template.indexOf('function Test-GdFirstBoot'),
    );
    expect(body.indexOf('Add-Content -LiteralPath $StepsFile -Value $step')).toBeLessThan(
      body.indexOf('New-GdModuleUser $u'),
    );
    expect(body).toContain('Stop-GdWithFailure "vulnerability $($m.key) did not apply');
  });

  it("substitutes the instance's parameters and the domain into the PowerShell, leaving no placeholder", () => {
    const kerberoast = dc1Config.modules.find((m) => m.module === 'kerberoastable-service-account')!;
    const params = machine('i1.dc01').vulnerabilities.find(
      (v) => v.module === 'kerberoastable-service-account',
    )!.params;
    expect(kerberoast.script).toContain(
      `Set-ADUser -Identity '${String(params.service)}' -ServicePrincipalNames @{ Add = $spn }`,
    );
    expect(kerberoast.script).toContain('$spn = "MSSQLSvc/$($env:COMPUTERNAME.ToLowerInvariant()).corp.lab:1433"');
    expect(kerberoast.script).toContain(`New-SmbShare -Name '${String(params.share)}'`);
    expect(kerberoast.users).toEqual([
      { name: String(params.user), password: expect.stringMatching(/^[A-Za-z2-9]{20}$/), groups: [] },
      { name: String(params.service), password: String(params.password), groups: [] },
    ]);
    for (const config of [dc1Config, ws1Config])
      for (const m of config.modules) {
        expect(m.script, m.key).not.toMatch(/\{\{|\}\}/);
        expect(m.script.startsWith(`# first-boot apply of vulnerability ${m.key}`), m.key).toBe(true);
      }
    const admin = ws1Config.modules.find((m) => m.module === 'weak-local-admin-smb')!;
    expect(admin.users[0]!.groups).toEqual(['S-1-5-32-544']);
  });

  it('plants a different flag in each instance, each only in its own machine', () => {
    const flagOf = (config: WindowsFirstBootConfig, module: string) =>
      /-Value '(GD\{[0-9a-f]{32}\})'/.exec(config.modules.find((m) => m.module === module)!.script)?.[1];
    const dc2Config = configOf(dc2.script);
    const f1 = flagOf(dc1Config, 'kerberoastable-service-account')!;
    const f2 = flagOf(dc2Config, 'kerberoastable-service-account')!;
    expect(f1).toMatch(/^GD\{[0-9a-f]{32}\}$/);
    expect(f2).toMatch(/^GD\{[0-9a-f]{32}\}$/);
    expect(f1).not.toBe(f2);
    expect(dc2.script).not.toContain(f1);
    expect(flagOf(dc1Config, 'gpp-cpassword-sysvol')).not.toBe(f1);
    // Flags are written by the first-boot script's helper, readable by the module's account only.
    const kerberoast = dc1Config.modules.find((m) => m.module === 'kerberoastable-service-account')!;
    expect(kerberoast.script).toMatch(
      new RegExp(
        `^Set-GdFlagFile -Path 'C:\\\\Shares\\\\\\w+\\\\flag\\.txt' -Value '${f1.replace(/[{}]/g, '\\$&')}' -Readers @\\('svc_\\w+'\\)$`,
        'm',
      ),
    );
  });

  it('is sound PowerShell 5.1, structurally: the whole script, each module, each revert; every Gd helper defined', () => {
    for (const m of [dc1, dc2, ws1]) expect(readPowerShell(m.script).problems).toEqual([]);
    for (const id of [...catalogue.modules.keys()]) {
      const mod = catalogue.modules.get(id)!;
      if (!supportedOs(mod).includes('windows-server-2022')) continue;
      const dc = mod.roles?.includes('dc') ?? true;
      const key = dc ? 'i1.dc01' : 'i1.ws';
      const [inst] = resolveVulnerabilities(
        [id],
        { key, name: key.slice(3), os: dc ? 'windows-server-2022' : 'windows-11', domainRole: dc ? 'dc' : 'member' },
        { seed: 's', catalogue },
      ).instances;
      const r = renderVulnerability(mod, inst!, {
        os: 'windows-server-2022',
        machineKey: key,
        secret,
        seed: 's',
        domain: { name: 'corp.lab', netbios: 'CORP' },
      });
      expect(r.windows).toBe(true);
      for (const text of [r.applyScript!, r.revertScript ?? '']) {
        const s = readPowerShell(text);
        expect(s.problems, id).toEqual([]);
        expect(
          s.calledOwn.filter((f) => !templateFunctions.includes(f)),
          id,
        ).toEqual([]);
        expect(text, id).not.toMatch(/\{\{|\}\}/);
      }
    }
  });

  it('keeps the GPP password encoded in SYSVOL: only its cpassword is in the script, and it decrypts back', () => {
    const gpp = dc1Config.modules.find((m) => m.module === 'gpp-cpassword-sysvol')!;
    const account = gpp.users.find((u) => u.password === 'Gpp-Test.2024!')!;
    expect(account).toBeDefined();
    expect(gpp.script).not.toContain('Gpp-Test.2024!');
    const cpassword = /cpassword="([A-Za-z0-9+/]+)"/.exec(gpp.script)![1]!;
    expect(cpassword).toBe(gppCpassword('Gpp-Test.2024!'));
    // Decrypted the way gpp-decrypt and Get-GPPPassword do: pad the base64 again, AES-256-CBC with the published key.
    const key = Buffer.from('4e9906e8fcb66cc9faf49310620ffee8f496e806cc057990209b09a433b66c1b', 'hex');
    const padded = cpassword + '='.repeat((4 - (cpassword.length % 4)) % 4);
    const d = crypto.createDecipheriv('aes-256-cbc', key, Buffer.alloc(16));
    const plain = Buffer.concat([d.update(Buffer.from(padded, 'base64')), d.final()]).toString('utf16le');
    expect(plain).toBe('Gpp-Test.2024!');
    expect(gpp.script).toContain(`userName="${account.name}"`);
  });

  it('quotes PowerShell strings with the ps filter, typographic quotes included', () => {
    expect(renderTemplate('Write-Host {{v|ps}}', { v: "it's \u2019quoted\u2019" })).toBe(
      "Write-Host 'it''s \u2019\u2019quoted\u2019\u2019'",
    );
    expect(readPowerShell(renderTemplate('$x = {{v|ps}}', { v: "a'b" })).problems).toEqual([]);
  });

  it('matches the cpassword example Microsoft-key tools are tested with', () => {
    expect(gppCpassword('Local*P4ssword!')).toBe('j1Uyj3Vx8TY9LtLZil2uAuZkFQA/4latT76ZwgdHdhw');
  });

  it('refuses to render a domain module for a machine in no domain, naming both', () => {
    const dc = machine('i1.dc01');
    expect(() =>
      renderMachineVulnerabilities(dc.vulnerabilities, {
        os: dc.os,
        machineKey: dc.key,
        secret,
        seed: plan.seed,
        catalogue,
      }),
    ).toThrow(
      `Unable to render vulnerability "i1.dc01/kerberoastable-service-account" (module kerberoastable-service-account): machine "i1.dc01" is in no domain; the module applies only in one`,
    );
  });

  it('has no password in the script outside the configuration line', () => {
    const withoutConfig = dc1.script.replace(/ConvertFrom-Json @'\r\n.*\r\n'@/, '');
    for (const m of dc1Config.modules) for (const u of m.users) expect(withoutConfig).not.toContain(u.password);
  });

  it("refuses a module user that is one of the machine's own (whatever its case), and cloud-init modules", () => {
    const dc = machine('i1.dc01');
    const [first] = rendered(dc);
    const clash = { ...first!, users: [{ ...first!.users[0]!, name: 'LabAdmin' }] };
    expect(() => buildBootMedia(plan, dc, { secret, passwords: passwords(dc), vulnerabilities: [clash] })).toThrow(
      'module "kerberoastable-service-account" creates user "LabAdmin", which the machine already has',
    );
    const linux = { key: 'i1.dc01/x', module: 'weak-ssh-password', packages: [], users: [], files: [] };
    expect(() => buildBootMedia(plan, dc, { secret, passwords: passwords(dc), vulnerabilities: [linux] })).toThrow(
      'module "weak-ssh-password" applies through cloud-init, not on Windows',
    );
    const kali = machine('i1.kali');
    expect(() =>
      buildCloudInit(kali, {
        networks: plan.networks,
        passwords: passwords(kali),
        instanceId: 'x',
        secret,
        vulnerabilities: [first!],
      }),
    ).toThrow('module "kerberoastable-service-account" is a Windows module; it cannot apply through cloud-init');
  });
});

describe('Windows verify probes, from the attacker machine', () => {
  const dc = machine('i1.dc01');
  const probesOf = (m: PlannedMachine, module: string) => {
    const inst = m.vulnerabilities.find((v) => v.module === module)!;
    return {
      inst,
      probes: renderProbes(catalogue.modules.get(module)!, inst, {
        os: m.os,
        host: '10.20.10.5',
        secret,
        seed: plan.seed,
        machineKey: m.key,
        ...(m.windows?.domain ? { domain: m.windows.domain } : {}),
      }),
    };
  };

  it('Kerberoasts with impacket, the password typed at its prompt, then reads the flag over SMB from a 0600 file', () => {
    const { inst, probes } = probesOf(dc, 'kerberoastable-service-account');
    const [roast, smb] = probes;
    const footholdPassword = rendered(dc).find((r) => r.key === inst.key)!.users[0]!.password;
    expect(roast!.requires).toEqual(['impacket-GetUserSPNs', 'timeout', 'setsid']);
    expect(roast!.script).toContain(
      `printf '%s\\n' "$password" | timeout 30 setsid -w impacket-GetUserSPNs 'corp.lab/${String(inst.params.user)}' '-dc-ip' '10.20.10.5' '-request'`,
    );
    expect(roast!.script.split('\n').filter((l) => l.includes(footholdPassword))).toEqual([
      `password='${footholdPassword}'`,
    ]);
    expect(
      new RegExp(roast!.expect.matches!).test(`$krb5tgs$23$*${String(inst.params.service)}$CORP.LAB$corp.lab/x*$ab$cd`),
    ).toBe(true);
    expect(new RegExp(roast!.expect.matches!).test(`$krb5tgs$23$*svc_other$CORP.LAB$x*$ab`)).toBe(
      inst.params.service === 'svc_other',
    );
    const password = String(inst.params.password);
    expect(smb!.script.split('\n').filter((l) => l.includes(password))).toEqual([
      `printf 'username = %s\\npassword = %s\\n' '${String(inst.params.service)}' '${password}' > "$dir/auth"`,
    ]);
    expect(smb!.script).toContain(
      `timeout 30 smbclient -A "$dir/auth" -p 445 "//$host/"'${String(inst.params.share)}' -c 'get "flag.txt" -'`,
    );
    expect(smb!.expect.contains).toMatch(/^GD\{[0-9a-f]{32}\}$/);
    for (const p of probes) expect(p.script).not.toContain(smb!.expect.contains);
  });

  it('AS-REP roasts with -no-pass and no password at all', () => {
    const { inst, probes } = probesOf(dc, 'gpp-cpassword-sysvol');
    expect(probes[0]!.expect.contains).toBe(`cpassword="${gppCpassword(String(inst.params.password))}"`);
    const asrep = renderProbes(
      catalogue.modules.get('asrep-roastable-user')!,
      {
        key: 'i1.dc01/asrep-roastable-user',
        module: 'asrep-roastable-user',
        params: { user: 'tmiller', target: 'hr_scanner', password: 'Welcome1', share: 'HR' },
        request: 0,
        selected: false,
      },
      { os: dc.os, host: '10.20.10.5', secret, seed: plan.seed, machineKey: dc.key, domain: dc.windows!.domain! },
    );
    expect(asrep[0]!.script.trim().split('\n').at(-1)).toBe(
      "timeout 30 impacket-GetNPUsers 'corp.lab/hr_scanner' '-no-pass' '-dc-ip' '10.20.10.5' '-format' 'hashcat'",
    );
    expect(new RegExp(asrep[0]!.expect.matches!).test('$krb5asrep$23$hr_scanner@CORP.LAB:0a1b$2c3d')).toBe(true);
    expect(asrep[0]!.script).not.toContain('Welcome1');
  });

  it('runs PowerShell over SSH as -EncodedCommand (UTF-16LE base64) that decodes to the rendered command', () => {
    const ws = machine('i1.ws');
    const { inst, probes } = probesOf(ws, 'unquoted-service-path');
    const encoded = / -EncodedCommand ([A-Za-z0-9+/=]+)$/m.exec(probes[0]!.script)![1]!;
    const command = Buffer.from(encoded, 'base64').toString('utf16le');
    expect(command).toContain(
      `Get-CimInstance -ClassName Win32_Service -Filter "Name='${String(inst.params.vendor)}Update'"`,
    );
    expect(readPowerShell(command).problems).toEqual([]);
    expect(probes[0]!.script).toContain(
      `'${String(inst.params.user)}'@"$host" powershell.exe -NoProfile -NonInteractive`,
    );
  });
});

describe('where Windows modules may go: located refusals', () => {
  const issuesOf = (text: string) => validateScenario(text, 'lab.yaml').issues.map(formatIssue);
  const oneMachine = (os: string, vulns: string, windows = '') => `glassdome: 1
name: one
networks: [{ name: lan, cidr: 10.9.1.0/24 }]
machines:
  - name: target
    os: ${os}
    size: { cpus: 2, memory: 4G, disk: 64G }
    networks: [lan]${windows ? `\n    windows: ${windows}` : ''}
    vulnerabilities: ${vulns}
`;

  it('refuses a Windows module on a Linux machine, at the request', () => {
    expect(issuesOf(oneMachine('debian-12', '[smb-share-everyone]'))).toEqual([
      'lab.yaml:9:23: machines[0].vulnerabilities[0]: module "smb-share-everyone" does not apply to Debian 12 (bookworm); it supports windows-11, windows-server-2022',
    ]);
  });

  it('refuses an AD module on a Windows machine outside a domain, and on a member when it needs the controller', () => {
    expect(issuesOf(oneMachine('windows-server-2022', '[dcsync-rights]'))).toEqual([
      'lab.yaml:9:23: machines[0].vulnerabilities[0]: module "dcsync-rights" applies only to a domain controller; this machine is a standalone machine (give it windows: { domain: ... })',
    ]);
    expect(
      issuesOf(oneMachine('windows-server-2022', '[weak-local-admin-smb]', '{ domain: { name: corp.lab, role: dc } }')),
    ).toEqual([
      'lab.yaml:10:23: machines[0].vulnerabilities[0]: module "weak-local-admin-smb" applies only to a standalone machine or a domain member; this machine is a domain controller',
    ]);
    expect(issuesOf(oneMachine('windows-server-2022', '[unquoted-service-path]', '{ remote: [rdp] }'))).toEqual([
      'lab.yaml:10:23: machines[0].vulnerabilities[0]: module "unquoted-service-path" is verified over SSH, which this machine does not open; add ssh to its windows.remote',
    ]);
    expect(
      issuesOf(oneMachine('windows-server-2022', '[dcsync-rights]', '{ domain: { name: corp.lab, role: dc } }')),
    ).toEqual([]);
  });

  it("says how many a selection may draw on this machine's place in a domain", () => {
    expect(issuesOf(oneMachine('windows-server-2022', '[{ select: { category: ad, count: 1 } }]'))).toEqual([
      'lab.yaml:9:56: machines[0].vulnerabilities[0].select.count: only 0 modules with category ad apply to Windows Server 2022 outside a domain; ask for at most 0',
    ]);
  });
});

describe('the loader: located errors in a Windows module file', () => {
  const windowsModule = [
    'id: demo-win',
    'title: Demo',
    'category: ad',
    'difficulty: easy',
    'summary: A demo.',
    'challenge: Find the flag in {{ad.domain}}.',
    'os: [windows]',
    'roles: [dc]',
    'apply:',
    '  powershell:',
    '    - Set-ADUser -Identity x -Description {{ad.netbios|ps}}',
    'verify:',
    '  - { kind: smb, description: It reads., share: S, path: flag.txt, user: x, password: y, expect: { contains: "{{flag}}" } }',
    'flag:',
    '  location: C:\\S\\flag.txt',
    '  file: { path: C:\\S\\flag.txt, readers: [x] }',
    'marking: Solved with {{flag}}.',
  ];
  const issuesOf = (lines: string[]) =>
    parseModule(`${lines.join('\n')}\n`, 'demo-win.yaml').issues.map(
      (i) => `${i.at?.line}:${i.at?.column} ${i.path}: ${i.message}`,
    );
  const change = (from: string, to: string[]) => windowsModule.flatMap((l) => (l === from ? to : [l]));

  it('accepts a domain module with its PowerShell, a Windows flag file and a logged-in SMB probe', () => {
    expect(issuesOf(windowsModule)).toEqual([]);
  });

  it('refuses an ad module that may land outside a domain, and {{ad.*}} there', () => {
    const issues = issuesOf(change('roles: [dc]', ['roles: [standalone, dc]']));
    expect(issues).toContainEqual(expect.stringMatching(/^8:\d+ roles: an ad module applies only in a domain/));
    expect(issues).toContainEqual(
      '6:29 challenge: {{ad.domain}} needs a domain: only a Windows module whose roles are dc and/or member may use it',
    );
  });

  it('refuses cloud-init steps in a Windows module, PowerShell in a Linux one, and a mix of both kinds of OS', () => {
    expect(issuesOf(change('  powershell:', ['  runcmd: [echo x]', '  powershell:']))).toEqual([
      '10:11 apply.runcmd: a Windows module applies through apply.powershell (and apply.users); apply.runcmd is for cloud-init',
    ]);
    expect(issuesOf(change('os: [windows]', ['os: [windows, debian]']))).toContainEqual(
      '7:6 os[0]: "windows" is not installed with cloud-init: a module applies through cloud-init or through the Windows installer, not both; give Windows its own module',
    );
    const linux = change('os: [windows]', ['os: [debian]']).filter((l) => l !== 'roles: [dc]');
    const issues = issuesOf(linux);
    expect(issues).toContainEqual(
      expect.stringMatching(/^10:5 apply\.powershell: apply\.powershell is for Windows modules/),
    );
    expect(issues).toContainEqual(expect.stringMatching(/^3:\d+ category: an ad module needs Active Directory/));
  });

  it('refuses a Unix flag file and sh over SSH on Windows', () => {
    const issues = issuesOf([
      ...change('  file: { path: C:\\S\\flag.txt, readers: [x] }', ['  file: { path: /root/flag.txt, mode: "0600" }']),
      'conflicts: []',
    ]);
    expect(issues).toContainEqual(expect.stringMatching(/^16:\d+ flag\.file\.path: expected a Windows path/));
    expect(issues).toContainEqual(
      expect.stringMatching(/^16:\d+ flag\.file: a Windows flag file has no owner or mode/),
    );
    const ssh = issuesOf(
      change(windowsModule[12]!, [
        '  - { kind: ssh, description: x, user: x, command: whoami, expect: { contains: "{{flag}}" } }',
      ]),
    );
    expect(ssh).toContainEqual(
      expect.stringMatching(/^13:\d+ verify\[0\]\.shell: a Windows target runs PowerShell over SSH/),
    );
  });
});

describe('selection by category ad', () => {
  const dcTarget = { key: 'i1.dc01', name: 'dc01', os: 'windows-server-2022', domainRole: 'dc' as const };

  it('draws only AD modules that apply to a controller, differently per instance, the same for the same seed', () => {
    const adIds = [...catalogue.modules.values()].filter((m) => m.category === 'ad').map((m) => m.id);
    expect(adIds.length).toBeGreaterThanOrEqual(4);
    const draws = [1, 2, 3, 4].map(
      (i) =>
        resolveVulnerabilities(
          [{ select: { category: 'ad', count: 2 } }],
          { ...dcTarget, key: `i${i}.dc01` },
          { seed: 'seed-1', catalogue },
        ).instances,
    );
    for (const d of draws) {
      expect(d).toHaveLength(2);
      for (const i of d) expect(catalogue.modules.get(i.module)!.category).toBe('ad');
    }
    expect(new Set(draws.map((d) => d.map((i) => i.module).join())).size).toBeGreaterThan(1);
    expect(
      resolveVulnerabilities([{ select: { category: 'ad', count: 2 } }], dcTarget, { seed: 'seed-1', catalogue })
        .instances,
    ).toEqual(draws[0]);
  });

  it('finds nothing to draw on a member, a standalone Windows machine or Linux, and says so', () => {
    for (const target of [
      { os: 'windows-11', domainRole: 'member' as const },
      { os: 'windows-server-2022' },
      { os: 'debian-12' },
    ])
      expect(checkMachineRequests([{ select: { category: 'ad', count: 1 } }], target, catalogue)).toEqual([
        { path: [0, 'select', 'count'], message: expect.stringMatching(/^only 0 modules with category ad apply to /) },
      ]);
  });

  it('mixes Windows modules into a category-free selection only on Windows', () => {
    const linux = resolveVulnerabilities(
      [{ select: { count: 20 } }],
      { key: 'i1.web', name: 'web', os: 'debian-12' },
      { seed: 's', catalogue },
    );
    for (const i of linux.instances) expect(supportedOs(catalogue.modules.get(i.module)!)).toContain('debian-12');
    const member = resolveVulnerabilities(
      [{ select: { category: ['privilege-escalation', 'credentials', 'misconfiguration'], count: 4 } }],
      { key: 'i1.ws', name: 'ws', os: 'windows-11', domainRole: 'member' },
      { seed: 's', catalogue },
    );
    expect(member.issues).toEqual([]);
    expect(member.instances.map((i) => i.module).sort()).toEqual([
      'always-install-elevated',
      'smb-share-everyone',
      'unquoted-service-path',
      'weak-local-admin-smb',
    ]);
  });
});

describe('flags and the CTFd export of Windows modules', () => {
  const machines = plan.machines
    .filter((m) => m.vulnerabilities.length > 0)
    .map((m) => ({
      key: m.key,
      instance: m.instance,
      hostname: m.hostname,
      os: m.os,
      ...(m.windows?.domain ? { domain: m.windows.domain } : {}),
      vulnerabilities: m.vulnerabilities,
    }));
  const rows = instanceFlags(machines, { secret, seed: plan.seed, catalogue });

  it('gives the instructor each Windows instance its flag, the marking guide with the domain, and the accounts', () => {
    expect(rows).toHaveLength(12);
    const dcsync = rows.filter((r) => r.module === 'kerberoastable-service-account');
    expect(dcsync.map((r) => r.instance)).toEqual([1, 2]);
    expect(dcsync[0]!.flag).not.toBe(dcsync[1]!.flag);
    expect(dc1.script).toContain(dcsync[0]!.flag);
    expect(dcsync[0]!.marking).toContain(dcsync[0]!.flag);
    expect(dcsync[0]!.challenge).toContain('corp.lab');
    expect(dcsync[0]!.challenge).not.toContain(dcsync[0]!.flag);
    const foothold = dcsync[0]!.accounts.find((a) => a.foothold)!;
    const inConfig = dc1Config.modules.find((m) => m.module === 'kerberoastable-service-account')!.users[0]!;
    expect(foothold).toEqual({ user: inConfig.name, password: inConfig.password, foothold: true });
  });

  it('exports them to CTFd under Active Directory, with neutral names and their flags', () => {
    const csv = ctfdChallengesCsv(rows, { instances: [1] });
    const ad = csv.split('\r\n').filter((l) => l.startsWith('dc01: Active Directory'));
    expect(ad).toHaveLength(4);
    for (const r of rows.filter((x) => x.instance === 1)) expect(csv).toContain(r.flag);
    expect(csv).not.toContain('kerberoast');
    expect(csv).toContain('ws: Privilege escalation 1');
  });
});
