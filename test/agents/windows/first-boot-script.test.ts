// The Windows first-boot script: its configuration by value, and the script text structurally (pwsh is not in
// Debian's archive; when a pwsh is on PATH, its own parser checks the script too).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildWindowsFirstBootScript,
  safeModePassword,
  windowsFirstBootConfig,
  type WindowsFirstBootConfig,
} from '../../../server/agents/windows/first-boot-script.ts';
import { failedMarker, firstBootOutcome, readyMarker } from '../../../server/model/first-boot.ts';
import { readPowerShell } from './powershell-structure.ts';
import { adScenario, adWindows, passwordsOf, planWithWindows } from './ad-plan.ts';
import { tempFile } from '../lab-plan.ts';

const plan = planWithWindows(adScenario, adWindows, 'proxmox', 2);
const m = (key: string) => plan.machines.find((x) => x.key === key)!;
const dcConfig = windowsFirstBootConfig(plan, m('i2.dc01'), {
  passwords: passwordsOf(plan, 'i2.dc01'),
  secret: 'deployment-secret',
});
const memberConfig = windowsFirstBootConfig(plan, m('i2.ws-2'), {
  passwords: { student: `St'udent <&> "2024"` },
  secret: 'deployment-secret',
  domainAdminPassword: 'Corp-Lab-2024!',
});

function configOf(script: string): WindowsFirstBootConfig {
  const match = /ConvertFrom-Json @'\r\n(.*)\r\n'@/.exec(script);
  if (!match) throw new Error('no configuration here-string in the script');
  return JSON.parse(match[1]!) as WindowsFirstBootConfig;
}

describe('the first-boot configuration of a domain controller', () => {
  it('promotes a new forest with a derived restore password and the router as DNS forwarder', () => {
    expect(dcConfig.domain).toEqual({
      role: 'dc',
      name: 'corp.lab',
      netbios: 'CORP',
      safeModePassword: safeModePassword('deployment-secret', 'i2.dc01'),
      forwarders: ['10.20.10.1'],
    });
    expect(dcConfig.domain?.role === 'dc' && dcConfig.domain.safeModePassword).toMatch(/^[A-Za-z2-9]{20}$/);
    expect(safeModePassword('deployment-secret', 'i1.dc01')).not.toBe(safeModePassword('deployment-secret', 'i2.dc01'));
  });

  it("sets static addresses matched by MAC, resolvers on the routed NIC, and opens access to its instance's networks only", () => {
    const nic = m('i2.dc01').nics[0]!;
    expect(dcConfig.addressing).toBe('static');
    expect(dcConfig.nics).toEqual([
      { mac: nic.mac, network: 'corp', ip: '10.20.10.5', prefix: 24, gateway: '10.20.10.1', dns: ['10.20.10.1'] },
    ]);
    expect(dcConfig.labNetworks).toEqual(['10.20.10.0/24', '10.20.66.0/24']);
    expect(dcConfig.remote).toEqual(['ssh', 'winrm', 'rdp']);
    expect(dcConfig.online).toBe(false);
  });

  it("makes its sudo users administrators and gives the built-in Administrator the first one's password", () => {
    expect(dcConfig.users.map((u) => [u.name, u.admin, u.password])).toEqual([
      ['labadmin', true, 'pw-labadmin'],
      ['svc-sql', false, 'pw-svc-sql'],
    ]);
    expect(dcConfig.users[0]!.sshKeys[0]).toMatch(/^ssh-ed25519 /);
    expect(dcConfig.administratorPassword).toBe('pw-labadmin');
  });
});

describe('the first-boot configuration of a domain member', () => {
  it("joins with the controller's administrator, resolving through the controller first", () => {
    expect(memberConfig.domain).toEqual({
      role: 'member',
      name: 'corp.lab',
      netbios: 'CORP',
      controller: 'dc01',
      controllerAddress: '10.20.10.5',
      joinUser: 'labadmin',
      joinPassword: 'Corp-Lab-2024!',
    });
    expect(memberConfig.nics[0]!.dns).toEqual(['10.20.10.5', '10.20.10.1']);
    expect(memberConfig.remote).toEqual(['rdp', 'ssh']);
    expect(memberConfig.run).toEqual([`Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\Lab' -Name Flag -Value 'x'`]);
  });

  it('refuses to build without the join password, naming the machine and the account', () => {
    expect(() => windowsFirstBootConfig(plan, m('i1.ws-1'), { passwords: { student: 'x' }, secret: 's' })).toThrow(
      'Unable to build the Windows first boot of machine "i1.ws-1": it joins domain "corp.lab" but the password of "labadmin" on its controller "i1.dc01" was not given',
    );
    expect(() =>
      windowsFirstBootConfig(plan, m('i1.ws-1'), { passwords: {}, secret: 's', domainAdminPassword: 'x' }),
    ).toThrow('no password was given for user "student"');
  });

  it("uses the clouds' DHCP for addresses and sets only the resolvers there", () => {
    const aws = planWithWindows(adScenario, adWindows, 'aws');
    const c = windowsFirstBootConfig(
      aws,
      aws.machines.find((x) => x.key === 'i1.ws-1')!,
      { passwords: { student: 'x' }, secret: 's', domainAdminPassword: 'y' },
    );
    expect(c.addressing).toBe('dhcp');
    expect(c.dns[0]).toBe('10.20.10.5');
  });
});

