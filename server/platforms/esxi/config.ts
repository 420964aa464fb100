// The ESXi driver's configuration: one standalone host, its datastore and standard vSwitch, and how TLS is trusted.
// The password is the platform's sealed secret (DriverDeps.secret), never part of the stored config.
import { z } from 'zod';
import { tlsTrustSchema } from '../shared/tls-trust.ts';

export const esxiConfigSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(443),
  username: z.string().min(1),
  tls: tlsTrustSchema,
  /** Where VM folders, copied disks and seed ISOs go. */
  datastore: z.string().min(1).default('datastore1'),
  /** The standard vSwitch that carries one port group per scenario network. */
  vswitch: z.string().min(1).default('vSwitch0'),
  /** The existing port group returned for `uplink` networks. */
  uplinkPortGroup: z.string().min(1).default('VM Network'),
  /** vCPUs capacity() counts per logical CPU of the host: labs idle mostly, so some overcommit is normal. */
  cpuOvercommit: z.number().min(1).max(64).default(4),
  /** Catalog OS key -> name of a powered-off template VM on the host. */
  templates: z.record(z.string(), z.string()).default({}),
  /** Catalog OS key -> path of a qcow2 or raw cloud image on the appliance, used when no template is mapped. */
  images: z.record(z.string(), z.string().min(1)).default({}),
  timeouts: z
    .object({
      callMs: z.number().int().positive().default(60_000),
      taskMs: z
        .number()
        .int()
        .positive()
        .default(30 * 60_000),
      shutdownMs: z.number().int().positive().default(120_000),
      /** Converting a cloud image on the appliance, and uploading it, each. */
      imageMs: z
        .number()
        .int()
        .positive()
        .default(60 * 60_000),
    })
    .prefault({}),
  /** WSDL path or URL; default: the host's own /sdk/vimService.wsdl. */
  wsdl: z.string().min(1).optional(),
});

export type EsxiConfig = z.output<typeof esxiConfigSchema>;
export type EsxiConfigInput = z.input<typeof esxiConfigSchema>;
