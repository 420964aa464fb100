// Writes the two answer files of the Windows Server 2022 template builds (proxmox/ and vsphere/Autounattend.xml)
// with the generator the appliance uses (server/agents/windows/unattend.ts). The build-only Administrator password
// is GD_BUILD_PASSWORD (default below, and the templates' build_password default); change both together.
//   npx tsx packer/windows-server-2022/make-autounattend.ts
import { writeFileSync } from 'node:fs';
import { buildUnattendXml } from '../../server/agents/windows/unattend.ts';

export const defaultBuildPassword = 'Glassdome-Build-1!';
const drives = ['D', 'E', 'F', 'G'];

export function buildAnswerFiles(password = defaultBuildPassword): Record<'proxmox' | 'vsphere', string> {
  const common = {
    computerName: 'gd-template',
    timeZone: 'UTC',
    administratorPassword: password,
    autoLogon: { user: 'Administrator', password },
    firstLogonCommands: [
      {
        // The CD's drive letter is not known in advance: the script is found on whichever drive carries it.
        command: `powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "$f = Get-PSDrive -PSProvider FileSystem | ForEach-Object { Join-Path $_.Root 'enable-winrm.ps1' } | Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1; if ($f) { & $f } else { exit 1 }"`,
        description: 'WinRM for the packer build',
      },
    ],
  };
  return {
    // SeaBIOS (packer 1.6.6's proxmox-iso has no OVMF option), VirtIO SCSI and network drivers from virtio-win.
    proxmox: buildUnattendXml({
      ...common,
      windowsPE: {
        imageName: 'Windows Server 2022 SERVERSTANDARD',
        firmware: 'bios',
        driverPaths: drives.flatMap((d) => [`${d}:\\vioscsi\\2k22\\amd64`, `${d}:\\NetKVM\\2k22\\amd64`]),
      },
    }),
    // PVSCSI and VMXNET3 drivers from the CD's drivers folder (see vsphere/drivers/README.md).
    vsphere: buildUnattendXml({
      ...common,
      windowsPE: {
        imageName: 'Windows Server 2022 SERVERSTANDARD',
        firmware: 'bios',
        driverPaths: drives.map((d) => `${d}:\\drivers`),
      },
    }),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const files = buildAnswerFiles(process.env.GD_BUILD_PASSWORD ?? defaultBuildPassword);
  for (const [dir, xml] of Object.entries(files))
    writeFileSync(new URL(`./${dir}/Autounattend.xml`, import.meta.url), xml);
  console.log('wrote proxmox/Autounattend.xml and vsphere/Autounattend.xml');
}
