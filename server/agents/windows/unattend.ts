// Windows Setup answer files (unattend.xml): the specialize and oobeSystem passes of a sysprepped template that has
// no cloudbase-init (computer name, addresses by MAC, accounts, a first logon that starts the first-boot script), and
// the windowsPE pass of a fresh install from media (the packer builds). Passwords are written in the encoded form
// Setup reads (PlainText false), never in plain text.
import { AppError } from '../../errors.ts';

/** The passes in the order the unattend schema and Windows Setup run them. */
export const unattendPasses = [
  'windowsPE',
  'offlineServicing',
  'generalize',
  'specialize',
  'auditSystem',
  'auditUser',
  'oobeSystem',
] as const;
export type UnattendPass = (typeof unattendPasses)[number];

export interface UnattendNic {
  mac: string;
  ip: string;
  prefix: number;
  gateway?: string;
  dns: string[];
}

export interface UnattendAccount {
  name: string;
  password: string;
  /** Local group: Administrators for sudo users. */
  group: 'Administrators' | 'Users';
}

export interface UnattendInput {
  /** specialize: the computer name (at most 15 characters). */
  computerName?: string;
  timeZone?: string;
  /** Static addresses, matched to adapters by MAC. */
  nics?: UnattendNic[];
  /** Remote Desktop allowed (the firewall is the first-boot script's business). */
  remoteDesktop?: boolean;
  /** oobeSystem: the built-in Administrator's password (Windows Server's OOBE stops to ask for one without it). */
  administratorPassword?: string;
  accounts?: UnattendAccount[];
  /** Logs this account on once, to run the first logon commands. */
  autoLogon?: { user: string; password: string };
  firstLogonCommands?: Array<{ command: string; description: string }>;
  locale?: string;
  /** windowsPE: install from media onto disk 0 (GPT for UEFI, MBR for BIOS), with extra driver folders (VirtIO, PVSCSI). */
  windowsPE?: { imageName: string; driverPaths: string[]; firmware: 'uefi' | 'bios'; productKey?: string };
}

const componentAttrs = {
  processorArchitecture: 'amd64',
  publicKeyToken: '31bf3856ad364e35',
  language: 'neutral',
  versionScope: 'nonSxS',
};

/**
 * Setup's encoded password: base64 of the UTF-16LE password followed by the element's own name ("Password" or
 * "AdministratorPassword"). An obfuscation, not a protection: answer files must still be treated as secrets.
 */
export function encodeUnattendPassword(password: string, element: 'Password' | 'AdministratorPassword'): string {
  return Buffer.from(`${password}${element}`, 'utf16le').toString('base64');
}

type Node = { name: string; attrs?: Record<string, string>; children?: Node[]; text?: string };

const el = (name: string, content?: string | Node[], attrs?: Record<string, string>): Node =>
  typeof content === 'string'
    ? { name, text: content, ...(attrs ? { attrs } : {}) }
    : { name, children: content ?? [], ...(attrs ? { attrs } : {}) };
const add = (keyValue?: string): Record<string, string> => ({
  'wcm:action': 'add',
  ...(keyValue !== undefined ? { 'wcm:keyValue': keyValue } : {}),
});
const password = (element: 'Password' | 'AdministratorPassword', plain: string): Node =>
  el(element, [el('Value', encodeUnattendPassword(plain, element)), el('PlainText', 'false')]);

