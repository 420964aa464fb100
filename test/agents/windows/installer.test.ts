import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildBootMedia, installers } from '../../../server/agents/agent.ts';
import {
  azureRunCommand,
  cloudbaseScriptPath,
  unattendScriptPath,
  type WindowsMedia,
} from '../../../server/agents/windows/installer.ts';
import { domainJoinAccount } from '../../../server/agents/windows/settings.ts';
import { osCatalog } from '../../../server/model/catalog.ts';
import { cloudInitFields } from '../../../server/platforms/proxmox/cloud-init.ts';
import { adScenario, adWindows, passwordsOf, planWithWindows } from './ad-plan.ts';
import { checkUnattendShape, parseXml } from './xml.ts';

function windowsMedia(
  platform: Parameters<typeof planWithWindows>[2],
  key = 'i1.ws-1',
): { media: WindowsMedia; plan: ReturnType<typeof planWithWindows> } {
  const plan = planWithWindows(adScenario, adWindows, platform);
  const machine = plan.machines.find((m) => m.key === key)!;
  const join = domainJoinAccount(plan, machine);
  const media = buildBootMedia(plan, machine, {
    secret: 's',
    passwords: passwordsOf(plan, key),
    ...(join ? { domainAdminPassword: passwordsOf(plan, join.controllerKey)[join.user] } : {}),
  });
  if (media.kind !== 'windows') throw new Error(`expected Windows media, got ${media.kind}`);
  return { media, plan };
}

describe('Windows media on premises (cloudbase-init, or an answer file)', () => {
  const { media, plan } = windowsMedia('proxmox');
  const ws = plan.machines.find((m) => m.key === 'i1.ws-1')!;

  it('is NoCloud user-data for cloudbase-init: write the script, run it with PowerShell', () => {
    expect(media.via).toBe('cloudbase-init');
    expect(media.userData.startsWith('#cloud-config\n')).toBe(true);
    const doc = parse(media.userData) as { write_files: Array<Record<string, string>>; runcmd: string[] };
    expect(Object.keys(doc).sort()).toEqual(['runcmd', 'write_files']);
    expect(doc.write_files[0]).toMatchObject({ path: cloudbaseScriptPath, encoding: 'b64', permissions: '0600' });
    expect(Buffer.from(doc.write_files[0]!.content!, 'base64').toString('ascii')).toBe(media.script);
    expect(doc.runcmd).toEqual([`powershell.exe -NoProfile -ExecutionPolicy Bypass -File ${cloudbaseScriptPath}`]);
    expect(parse(media.metaData)).toEqual({ 'instance-id': 'd1-i1.ws-1', 'local-hostname': 'ws-1' });
  });

  it('describes the NICs in network-config v2 by MAC, with the controller first among the resolvers', () => {
    expect(parse(media.networkConfig)).toEqual({
      version: 2,
      ethernets: {
        nic0: {
          match: { macaddress: ws.nics[0]!.mac },
          addresses: ['10.20.10.10/24'],
          routes: [{ to: '0.0.0.0/0', via: '10.20.10.1' }],
          nameservers: { addresses: ['10.20.10.5', '10.20.10.1'], search: ['lab.internal'] },
        },
      },
    });
  });

  it('gives the Proxmox driver addresses for its own cloud-init drive and no password to store', () => {
    const fields = cloudInitFields({
      cloudInit: media,
      nics: [{ network: { id: 'vmbr0', name: 'corp' }, mac: ws.nics[0]!.mac }],
    });
    expect(fields).toEqual({
      ipconfig0: 'ip=10.20.10.10/24,gw=10.20.10.1',
      nameserver: '10.20.10.5 10.20.10.1',
      searchdomain: 'lab.internal',
    });
  });

  it('brings an answer file and the script for a CD, for templates without cloudbase-init', () => {
    const files = media.unattend!.files;
    expect(Object.keys(files).sort()).toEqual(['Autounattend.xml', unattendScriptPath]);
    expect(files[unattendScriptPath]).toBe(media.script);
    const doc = parseXml(files['Autounattend.xml']!);
    expect(checkUnattendShape(doc)).toEqual(['specialize', 'oobeSystem']);
    const xml = files['Autounattend.xml']!;
    expect(xml).toContain('<ComputerName>ws-1</ComputerName>');
    expect(xml).toContain('Join-Path $_.Root &apos;glassdome\\first-boot.ps1&apos;');
    expect(xml).not.toContain('pw-student');
    expect(xml).not.toContain('pw-labadmin');
  });
});

describe('Windows media on the clouds', () => {
  it('is EC2Launch v2 user data on AWS: the script between powershell tags', () => {
    const { media } = windowsMedia('aws');
    expect(media.via).toBe('ec2launch');
    expect(media.userData).toBe(`<powershell>\r\n${media.script}</powershell>\r\n`);
    expect(media.networkConfig).toBe('');
    expect(media.unattend).toBeUndefined();
  });

  it('is customData on Azure, started by a run command that copies it to a .ps1 first', () => {
    const { media } = windowsMedia('azure', 'i1.dc01');
    expect(media.via).toBe('azure');
    expect(media.userData).toBe(media.script);
    expect(media.runCommand).toBe(azureRunCommand);
    expect(azureRunCommand).toContain('C:\\AzureData\\CustomData.bin');
  });
});

describe('the installer registry', () => {
  it('builds Windows media for every Windows OS in the catalog, and refuses a member without its join password', () => {
    for (const os of Object.values(osCatalog).filter((o) => o.family === 'windows'))
      expect(installers[os.installer]).toBeTypeOf('function');
    const plan = planWithWindows(adScenario, adWindows, 'esxi');
    const ws = plan.machines.find((m) => m.key === 'i1.ws-2')!;
    expect(ws.nics[0]!.mac.startsWith('00:50:56:')).toBe(true);
    expect(() => buildBootMedia(plan, ws, { secret: 's', passwords: { student: 'x' } })).toThrow(
      /the password of "labadmin" on its controller "i1.dc01" was not given/,
    );
    const standalone = buildBootMedia(
      plan,
      { ...ws, windows: { remote: ['rdp'] } },
      { secret: 's', passwords: { student: 'x' } },
    );
    expect(standalone.kind).toBe('windows');
  });
});
