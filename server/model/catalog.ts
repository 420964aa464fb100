// The catalogs a scenario refers to by id: operating systems and sizes. Vulnerability modules are the reaper's
// catalogue (server/reaper/catalogue/).
// Drivers map an OS key to a template or image per platform; agents choose the installer by family.

export type OsFamily = 'ubuntu' | 'debian' | 'kali' | 'windows';

export interface OsEntry {
  key: string;
  title: string;
  family: OsFamily;
  /** The installer agent that builds first-boot configuration for it. */
  installer: 'cloud-init' | 'windows-unattend';
  /** Minimum size the OS needs to boot usefully. */
  minMemoryMb: number;
  minDiskGb: number;
}

export const osCatalog: Record<string, OsEntry> = {
  'ubuntu-22.04': {
    key: 'ubuntu-22.04',
    title: 'Ubuntu 22.04 LTS',
    family: 'ubuntu',
    installer: 'cloud-init',
    minMemoryMb: 1024,
    minDiskGb: 10,
  },
  'ubuntu-24.04': {
    key: 'ubuntu-24.04',
    title: 'Ubuntu 24.04 LTS',
    family: 'ubuntu',
    installer: 'cloud-init',
    minMemoryMb: 1024,
    minDiskGb: 10,
  },
  'debian-12': {
    key: 'debian-12',
    title: 'Debian 12 (bookworm)',
    family: 'debian',
    installer: 'cloud-init',
    minMemoryMb: 512,
    minDiskGb: 8,
  },
  'kali-rolling': {
    key: 'kali-rolling',
    title: 'Kali Linux (rolling)',
    family: 'kali',
    installer: 'cloud-init',
    minMemoryMb: 2048,
    minDiskGb: 20,
  },
  'windows-server-2022': {
    key: 'windows-server-2022',
    title: 'Windows Server 2022',
    family: 'windows',
    installer: 'windows-unattend',
    minMemoryMb: 2048,
    minDiskGb: 32,
  },
  'windows-11': {
    key: 'windows-11',
    title: 'Windows 11',
    family: 'windows',
    installer: 'windows-unattend',
    minMemoryMb: 4096,
    minDiskGb: 64,
  },
};

/** The OS the plan gives to the router it adds on on-premises platforms. */
export const routerOs = 'debian-12';

export const sizes = {
  small: { cpus: 1, memoryMb: 2048, diskGb: 20 },
  medium: { cpus: 2, memoryMb: 4096, diskGb: 40 },
  large: { cpus: 4, memoryMb: 8192, diskGb: 80 },
} as const;

export type SizeName = keyof typeof sizes;
