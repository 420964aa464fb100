// The Proxmox VE driver's configuration: where the cluster is, how it is trusted and signed in to, where clones go,
// how isolated networks are made (VLAN tags or SDN VNets) and which template each OS is cloned from.
// The token secret or password is never here: it comes sealed in the platform record (deps.secret).
import { z } from 'zod';
import { tlsTrustSchema } from '../shared/tls-trust.ts';

const name = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, dot, dash or underscore');

export const proxmoxConfigSchema = z.object({
  url: z
    .url()
    .refine((u) => u.startsWith('https://'), 'the Proxmox API is HTTPS only')
    .describe(
      'The Proxmox VE API address, HTTPS only, e.g. https://pve.example.org:8006 (the API lives under /api2/json).',
    ),
  auth: z
    .discriminatedUnion('mode', [
      /** `user@realm!name`; the secret is the token's UUID. */
      z.object({
        mode: z.literal('token'),
        tokenId: z.string().regex(/^[^\s:/]+@[A-Za-z][\w.-]*![A-Za-z][\w.-]*$/, 'user@realm!tokenname'),
      }),
      /** Tickets for `user@realm` (renewed before their 2-hour expiry); the secret is the password. */
      z.object({ mode: z.literal('password'), username: z.string().regex(/^[^\s:/]+@[A-Za-z][\w.-]*$/, 'user@realm') }),
    ])
    .describe(
      'How to sign in, as JSON: an API token {"mode": "token", "tokenId": "glassdome@pve!lab"} ' +
        '(form user@realm!tokenid; the secret is its UUID), or {"mode": "password", "username": "glassdome@pve"} ' +
        '(the secret is the password).',
    ),
  tls: tlsTrustSchema.describe(
    'How the self-signed certificate is trusted, as JSON with exactly one of: {"fingerprint": "AB:CD:...:EF"} ' +
      '(its SHA-256, pinned; node > System > Certificates), {"caFile": "/path/to/pve-root-ca.pem"} ' +
      'or {"insecure": true}.',
  ),
  node: name.describe('The node that holds the templates, e.g. pve1; clones are made there.'),
  nodes: z
    .array(name)
    .default([])
    .describe(
      'Further nodes to spread clones over, comma-separated, when the templates sit on shared storage. ' +
        'Empty: only the node that holds the templates.',
    ),
  storage: name
    .default('local-lvm')
    .describe("Storage for full clones' disks; a linked clone stays on its template's storage."),
  bridge: name
    .default('vmbr0')
    .describe("The VLAN-aware bridge isolated lab networks are tagged on (and, in SDN mode, the zone's bridge)."),
  uplink: z
    .object({ bridge: name.optional(), vlan: z.number().int().min(1).max(4094).optional() })
    .default({})
    .describe(
      'The existing network uplink NICs join, as JSON, e.g. {"bridge": "vmbr1", "vlan": 20}. ' +
        'Empty: the bridge, untagged.',
    ),
  network: z
    .discriminatedUnion('mode', [
      /** Tags on `bridge`; each segment is recorded as an empty resource pool named after it, so it can be listed. */
      z.object({ mode: z.literal('vlan') }),
      /** One VNet per segment in a VLAN zone (created on `bridge` when missing); applies are batched. */
      z.object({
        mode: z.literal('sdn'),
        zone: z
          .string()
          .regex(/^[a-z][a-z0-9]{0,7}$/, 'an SDN zone id: a lowercase letter, then up to 7 letters or digits'),
        /** How long changes wait for others before one SDN apply (it is cluster-wide, synchronous and slow). */
        applyDebounceMs: z.number().int().min(0).default(1000),
      }),
    ])
    .default({ mode: 'vlan' })
    .describe(
      'How lab networks are isolated, as JSON: {"mode": "vlan"} tags them on the bridge; ' +
        '{"mode": "sdn", "zone": "gdlab"} makes one VNet each in an SDN VLAN zone, created when missing ' +
        '(changes are applied together after applyDebounceMs, default 1000).',
    ),
  templates: z
    .record(z.string(), z.number().int().min(100))
    .default({})
    .describe(
      'Catalog OS -> VMID of its cloud-init-ready template on the node, as JSON, ' +
        'e.g. {"ubuntu-22.04": 9000, "debian-12": 9001}.',
    ),
  cloneSlotsPerStorage: z
    .number()
    .int()
    .min(1)
    .max(32)
    .default(2)
    .describe("Clones run at once per target storage (1-32); more make Proxmox's storage lock time out."),
  fullClone: z
    .boolean()
    .default(false)
    .describe(
      'Full copies instead of linked clones. Linked clones need a template storage that can make them ' +
        '(LVM-thin, ZFS, Ceph, qcow2 on a directory).',
    ),
  // Full user-data through `cicustom` needs a snippets file on the node, and the API cannot upload snippets: `path` is
  // where this appliance sees the storage's directory (a shared NFS/CIFS mount); files go to <path>/snippets/.
  snippets: z
    .object({ storage: name, path: z.string().min(1) })
    .optional()
    .describe(
      'A snippets storage shared with the appliance, for first-boot data, as JSON: {"storage": "gd-snippets", ' +
        '"path": "/mnt/gd-snippets"} (where the appliance mounts it). Empty, or not working: a seed ISO is used.',
    ),
  isoStorage: name
    .optional()
    .describe(
      'Storage (ISO image content) that first-boot seed ISOs are uploaded to when snippets are not used. ' +
        'Empty: the first such storage every clone node sees and the token may upload to.',
    ),
  cpuOvercommit: z
    .number()
    .min(1)
    .max(64)
    .default(4)
    .describe('vCPUs counted per logical CPU of a node when reporting free capacity (1-64); labs idle mostly.'),
  timeouts: z
    .object({
      callMs: z.number().int().positive().default(60_000),
      taskMs: z
        .number()
        .int()
        .positive()
        .default(30 * 60_000),
      shutdownSec: z.number().int().positive().default(120),
      /** How long the snippets check waits for its probe file to show up in the storage on each node. */
      probeMs: z.number().int().positive().default(10_000),
    })
    .prefault({})
    .describe(
      'Time limits as JSON: {"callMs": 60000, "taskMs": 1800000, "shutdownSec": 120, "probeMs": 10000} ' +
        '(the defaults): one API call, one task such as a clone, a graceful shutdown before a hard stop, ' +
        'the snippets check.',
    ),
  retry: z
    .object({
      attempts: z.number().int().min(1).default(20),
      baseMs: z.number().int().min(1).default(1000),
      maxMs: z.number().int().min(1).default(15_000),
    })
    .prefault({})
    .describe(
      'Retries of lock timeouts, 595/596 and 5xx proxy answers, throttling and network errors, as JSON: ' +
        '{"attempts": 20, "baseMs": 1000, "maxMs": 15000} (the defaults; exponential backoff with jitter).',
    ),
  poll: z
    .object({ minMs: z.number().int().min(1).default(250), maxMs: z.number().int().min(1).default(3000) })
    .prefault({})
    .describe(
      'Task and guest-agent polling, as JSON: {"minMs": 250, "maxMs": 3000} (the defaults); intervals grow ' +
        'from minMs to maxMs.',
    ),
});

export type ProxmoxConfig = z.output<typeof proxmoxConfigSchema>;
export type ProxmoxConfigInput = z.input<typeof proxmoxConfigSchema>;
