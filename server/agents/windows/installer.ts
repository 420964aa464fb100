// The Windows installer agent: one machine's first-boot media for its platform. On premises (Proxmox, ESXi and the
// simulator) cloudbase-init reads NoCloud documents, whose user-data writes the first-boot script and runs it; for
// templates without cloudbase-init an answer file (Autounattend.xml plus the script, for a CD) does the same through
// a first logon. On AWS the script is EC2Launch v2 user data; on Azure it is customData, started by a run command.
import { stringify } from 'yaml';
import type { Plan, PlannedMachine } from '../../model/plan.ts';
import { labDomain } from '../lab-router.ts';
import {
  buildWindowsFirstBootScript,
  windowsFirstBootConfig,
  windowsStatusFile,
  type WindowsConfigContext,
} from './first-boot-script.ts';
import { windowsOf } from './settings.ts';
import { buildUnattendXml } from './unattend.ts';

export interface WindowsContext extends WindowsConfigContext {
  instanceId: string;
}

export interface WindowsMedia {
  kind: 'windows';
  /** What starts the script: cloudbase-init (on premises), EC2Launch v2 (AWS), a run command (Azure). */
  via: 'cloudbase-init' | 'ec2launch' | 'azure';
  /** On premises: NoCloud user-data (#cloud-config for cloudbase-init). AWS: the user data. Azure: customData. */
  userData: string;
  /** NoCloud network-config v2 (cloudbase-init 1.1.6 or newer applies it); empty on clouds. */
  networkConfig: string;
  metaData: string;
  /** The first-boot script itself (ASCII, CRLF). */
  script: string;
  /** On premises, for templates without cloudbase-init: files for the root of a CD (Autounattend.xml and the script). */
  unattend?: { files: Record<string, string> };
  /** Azure: the command a run command (or Custom Script Extension) executes to start the script from customData. */
  runCommand?: string;
  /** Where the guest writes its outcome line (GLASSDOME-READY / GLASSDOME-FAILED), besides COM1. */
  statusFile: string;
}

/** Where cloudbase-init's write_files puts the script: C:\Windows\Temp is readable by administrators only. */
export const cloudbaseScriptPath = 'C:\\Windows\\Temp\\glassdome-first-boot.ps1';
/** The script on the unattend CD. */
export const unattendScriptPath = 'glassdome/first-boot.ps1';

const powershell = 'powershell.exe -NoProfile -ExecutionPolicy Bypass';

export const azureRunCommand = `${powershell} -Command "Copy-Item -LiteralPath C:\\AzureData\\CustomData.bin -Destination C:\\Windows\\Temp\\glassdome-first-boot.ps1 -Force; & C:\\Windows\\Temp\\glassdome-first-boot.ps1"`;

// FirstLogonCommands know no drive letters: the script is found on whichever drive carries it.
const findAndRun = `${powershell} -Command "$f = Get-PSDrive -PSProvider FileSystem | ForEach-Object { Join-Path $_.Root '${unattendScriptPath.replace('/', '\\')}' } | Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1; if ($f) { & $f } else { exit 1 }"`;

export function buildWindowsMedia(plan: Plan, machine: PlannedMachine, ctx: WindowsContext): WindowsMedia {
  const config = windowsFirstBootConfig(plan, machine, ctx);
  const script = buildWindowsFirstBootScript(config);
  const metaData = stringify({ 'instance-id': ctx.instanceId, 'local-hostname': machine.hostname }, { version: '1.1' });
  if (plan.platform === 'aws') {
    return {
      kind: 'windows',
      via: 'ec2launch',
      userData: `<powershell>\r\n${script}</powershell>\r\n`,
      networkConfig: '',
      metaData,
      script,
      statusFile: windowsStatusFile,
    };
  }
  if (plan.platform === 'azure') {
    return {
      kind: 'windows',
      via: 'azure',
      userData: script,
      networkConfig: '',
      metaData,
      script,
      runCommand: azureRunCommand,
      statusFile: windowsStatusFile,
    };
  }

  const userData = `#cloud-config\n${stringify(
    {
      write_files: [
        {
          path: cloudbaseScriptPath,
          encoding: 'b64',
          content: Buffer.from(script, 'ascii').toString('base64'),
          permissions: '0600',
        },
      ],
      // cloudbase-init runs runcmd entries with cmd.exe.
      runcmd: [`${powershell} -File ${cloudbaseScriptPath}`],
    },
    { version: '1.1', lineWidth: 0 },
  )}`;
  const ethernets: Record<string, unknown> = {};
  config.nics.forEach((nic, j) => {
    ethernets[`nic${j}`] = {
      match: { macaddress: nic.mac },
      addresses: [`${nic.ip}/${nic.prefix}`],
      ...(nic.gateway ? { routes: [{ to: '0.0.0.0/0', via: nic.gateway }] } : {}),
      ...(nic.dns.length > 0 ? { nameservers: { addresses: nic.dns, search: [labDomain] } } : {}),
    };
  });
  const networkConfig = stringify({ version: 2, ethernets }, { version: '1.1', lineWidth: 0 });

  const admin = config.users.find((u) => u.admin);
  const logon = admin
    ? { user: admin.name, password: admin.password }
    : { user: 'Administrator', password: config.administratorPassword };
  const xml = buildUnattendXml({
    computerName: machine.hostname,
    timeZone: 'UTC',
    nics: config.nics,
    remoteDesktop: windowsOf(machine).remote.includes('rdp'),
    administratorPassword: config.administratorPassword,
    accounts: config.users.map((u) => ({
      name: u.name,
      password: u.password,
      group: u.admin ? 'Administrators' : 'Users',
    })),
    autoLogon: logon,
    firstLogonCommands: [
      { command: findAndRun, description: 'Start the Glassdome first boot' },
      { command: 'shutdown.exe /l /f', description: 'Sign the one-time logon out' },
    ],
  });
  return {
    kind: 'windows',
    via: 'cloudbase-init',
    userData,
    networkConfig,
    metaData,
    script,
    unattend: { files: { 'Autounattend.xml': xml, [unattendScriptPath]: script } },
    statusFile: windowsStatusFile,
  };
}