describe('the first-boot script text', () => {
  const script = buildWindowsFirstBootScript(memberConfig);

  it('carries the configuration as one line of JSON that reads back exactly, in an ASCII, CRLF file', () => {
    expect(configOf(script)).toEqual(memberConfig);
    expect(/^[\x00-\x7f]*$/.test(script)).toBe(true);
    expect(script.replace(/\r\n/g, '')).not.toContain('\n');
    const odd = buildWindowsFirstBootScript({
      ...memberConfig,
      users: [{ ...memberConfig.users[0]!, password: "P@ss'@\n'@ wört €" }],
    });
    expect(/^[\x00-\x7f]*$/.test(odd)).toBe(true);
    expect(configOf(odd).users[0]!.password).toBe("P@ss'@\n'@ wört €");
  });

  it('has no password anywhere but the configuration line', () => {
    const withoutConfig = script.replace(/ConvertFrom-Json @'\r\n.*\r\n'@/, '');
    for (const secret of ['Corp-Lab-2024!', "St'udent"]) {
      expect(script).toContain(JSON.stringify(secret).slice(1, -1));
      expect(withoutConfig).not.toContain(secret);
    }
  });

  it('is structurally sound PowerShell 5.1: balanced, terminated, no 7-only operators, every own function defined', () => {
    const s = readPowerShell(script);
    expect(s.problems).toEqual([]);
    expect(s.calledOwn.length).toBeGreaterThan(15);
    expect(s.calledOwn.filter((f) => !s.defined.includes(f))).toEqual([]);
    expect(script.startsWith('# Glassdome first boot for Windows')).toBe(true);
    // param() must be the first statement: only comments before it.
    expect(script.split('\r\n').find((l) => !l.startsWith('#'))).toBe('param([switch]$Run)');
  });

  it('prints the first-boot lines the drivers parse (model/first-boot.ts), with the resource name', () => {
    const template = readFileSync(
      new URL('../../../server/agents/templates/windows-first-boot.ps1', import.meta.url),
      'utf8',
    );
    expect(template).toContain(`Write-GdConsole "${readyMarker} $($Config.resource)"`);
    expect(template).toContain(`Write-GdConsole "${failedMarker} $($Config.resource): $oneLine"`);
    const resource = configOf(script).resource;
    expect(resource).toBe('gd-d1-i2-ws-2');
    // The lines as PowerShell expands them, on a console with other output around them.
    expect(firstBootOutcome(`boot noise\r\n${readyMarker} ${resource}\r\n`, resource)).toEqual({ state: 'ready' });
    expect(firstBootOutcome(`${failedMarker} ${resource}: self-check: sshd is not running\r\n`, resource)).toEqual({
      state: 'failed',
      reason: 'self-check: sshd is not running',
    });
    expect(firstBootOutcome(`${readyMarker} ${resource}\r\n`, 'gd-d1-i2-ws-1')).toBeUndefined();
  });

  it('the structure reader itself catches what it claims to', () => {
    expect(readPowerShell('function A { if ($x) { 1 }').problems).toEqual(['line 1: "{" is never closed']);
    expect(readPowerShell("Write-Host 'open").problems).toEqual(['line 1: unterminated single-quoted string']);
    expect(readPowerShell('$a = $b ?? 1').problems).toEqual(['line 1: "??" is PowerShell 7 only']);
    expect(readPowerShell('Write-Host "x $( (1 + 2) y"').problems[0]).toMatch(/unterminated/);
    expect(
      readPowerShell('$h = @\'\n}\'{ "\n\'@\n# ) comment\n<# ] #>\nWrite-Host "$($h.Length) `" done"').problems,
    ).toEqual([]);
    expect(readPowerShell('(]').problems).toEqual(['line 1: "]" closes "(" opened on line 1']);
  });

  const pwsh = spawnSync('pwsh', ['-NoProfile', '-Command', '$PSVersionTable.PSVersion.ToString()'], {
    encoding: 'utf8',
  });
  const hasPwsh = !pwsh.error && pwsh.status === 0;
  if (!hasPwsh)
    console.warn(
      "[skip] PowerShell parser check: pwsh is not installed (not in Debian's archive); the structural checks above stand in",
    );
  it.skipIf(!hasPwsh)("parses with PowerShell's own parser", () => {
    const file = tempFile('first-boot.ps1', script);
    const r = spawnSync(
      'pwsh',
      [
        '-NoProfile',
        '-Command',
        `$e = $null; [void][System.Management.Automation.Language.Parser]::ParseFile('${file}', [ref]$null, [ref]$e); $e | ForEach-Object { $_.Message }; exit $e.Count`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stdout.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});
