// What the test server's regions offer by default: VM sizes with their vCPUs, memory, NIC limits and quota
// families (as Azure lists them), and the marketplace images Glassdome's OS catalogue maps to.
import type { ImageSpec, SkuSpec } from './routes.ts';

export const defaultSkus: SkuSpec[] = [
  { name: 'Standard_B1ls', family: 'standardBSFamily', vcpus: 1, memoryGb: 0.5, maxNics: 2 },
  { name: 'Standard_B1s', family: 'standardBSFamily', vcpus: 1, memoryGb: 1, maxNics: 2 },
  { name: 'Standard_B1ms', family: 'standardBSFamily', vcpus: 1, memoryGb: 2, maxNics: 2 },
  { name: 'Standard_B2s', family: 'standardBSFamily', vcpus: 2, memoryGb: 4, maxNics: 3 },
  { name: 'Standard_B2ms', family: 'standardBSFamily', vcpus: 2, memoryGb: 8, maxNics: 3 },
  { name: 'Standard_B4ms', family: 'standardBSFamily', vcpus: 4, memoryGb: 16, maxNics: 4 },
  { name: 'Standard_B8ms', family: 'standardBSFamily', vcpus: 8, memoryGb: 32, maxNics: 4 },
  { name: 'Standard_D2s_v5', family: 'standardDSv5Family', vcpus: 2, memoryGb: 8, maxNics: 2 },
  { name: 'Standard_D4s_v5', family: 'standardDSv5Family', vcpus: 4, memoryGb: 16, maxNics: 2 },
  { name: 'Standard_D8s_v5', family: 'standardDSv5Family', vcpus: 8, memoryGb: 32, maxNics: 4 },
  { name: 'Standard_D16s_v5', family: 'standardDSv5Family', vcpus: 16, memoryGb: 64, maxNics: 8 },
];

export const defaultImages: ImageSpec[] = [
  {
    publisher: 'Canonical',
    offer: '0001-com-ubuntu-server-jammy',
    sku: '22_04-lts-gen2',
    versions: ['22.04.202501140', '22.04.202502110'],
    os: 'Linux',
    sizeGb: 30,
  },
  {
    publisher: 'Canonical',
    offer: 'ubuntu-24_04-lts',
    sku: 'server',
    versions: ['24.04.202502100'],
    os: 'Linux',
    sizeGb: 30,
  },
  { publisher: 'Debian', offer: 'debian-12', sku: '12-gen2', versions: ['0.20250113.1990'], os: 'Linux', sizeGb: 30 },
  {
    publisher: 'kali-linux',
    offer: 'kali',
    sku: 'kali-2025-4',
    versions: ['2025.4.0'],
    os: 'Linux',
    sizeGb: 30,
    plan: true,
  },
  {
    publisher: 'MicrosoftWindowsServer',
    offer: 'WindowsServer',
    sku: '2022-datacenter-azure-edition',
    versions: ['20348.3091.250112'],
    os: 'Windows',
    sizeGb: 127,
  },
  {
    publisher: 'MicrosoftWindowsDesktop',
    offer: 'windows-11',
    sku: 'win11-24h2-pro',
    versions: ['26100.2894.250113'],
    os: 'Windows',
    sizeGb: 127,
  },
];
