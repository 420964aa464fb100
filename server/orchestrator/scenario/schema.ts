// The scenario format, version 1, as zod schemas: what each field accepts, its default and its limits. Cross-field
// rules (overlaps, references, cycles) are in checks/; parse.ts runs both and locates every problem in the file.
import { z } from 'zod';
import { windowsSettingsSchema } from '../../agents/windows/settings.ts';
import {
  machineVulnerabilitiesSchema,
  selectionSeedSchema,
  vulnerableOnInternetSchema,
} from '../../reaper/selection.ts';

/** Size limits of a scenario file and its free-text fields; beyond them a file is refused, never half-read. */
export const limits = {
  /** Bytes of YAML: the API, the web upload and the CLI all refuse a larger file before parsing it. */
  fileBytes: 1_000_000,
  title: 200,
  description: 10_000,
  /** YAML aliases a file may expand (a "billion laughs" file expands millions). */
  aliases: 100,
  /** Problems reported one by one; the rest are counted. */
  reportedIssues: 100,
};

const slug = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/,
    'expected a lowercase name of letters, digits and dashes (a-z, 0-9, -), starting with a letter, at most 32 characters',
  );
const hostname = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/,
    'expected a hostname of lowercase letters, digits and dashes, starting with a letter, at most 40 characters',
  );

/** Memory in MiB: a number, or a string like "4G", "512M". */
const memory = z.union([
  z.number().int().min(256, 'expected at least 256 (MiB)'),
  z.string().regex(/^\d+\s*[MG]i?B?$/i, 'expected a size such as 4096, "4G" or "512M"'),
]);
/** Disk in GiB: a number, or a string like "40G", "1T". */
const disk = z.union([
  z.number().int().min(1),
  z.string().regex(/^\d+\s*[GT]i?B?$/i, 'expected a size such as 40, "40G" or "1T"'),
]);

const sizeSchema = z.union([
  z.enum(['small', 'medium', 'large']),
  z.strictObject({ cpus: z.number().int().min(1).max(128), memory, disk: disk.optional() }),
]);

export const userSchema = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a Unix user name (lowercase letters, digits, _ and -)'),
  /** Omitted: Glassdome generates one per machine and shows it to those allowed to see it. */
  password: z.string().min(1).optional(),
  sudo: z.boolean().default(false),
  sshKeys: z
    .array(
      z
        .string()
        .regex(/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) \S+/, 'expected an OpenSSH public key line'),
    )
    .default([]),
  groups: z.array(z.string().min(1)).default([]),
  shell: z.string().startsWith('/').default('/bin/bash'),
});

const portSchema = z.union([
  z.number().int().min(1).max(65535),
  z.string().regex(/^\d{1,5}(-\d{1,5})?$/, 'expected a port (443) or a range ("8000-8080")'),
]);

export const networkSchema = z.strictObject({
  name: slug,
  cidr: z.string().optional(),
  gateway: z.string().optional(),
  vlan: z
    .number()
    .int()
    .min(1, 'expected a VLAN id from 1 to 4094')
    .max(4094, 'expected a VLAN id from 1 to 4094')
    .optional(),
  dhcp: z.boolean().default(false),
  internet: z.boolean().default(false),
});

export const ruleSchema = z.strictObject({
  from: z.string().min(1),
  to: z.string().min(1),
  protocol: z.enum(['tcp', 'udp', 'icmp', 'any']).default('tcp'),
  ports: z.union([portSchema, z.array(portSchema)]).optional(),
  action: z.enum(['allow', 'deny']).default('allow'),
});

const nicSchema = z.union([
  z.string().min(1),
  z.strictObject({ network: z.string().min(1), ip: z.string().optional() }),
]);

const fileSchema = z.strictObject({
  path: z.string().startsWith('/', 'expected an absolute path'),
  content: z.string(),
  mode: z
    .string()
    .regex(/^0?[0-7]{3,4}$/, 'expected an octal mode such as "0644"')
    .default('0644'),
  owner: z.string().default('root:root'),
});

const platformOverrides = z.strictObject({
  simulator: z.strictObject({ failAlways: z.boolean().optional() }).optional(),
  proxmox: z
    .strictObject({
      template: z.union([z.number().int(), z.string()]).optional(),
      node: z.string().optional(),
      storage: z.string().optional(),
      fullClone: z.boolean().optional(),
    })
    .optional(),
  esxi: z
    .strictObject({ template: z.string().optional(), image: z.string().optional(), datastore: z.string().optional() })
    .optional(),
  aws: z.strictObject({ ami: z.string().optional(), instanceType: z.string().optional() }).optional(),
  azure: z.strictObject({ image: z.string().optional(), vmSize: z.string().optional() }).optional(),
});

export const machineSchema = z.strictObject({
  name: hostname,
  os: z.string().optional(),
  size: sizeSchema.optional(),
  /** Overrides the size's disk (GiB, or "64G"). */
  disk: disk.optional(),
  count: z.number().int().min(1).max(100).default(1),
  networks: z.array(nicSchema).min(1, 'a machine needs at least one network'),
  dependsOn: z.array(z.string()).default([]),
  users: z.array(userSchema).default([]),
  packages: z.array(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9.+:=~-]*$/, 'expected a package name')).default([]),
  files: z.array(fileSchema).default([]),
  run: z.array(z.string().min(1)).default([]),
  /** Modules of the vulnerability catalogue, by id or by selection (reaper/selection.ts). */
  vulnerabilities: machineVulnerabilitiesSchema,
  /** A vulnerable machine on a network with internet egress is refused unless this is set (a supervised lab). */
  vulnerableOnInternet: vulnerableOnInternetSchema,
  platform: platformOverrides.default({}),
  /** Windows machines: a domain to promote or join, and how the lab may reach them (agents/windows/settings.ts). */
  windows: windowsSettingsSchema.optional(),
});

export const scenarioSchema = z.strictObject({
  glassdome: z.literal(1, 'expected 1 (the only scenario format version so far)'),
  name: slug,
  /** A label for pages; defaults to `name`. */
  title: z.string().min(1).max(limits.title, `expected at most ${limits.title} characters`).optional(),
  description: z.string().max(limits.description, `expected at most ${limits.description} characters`).default(''),
  instances: z.number().int().min(1).max(200).default(1),
  /** Fixes the draw of selected vulnerabilities (the same seed gives the same modules); default: a new one per deployment. */
  seed: selectionSeedSchema,
  defaults: z
    .strictObject({
      os: z.string().default('ubuntu-22.04'),
      size: sizeSchema.default('small'),
      user: z.union([userSchema.shape.name, userSchema]).optional(),
    })
    .default({ os: 'ubuntu-22.04', size: 'small' }),
  networks: z.array(networkSchema).min(1, 'a scenario needs at least one network'),
  firewall: z
    .strictObject({
      default: z.enum(['allow', 'deny']).default('deny'),
      rules: z.array(ruleSchema).default([]),
    })
    .default({ default: 'deny', rules: [] }),
  machines: z.array(machineSchema).min(1, 'a scenario needs at least one machine'),
});

export type RawScenario = z.output<typeof scenarioSchema>;
export type RawMachine = z.output<typeof machineSchema>;
export type RawNetwork = z.output<typeof networkSchema>;
export type RawRule = z.output<typeof ruleSchema>;

/** The JSON Schema of the scenario format, for editors (yaml-language-server). */
export function scenarioJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://glassdome.local/scenario.schema.json',
    title: 'Glassdome scenario, version 1',
  };
}
