// The Proxmox VE driver's configuration: where the cluster is, how it is trusted and signed in to, where clones go,
// how isolated networks are made (VLAN tags or SDN VNets) and which template each OS is cloned from.
// The token secret or password is never here: it comes sealed in the platform record (deps.secret).
import { z } from 'zod';
import { tlsTrustSchema } from '../shared/tls-trust.ts';

const name = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, dot, dash or underscore');

export const proxmoxConfigSchema = z.object({
  /** `https://pve.example.org:8006`; the API lives under /api2/json. */
  url: z.url().refine((u) => u.startsWith('https://'), 'the Proxmox API is HTTPS only'),
  auth: z.discriminatedUnion('mode', [
    /** `user@realm!name`; the secret is the token's UUID. */
    z.object({
      mode: z.literal('token'),
      tokenId: z.string().regex(/^[^\s:/]+@[A-Za-z][\w.-]*![A-Za-z][\w.-]*$/, 'user@realm!tokenname'),
    }),
    /** Tickets for `user@realm` (renewed before their 2-hour expiry); the secret is the password. */
    z.object({ mode: z.literal('password'), username: z.string().regex(/^[^\s:/]+@[A-Za-z][\w.-]*$/, 'user@realm') }),
  ]),
  tls: tlsTrustSchema,
  /** The node that holds the templates; clones are made there. */
  node: name,
  /** Further nodes clones are spread over when the template sits on shared storage (default: only `node`). */
  nodes: z.array(name).default([]),
  /** Where clone disks go; a linked clone stays on its template's storage. */
  storage: name.default('local-lvm'),
  /** The VLAN-aware bridge isolated networks are tagged on (and the SDN zone's bridge). */
  bridge: name.default('vmbr0'),
  /** The existing network `uplink` NICs attach to (default: `bridge` untagged). */
  uplink: z.object({ bridge: name.optional(), vlan: z.number().int().min(1).max(4094).optional() }).default({}),
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
    .default({ mode: 'vlan' }),
  /** Catalog OS key -> VMID of a cloud-init-ready template on `node`. */
  templates: z.record(z.string(), z.number().int().min(100)).default({}),
  /** Clones running at once per target storage; more make Proxmox's storage lock time out. */
  cloneSlotsPerStorage: z.number().int().min(1).max(32).default(2),
  /** Full copies instead of linked clones (linked clones need the template's storage to support them). */
  fullClone: z.boolean().default(false),
  /**
   * Full user-data through `cicustom` needs a snippets file on the node, and the API cannot upload snippets.
   * `path` is where this appliance sees the storage's directory (a shared NFS/CIFS mount); files go to <path>/snippets/.
   * Without it (or when it does not work), first-boot data goes on a seed ISO (`isoStorage`).
   */
  snippets: z.object({ storage: name, path: z.string().min(1) }).optional(),
  /**
   * Without working snippets, first-boot data goes on a NoCloud seed ISO uploaded to this storage (iso content) and
   * attached as a CD. Default: the first iso storage every clone node sees that the token may upload to.
   */
  isoStorage: name.optional(),
  /** vCPUs capacity() counts per logical CPU of a node: labs idle mostly, so some overcommit is normal. */
  cpuOvercommit: z.number().min(1).max(64).default(4),
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
    .prefault({}),
  /** Lock timeouts and 595/596 are retried with exponential backoff and jitter, this many times. */
  retry: z
    .object({
      attempts: z.number().int().min(1).default(20),
      baseMs: z.number().int().min(1).default(1000),
      maxMs: z.number().int().min(1).default(15_000),
    })
    .prefault({}),
  /** Task and guest polling interval bounds. */
  poll: z
    .object({ minMs: z.number().int().min(1).default(250), maxMs: z.number().int().min(1).default(3000) })
    .prefault({}),
});

export type ProxmoxConfig = z.output<typeof proxmoxConfigSchema>;
export type ProxmoxConfigInput = z.input<typeof proxmoxConfigSchema>;
