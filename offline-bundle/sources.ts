// Where the collector takes each part of the offline bundle from, with the licence it ships under. Edited here only.
import { defaultCatalogue, templatePackages } from '../server/reaper/catalogue.ts';

/** Cloud images for template builds and ESXi image-file machines, keyed by the OS catalog's keys. */
export const cloudImages = [
  {
    os: 'ubuntu-22.04',
    url: 'https://cloud-images.ubuntu.com/releases/jammy/release/ubuntu-22.04-server-cloudimg-amd64.img',
    sums: { url: 'https://cloud-images.ubuntu.com/releases/jammy/release/SHA256SUMS', algo: 'sha256' },
    licence:
      'Ubuntu: free software under various licences (see /usr/share/doc/*/copyright in the image); Canonical trademark policy',
  },
  {
    os: 'ubuntu-24.04',
    url: 'https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img',
    sums: { url: 'https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS', algo: 'sha256' },
    licence:
      'Ubuntu: free software under various licences (see /usr/share/doc/*/copyright in the image); Canonical trademark policy',
  },
  {
    os: 'debian-12',
    url: 'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2',
    sums: { url: 'https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS', algo: 'sha512' },
    licence: 'Debian: DFSG-free software under various licences (see /usr/share/doc/*/copyright in the image)',
  },
] as const;

/** The knowledge base's sentence-embedding model, quantized ONNX, as transformers.js loads it from a local folder. */
export const embeddingModel = {
  id: 'Xenova/all-MiniLM-L6-v2',
  base: 'https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/main',
  files: [
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'special_tokens_map.json',
    'onnx/model_quantized.onnx',
  ],
  licence: 'Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2, ONNX conversion by Xenova)',
};

/** NVD CVE data feeds, JSON 2.0: one file per year plus the rolling "modified" and "recent" feeds. */
export const cveFeeds = {
  base: 'https://nvd.nist.gov/feeds/json/cve/2.0',
  firstYear: 2002,
  rolling: ['modified', 'recent'],
  licence: 'NVD data: public domain (U.S. government work); see https://nvd.nist.gov/developers/terms-of-use',
};

/**
 * What first boot installs inside ranges from the package cache, with every dependency, from Debian 12: the guest
 * agents (QEMU's, VMware Tools), a router's nftables and dnsmasq, a VPN router's wireguard-tools, and every package
 * the reaper's vulnerability modules install on Debian 12 (reaper/catalogue.ts templatePackages).
 */
export const debianPackages = {
  get packages(): string[] {
    const agents = ['qemu-guest-agent', 'open-vm-tools', 'nftables', 'dnsmasq', 'wireguard-tools'];
    return [...new Set([...agents, ...templatePackages(defaultCatalogue(), 'debian-12')])];
  },
  release: 'bookworm',
  archives: [
    { uri: 'http://deb.debian.org/debian', suites: ['bookworm', 'bookworm-updates'] },
    { uri: 'http://security.debian.org/debian-security', suites: ['bookworm-security'] },
  ],
  keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
  licence: 'Debian packages: DFSG-free, each under the licence in its /usr/share/doc/<package>/copyright',
};

/** Licensed media Glassdome never ships: the user supplies them, the manifest says where they go. */
export const userSuppliedMedia = [
  {
    name: 'Windows Server 2022 installation ISO',
    source: 'Your volume-licensing portal, or the evaluation ISO from Microsoft Evaluation Center',
    licence: 'Microsoft licence terms (your own licence; evaluation media expire after 180 days)',
    placeAt: '/var/lib/glassdome/iso/windows-server-2022.iso',
    note: 'Used by the Windows template build (packer/windows-server-2022/).',
  },
  {
    name: 'Windows 11 installation ISO',
    source: 'Your volume-licensing portal, or Microsoft Evaluation Center',
    licence: 'Microsoft licence terms (your own licence)',
    placeAt: '/var/lib/glassdome/iso/windows-11.iso',
    note: '',
  },
  {
    name: 'VirtIO drivers for Windows ISO (virtio-win)',
    source: 'https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/stable-virtio/virtio-win.iso',
    licence: 'Red Hat: BSD-3-Clause and GPL-2.0 drivers (see the ISO)',
    placeAt: '/var/lib/glassdome/iso/virtio-win.iso',
    note: 'Needed for Windows on Proxmox (virtio disk and network).',
  },
];