function escapeXml(text: string): string {
  // Characters XML 1.0 cannot carry at all are refused rather than silently dropped.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text))
    throw new AppError('invalid_input', 'Unable to write an answer file: a value holds a control character');
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

function render(node: Node, indent: string): string {
  const attrs = Object.entries(node.attrs ?? {})
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join('');
  if (node.text !== undefined) return `${indent}<${node.name}${attrs}>${escapeXml(node.text)}</${node.name}>`;
  if (!node.children || node.children.length === 0) return `${indent}<${node.name}${attrs} />`;
  return `${indent}<${node.name}${attrs}>\n${node.children.map((c) => render(c, `${indent}  `)).join('\n')}\n${indent}</${node.name}>`;
}

/** UEFI: EFI system, MSR, Windows (partition 3). BIOS: an active system partition, then Windows (partition 2). */
function diskLayout(firmware: 'uefi' | 'bios'): Node[] {
  const part = (order: number, children: Node[]) =>
    el('CreatePartition', [el('Order', String(order)), ...children], add());
  const modify = (order: number, id: number, children: Node[]) =>
    el('ModifyPartition', [el('Order', String(order)), el('PartitionID', String(id)), ...children], add());
  if (firmware === 'uefi') {
    return [
      el('CreatePartitions', [
        part(1, [el('Type', 'EFI'), el('Size', '100')]),
        part(2, [el('Type', 'MSR'), el('Size', '16')]),
        part(3, [el('Type', 'Primary'), el('Extend', 'true')]),
      ]),
      el('ModifyPartitions', [
        modify(1, 1, [el('Format', 'FAT32'), el('Label', 'System')]),
        modify(2, 3, [el('Format', 'NTFS'), el('Label', 'Windows'), el('Letter', 'C')]),
      ]),
    ];
  }
  return [
    el('CreatePartitions', [
      part(1, [el('Type', 'Primary'), el('Size', '500')]),
      part(2, [el('Type', 'Primary'), el('Extend', 'true')]),
    ]),
    el('ModifyPartitions', [
      modify(1, 1, [el('Active', 'true'), el('Format', 'NTFS'), el('Label', 'System')]),
      modify(2, 2, [el('Format', 'NTFS'), el('Label', 'Windows'), el('Letter', 'C')]),
    ]),
  ];
}

/** `02:ab:...` as Setup's interface identifier: `02-AB-...`. */
function macIdentifier(mac: string): string {
  return mac.replaceAll(':', '-').toUpperCase();
}

export function buildUnattendXml(input: UnattendInput): string {
  const passes = new Map<UnattendPass, Map<string, Node[]>>();
  const component = (pass: UnattendPass, name: string, children: Node[]) => {
    if (children.length === 0) return;
    const comps = passes.get(pass) ?? new Map<string, Node[]>();
    passes.set(pass, comps);
    comps.set(name, [...(comps.get(name) ?? []), ...children]);
  };
  const locale = input.locale ?? 'en-US';

  if (input.windowsPE) {
    const pe = input.windowsPE;
    component('windowsPE', 'Microsoft-Windows-International-Core-WinPE', [
      el('SetupUILanguage', [el('UILanguage', locale)]),
      el('InputLocale', locale),
      el('SystemLocale', locale),
      el('UILanguage', locale),
      el('UserLocale', locale),
    ]);
    if (pe.driverPaths.length > 0) {
      component('windowsPE', 'Microsoft-Windows-PnpCustomizationsWinPE', [
        el(
          'DriverPaths',
          pe.driverPaths.map((p, i) => el('PathAndCredentials', [el('Path', p)], add(String(i + 1)))),
        ),
      ]);
    }
    component('windowsPE', 'Microsoft-Windows-Setup', [
      el('DiskConfiguration', [
        el('Disk', [el('DiskID', '0'), el('WillWipeDisk', 'true'), ...diskLayout(pe.firmware)], add()),
      ]),
      el('ImageInstall', [
        el('OSImage', [
          el('InstallFrom', [el('MetaData', [el('Key', '/IMAGE/NAME'), el('Value', pe.imageName)], add())]),
          el('InstallTo', [el('DiskID', '0'), el('PartitionID', pe.firmware === 'uefi' ? '3' : '2')]),
        ]),
      ]),
      el('UserData', [
        el('AcceptEula', 'true'),
        ...(pe.productKey ? [el('ProductKey', [el('Key', pe.productKey), el('WillShowUI', 'OnError')])] : []),
      ]),
    ]);
  }

  component('specialize', 'Microsoft-Windows-Shell-Setup', [
    ...(input.computerName !== undefined ? [el('ComputerName', input.computerName)] : []),
    ...(input.timeZone !== undefined ? [el('TimeZone', input.timeZone)] : []),
  ]);
  const nics = input.nics ?? [];
  component(
    'specialize',
    'Microsoft-Windows-TCPIP',
    nics.length === 0
      ? []
      : [
          el(
            'Interfaces',
            nics.map((n) =>
              el(
                'Interface',
                [
                  el('Identifier', macIdentifier(n.mac)),
                  el('Ipv4Settings', [el('DhcpEnabled', 'false')]),
                  el('UnicastIpAddresses', [el('IpAddress', `${n.ip}/${n.prefix}`, add('1'))]),
                  ...(n.gateway
                    ? [
                        el('Routes', [
                          el(
                            'Route',
                            [
                              el('Identifier', '0'),
                              el('Prefix', '0.0.0.0/0'),
                              el('NextHopAddress', n.gateway),
                              el('Metric', '10'),
                            ],
                            add(),
                          ),
                        ]),
                      ]
                    : []),
                ],
                add(),
              ),
            ),
          ),
        ],
  );
  const withDns = nics.filter((n) => n.dns.length > 0);
  component(
    'specialize',
    'Microsoft-Windows-DNS-Client',
    withDns.length === 0
      ? []
      : [
          el(
            'Interfaces',
            withDns.map((n) =>
              el(
                'Interface',
                [
                  el('Identifier', macIdentifier(n.mac)),
                  el(
                    'DNSServerSearchOrder',
                    n.dns.map((d, i) => el('IpAddress', d, add(String(i + 1)))),
                  ),
                ],
                add(),
              ),
            ),
          ),
        ],
  );
  if (input.remoteDesktop)
    component('specialize', 'Microsoft-Windows-TerminalServices-LocalSessionManager', [
      el('fDenyTSConnections', 'false'),
    ]);

  const hasOobe =
    input.administratorPassword !== undefined ||
    (input.accounts?.length ?? 0) > 0 ||
    input.autoLogon !== undefined ||
    (input.firstLogonCommands?.length ?? 0) > 0;
  if (hasOobe) {
    component('oobeSystem', 'Microsoft-Windows-International-Core', [
      el('InputLocale', locale),
      el('SystemLocale', locale),
      el('UILanguage', locale),
      el('UserLocale', locale),
    ]);
    component('oobeSystem', 'Microsoft-Windows-Shell-Setup', [
      ...(input.autoLogon
        ? [
            el('AutoLogon', [
              password('Password', input.autoLogon.password),
              el('Enabled', 'true'),
              el('LogonCount', '1'),
              el('Username', input.autoLogon.user),
            ]),
          ]
        : []),
      ...(input.firstLogonCommands?.length
        ? [
            el(
              'FirstLogonCommands',
              input.firstLogonCommands.map((c, i) =>
                el(
                  'SynchronousCommand',
                  [el('CommandLine', c.command), el('Description', c.description), el('Order', String(i + 1))],
                  add(),
                ),
              ),
            ),
          ]
        : []),
      el('OOBE', [
        el('HideEULAPage', 'true'),
        el('HideLocalAccountScreen', 'true'),
        el('HideOEMRegistrationScreen', 'true'),
        el('HideOnlineAccountScreens', 'true'),
        el('HideWirelessSetupInOOBE', 'true'),
        el('NetworkLocation', 'Work'),
        el('ProtectYourPC', '3'),
        el('SkipUserOOBE', 'true'),
      ]),
      el('UserAccounts', [
        ...(input.administratorPassword !== undefined
          ? [password('AdministratorPassword', input.administratorPassword)]
          : []),
        ...(input.accounts?.length
          ? [
              el(
                'LocalAccounts',
                input.accounts.map((a) =>
                  el(
                    'LocalAccount',
                    [
                      password('Password', a.password),
                      el('DisplayName', a.name),
                      el('Group', a.group),
                      el('Name', a.name),
                    ],
                    add(),
                  ),
                ),
              ),
            ]
          : []),
      ]),
    ]);
  }

  const settings = unattendPasses
    .filter((p) => passes.has(p))
    .map((p) =>
      el(
        'settings',
        [...passes.get(p)!.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, children]) =>
            el('component', children, {
              name,
              ...componentAttrs,
              'xmlns:wcm': 'http://schemas.microsoft.com/WMIConfig/2002/State',
              'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
            }),
          ),
        { pass: p },
      ),
    );
  return `<?xml version="1.0" encoding="utf-8"?>\n${render(el('unattend', settings, { xmlns: 'urn:schemas-microsoft-com:unattend' }), '')}\n`;
}
