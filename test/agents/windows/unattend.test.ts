// Answer files parsed with a strict XML parser and checked against the unattend schema's shape (xml.ts), and their
// passwords decoded from the encoded form.
import { describe, expect, it } from 'vitest';
import {
  buildUnattendXml,
  encodeUnattendPassword,
  type UnattendInput,
} from '../../../server/agents/windows/unattend.ts';
import { all, checkUnattendShape, child, children, parseXml, text, wcm, type Element } from './xml.ts';

const input: UnattendInput = {
  computerName: 'dc01',
  timeZone: 'UTC',
  nics: [
    {
      mac: '02:ab:cd:00:11:22',
      ip: '10.20.10.5',
      prefix: 24,
      gateway: '10.20.10.1',
      dns: ['10.20.10.1', '10.20.10.2'],
    },
    { mac: '02:ab:cd:00:11:23', ip: '10.20.66.5', prefix: 24, dns: [] },
  ],
  remoteDesktop: true,
  administratorPassword: `Adm<in>&"pw'`,
  accounts: [
    { name: 'labadmin', password: 'Corp-Lab-2024!', group: 'Administrators' },
    { name: 'student', password: 'Stud3nt&<x>', group: 'Users' },
  ],
  autoLogon: { user: 'labadmin', password: 'Corp-Lab-2024!' },
  firstLogonCommands: [{ command: `powershell.exe -Command "if ($a -lt 1 -and $b) { & 'x' }"`, description: 'start' }],
};

function decode(e: Element): { plain: string; suffix: string } {
  const raw = Buffer.from(text(e, 'Value'), 'base64').toString('utf16le');
  const suffix = e.localName;
  expect(raw.endsWith(suffix)).toBe(true);
  return { plain: raw.slice(0, -suffix.length), suffix };
}

describe('the answer file of a sysprepped template', () => {
  const xml = buildUnattendXml(input);
  const doc = parseXml(xml);

  it('is well-formed and shaped like the unattend schema: specialize, then oobeSystem', () => {
    expect(
      xml.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<unattend xmlns="urn:schemas-microsoft-com:unattend">'),
    ).toBe(true);
    expect(checkUnattendShape(doc)).toEqual(['specialize', 'oobeSystem']);
    const components = (pass: string) =>
      children(children(doc.documentElement!).find((s) => s.getAttribute('pass') === pass)!).map((c) =>
        c.getAttribute('name'),
      );
    expect(components('specialize')).toEqual([
      'Microsoft-Windows-DNS-Client',
      'Microsoft-Windows-Shell-Setup',
      'Microsoft-Windows-TCPIP',
      'Microsoft-Windows-TerminalServices-LocalSessionManager',
    ]);
    expect(components('oobeSystem')).toEqual(['Microsoft-Windows-International-Core', 'Microsoft-Windows-Shell-Setup']);
  });

  it('names the computer and sets each NIC by its MAC, with the default route and resolvers', () => {
    expect(all(doc, 'ComputerName').map((e) => e.textContent)).toEqual(['dc01']);
    const ifaces = all(doc, 'Interface').filter((i) => children(i, 'Ipv4Settings').length === 1);
    expect(ifaces.map((i) => text(i, 'Identifier'))).toEqual(['02-AB-CD-00-11-22', '02-AB-CD-00-11-23']);
    expect(text(child(ifaces[0]!, 'UnicastIpAddresses'), 'IpAddress')).toBe('10.20.10.5/24');
    expect(text(child(child(ifaces[0]!, 'Routes'), 'Route'), 'NextHopAddress')).toBe('10.20.10.1');
    expect(children(ifaces[1]!, 'Routes')).toHaveLength(0);
    const dns = all(doc, 'DNSServerSearchOrder');
    expect(dns).toHaveLength(1);
    expect(children(dns[0]!, 'IpAddress').map((e) => [e.getAttributeNS(wcm, 'keyValue'), e.textContent])).toEqual([
      ['1', '10.20.10.1'],
      ['2', '10.20.10.2'],
    ]);
  });

  it('carries every password encoded (UTF-16LE of password + element name, base64), and none in plain text', () => {
    const encoded = [...all(doc, 'AdministratorPassword'), ...all(doc, 'Password')].map(decode);
    expect(encoded).toEqual([
      { plain: `Adm<in>&"pw'`, suffix: 'AdministratorPassword' },
      { plain: 'Corp-Lab-2024!', suffix: 'Password' },
      { plain: 'Corp-Lab-2024!', suffix: 'Password' },
      { plain: 'Stud3nt&<x>', suffix: 'Password' },
    ]);
    for (const secret of ['Corp-Lab-2024!', 'Stud3nt', 'Adm&lt;in', 'Adm<in']) expect(xml).not.toContain(secret);
    expect(encodeUnattendPassword('x', 'Password')).toBe(Buffer.from('xPassword', 'utf16le').toString('base64'));
  });

  it('creates the accounts, logs the administrator on once and runs the first logon command as written', () => {
    expect(all(doc, 'LocalAccount').map((a) => [text(a, 'Name'), text(a, 'Group')])).toEqual([
      ['labadmin', 'Administrators'],
      ['student', 'Users'],
    ]);
    const auto = all(doc, 'AutoLogon')[0]!;
    expect([text(auto, 'Username'), text(auto, 'LogonCount'), text(auto, 'Enabled')]).toEqual([
      'labadmin',
      '1',
      'true',
    ]);
    const cmd = all(doc, 'SynchronousCommand')[0]!;
    expect(text(cmd, 'CommandLine')).toBe(input.firstLogonCommands![0]!.command);
    expect(text(cmd, 'Order')).toBe('1');
    expect(xml).toContain('&quot;if ($a -lt 1 -and $b) { &amp; &apos;x&apos; }&quot;');
  });

  it('refuses a value XML cannot carry instead of writing a broken file', () => {
    expect(() => buildUnattendXml({ computerName: 'a\u0001b' })).toThrow(/control character/);
  });

  it('the strict parser rejects what is not well-formed', () => {
    expect(() => parseXml('<unattend><settings></unattend>')).toThrow(/XML/);
  });
});

