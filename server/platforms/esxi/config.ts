// The ESXi driver's configuration: one standalone host, its datastore and standard vSwitch, and how TLS is trusted.
// The password is the platform's sealed secret (DriverDeps.secret), never part of the stored config.
import { z } from 'zod';
import { tlsTrustSchema } from '../shared/tls-trust.ts';

export const esxiConfigSchema = z.object({
  host: z
    .string()
    .min(1)
    .describe(
      'Name or address of a standalone ESXi host, e.g. esxi01.lab.example. Not a vCenter Server: ' +
        'the driver works on the host itself, and the connection test fails on a vCenter.',
    ),
  port: z.number().int().min(1).max(65535).default(443).describe('HTTPS port of the host (vSphere API at /sdk).'),
  username: z
    .string()
    .min(1)
    .describe('The ESXi user Glassdome signs in as, e.g. glassdome (Administrator role on the host is simplest).'),
  tls: tlsTrustSchema.describe(
    'How the self-signed certificate is trusted, as JSON with exactly one of: {"fingerprint": "AB:CD:...:EF"} ' +
      '(its SHA-256, pinned; Host client > Manage > Security & users > Certificates), ' +
      '{"caFile": "/path/to/ca.pem"} or {"insecure": true}.',
  ),
  datastore: z
    .string()
    .min(1)
    .default('datastore1')
    .describe('Datastore for VM folders, copied disks, uploaded cloud images and seed ISOs.'),
  vswitch: z
    .string()
    .min(1)
    .default('vSwitch0')
    .describe(
      'The standard vSwitch that gets one port group per lab network (VLAN-tagged); ideally one used for labs only.',
    ),
  uplinkPortGroup: z
    .string()
    .min(1)
    .default('VM Network')
    .describe('The existing port group that uplink networks use; nothing is created for them.'),
  cpuOvercommit: z
    .number()
    .min(1)
    .max(64)
    .default(4)
    .describe('vCPUs counted per logical CPU of the host when reporting free capacity (1-64); labs idle mostly.'),
  templates: z
    .record(z.string(), z.string())
    .default({})
    .describe(
      'Catalog OS -> name of a powered-off template VM on the host (with open-vm-tools and cloud-init), as JSON, ' +
        'e.g. {"debian-12": "tpl-debian-12"}.',
    ),
  images: z
    .record(z.string(), z.string().min(1))
    .default({})
    .describe(
      'Catalog OS -> path of a qcow2 or raw cloud image on the appliance, used when no template is mapped ' +
        '(needs qemu-img), as JSON, e.g. {"ubuntu-22.04": "/var/lib/glassdome/images/jammy.img"}.',
    ),
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
    .prefault({})
    .describe(
      'Time limits as JSON: {"callMs": 60000, "taskMs": 1800000, "shutdownMs": 120000, "imageMs": 3600000} ' +
        '(the defaults): one API call, one host task such as a disk copy, a guest shutdown before power-off, ' +
        'converting or uploading an image.',
    ),
  wsdl: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Path or URL of a vSphere WSDL to load instead of the host's own /sdk/vimService.wsdl (empty, the default). " +
        'With a local file, the API version used is at most 7.0.2.',
    ),
});

export type EsxiConfig = z.output<typeof esxiConfigSchema>;
export type EsxiConfigInput = z.input<typeof esxiConfigSchema>;
