// Which marketplace image and VM size a machine gets: the catalog OS key maps to a default image (overridable per
// platform and per machine), and the size is the scenario's `platform.azure.vmSize`, the platform's, or the
// smallest that fits the machine's CPUs, memory and NICs among those the region offers the subscription.
import { AppError } from '../../errors.ts';
import { osCatalog } from '../../model/catalog.ts';

export interface ImageChoice {
  /** `publisher:offer:sku:version`, or a resource id. */
  urn: string;
  reference: { publisher: string; offer: string; sku: string; version: string } | { id: string };
  os: 'Linux' | 'Windows';
  /** Azure's marketplace images come with an OS disk this large; a smaller size is refused. */
  minDiskGb: number;
}

/** Catalog OS key -> marketplace image (latest version). Kali is sold under a plan whose terms must be accepted once. */
export const defaultImages: Record<string, string> = {
  'ubuntu-22.04': 'Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2',
  'ubuntu-24.04': 'Canonical:ubuntu-24_04-lts:server',
  'debian-12': 'Debian:debian-12:12-gen2',
  'kali-rolling': 'kali-linux:kali:kali-2025-4',
  'windows-server-2022': 'MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition',
  'windows-11': 'MicrosoftWindowsDesktop:windows-11:win11-24h2-pro',
};

const imageId =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/(images\/[^/]+|galleries\/[^/]+\/images\/[^/]+(\/versions\/[^/]+)?)$/i;

/** The image a machine of catalog OS `os` gets: `override` (the scenario's), else the platform's, else the default. */
export function chooseImage(
  machine: string,
  os: string,
  override: string | undefined,
  platformImages: Record<string, string>,
): ImageChoice {
  const entry = osCatalog[os];
  const family = entry?.family === 'windows' ? 'Windows' : 'Linux';
  const minDiskGb = family === 'Windows' ? 127 : 30;
  const text = override ?? platformImages[os] ?? defaultImages[os];
  if (!text)
    throw new AppError(
      'invalid_input',
      `[azure] Unable to create VM "${machine}": no Azure image is known for OS "${os}"`,
      {
        hint: "Set platform.azure.image on the machine (publisher:offer:sku[:version]) or map the OS in the platform's images setting.",
      },
    );
  if (imageId.test(text)) return { urn: text, reference: { id: text }, os: family, minDiskGb };
  const parts = text.split(':');
  if (parts.length < 3 || parts.length > 4 || parts.some((p) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p)))
    throw new AppError('invalid_input', `[azure] Unable to create VM "${machine}": "${text}" is not an Azure image`, {
      hint: 'Write an image as publisher:offer:sku[:version] (az vm image list shows them) or as an image or gallery image resource id.',
    });
  const [publisher, offer, sku, version = 'latest'] = parts as [string, string, string, string?];
  return {
    urn: `${publisher}:${offer}:${sku}:${version}`,
    reference: { publisher, offer, sku, version },
    os: family,
    minDiskGb,
  };
}

export interface SizeInfo {
  name: string;
  vcpus: number;
  memoryGb: number;
  maxNics: number;
}

/** Sizes tried in this order when the region's list cannot be read: burstable first, then general purpose. */
export const fallbackSizes: SizeInfo[] = [
  { name: 'Standard_B1s', vcpus: 1, memoryGb: 1, maxNics: 2 },
  { name: 'Standard_B1ms', vcpus: 1, memoryGb: 2, maxNics: 2 },
  { name: 'Standard_B2s', vcpus: 2, memoryGb: 4, maxNics: 3 },
  { name: 'Standard_B2ms', vcpus: 2, memoryGb: 8, maxNics: 3 },
  { name: 'Standard_B4ms', vcpus: 4, memoryGb: 16, maxNics: 4 },
  { name: 'Standard_B8ms', vcpus: 8, memoryGb: 32, maxNics: 4 },
  { name: 'Standard_D8s_v5', vcpus: 8, memoryGb: 32, maxNics: 4 },
  { name: 'Standard_D16s_v5', vcpus: 16, memoryGb: 64, maxNics: 8 },
];

/** The smallest size (by vCPUs, then memory) that fits, preferring the B and D families; undefined when none does. */
export function chooseSize(
  need: { cpus: number; memoryMb: number; nics: number },
  offered: SizeInfo[],
): string | undefined {
  const family = (n: string) => (/^Standard_B\d+l?m?s$/.test(n) ? 0 : /^Standard_D\d+s_v5$/.test(n) ? 1 : 2);
  const fits = offered.filter(
    (s) => s.vcpus >= need.cpus && s.memoryGb * 1024 >= need.memoryMb && s.maxNics >= need.nics,
  );
  fits.sort(
    (a, b) =>
      family(a.name) - family(b.name) || a.vcpus - b.vcpus || a.memoryGb - b.memoryGb || a.name.localeCompare(b.name),
  );
  return fits[0]?.name;
}