describe('the answer file of an install from media (packer)', () => {
  it('adds windowsPE first: UEFI disk layout, the image by name, driver paths', () => {
    const xml = buildUnattendXml({
      windowsPE: {
        imageName: 'Windows Server 2022 SERVERSTANDARD',
        driverPaths: ['E:\\vioscsi\\2k22\\amd64', 'E:\\NetKVM\\2k22\\amd64'],
        firmware: 'uefi',
      },
      computerName: 'packer',
      administratorPassword: 'Build-Only-1',
      firstLogonCommands: [{ command: 'cmd /c winrm quickconfig -q', description: 'WinRM for packer' }],
    });
    const doc = parseXml(xml);
    expect(checkUnattendShape(doc)).toEqual(['windowsPE', 'specialize', 'oobeSystem']);
    expect(all(doc, 'CreatePartition').map((p) => text(p, 'Type'))).toEqual(['EFI', 'MSR', 'Primary']);
    expect(text(all(doc, 'MetaData')[0]!, 'Value')).toBe('Windows Server 2022 SERVERSTANDARD');
    expect(all(doc, 'PathAndCredentials').map((p) => [p.getAttributeNS(wcm, 'keyValue'), text(p, 'Path')])).toEqual([
      ['1', 'E:\\vioscsi\\2k22\\amd64'],
      ['2', 'E:\\NetKVM\\2k22\\amd64'],
    ]);
    expect(xml).not.toContain('Build-Only-1');
    expect(text(all(doc, 'InstallTo')[0]!, 'PartitionID')).toBe('3');
  });

  it('lays out an MBR disk with an active system partition for BIOS machines', () => {
    const doc = parseXml(buildUnattendXml({ windowsPE: { imageName: 'x', driverPaths: [], firmware: 'bios' } }));
    expect(checkUnattendShape(doc)).toEqual(['windowsPE']);
    expect(all(doc, 'CreatePartition').map((p) => text(p, 'Type'))).toEqual(['Primary', 'Primary']);
    expect(
      all(doc, 'ModifyPartition').map((p) =>
        children(p)
          .map((c) => c.localName)
          .join(','),
      ),
    ).toEqual(['Order,PartitionID,Active,Format,Label', 'Order,PartitionID,Format,Label,Letter']);
    expect(text(all(doc, 'InstallTo')[0]!, 'PartitionID')).toBe('2');
  });
});
