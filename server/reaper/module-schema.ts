// The format of a vulnerability module file (server/reaper/catalogue/*.yaml): the zod schema, the value schema
// of each parameter type, and the types the rest of Reaper works with. catalogue/sudo-nopasswd-gtfobin.yaml is the
// commented reference; catalogue.ts adds the checks a schema cannot express (templates, OS, defaults).
import { z } from 'zod';
import {
  vulnerabilityCategories,
  vulnerabilityDifficulties,
  windowsRoles,
  type ParamValue,
} from '../model/vulnerability.ts';

export const moduleIdPattern = /^[a-z][a-z0-9-]{1,46}[a-z0-9]$/;
const moduleId = z
  .string()
  .regex(
    moduleIdPattern,
    'expected a module id: lowercase letters, digits and dashes, starting with a letter, 3 to 48 characters',
  );
const paramName = z
  .string()
  .regex(/^[a-z][a-zA-Z0-9_]{0,31}$/, 'expected a parameter name: a lowercase letter, then letters, digits or _');

/** Text that is safe unquoted in a shell word, a path, a config file line and a URL path. */
export const safeTextPattern = '^[A-Za-z0-9._@%+=:,/-]*$';
export const passwordPattern = '^[A-Za-z0-9._@%+=:,!-]{1,64}$';
export const usernamePattern = /^[a-z_][a-z0-9_-]{0,31}$/;
const pathPattern = /^\/[A-Za-z0-9._/-]*$/;

const common = {
  description: z.string().min(1, 'describe what the parameter changes'),
  /** Used when the scenario gives no value. */
  default: z.unknown().optional(),
  /** One of these is drawn per instance from the deployment's seed when the scenario gives no value. */
  random: z.array(z.unknown()).min(1, 'expected at least one value to draw from').optional(),
};

const regexSource = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, 'expected a valid regular expression');

export const paramSpecSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('string'),
      ...common,
      pattern: regexSource.optional(),
      maxLength: z.number().int().min(1).max(4096).default(128),
    }),
    z.strictObject({ type: z.literal('password'), ...common }),
    z.strictObject({
      type: z.literal('integer'),
      ...common,
      min: z.number().int().optional(),
      max: z.number().int().optional(),
    }),
    z.strictObject({ type: z.literal('port'), ...common }),
    z.strictObject({ type: z.literal('boolean'), ...common }),
    z.strictObject({ type: z.literal('username'), ...common }),
    z.strictObject({ type: z.literal('path'), ...common }),
    z.strictObject({
      type: z.literal('enum'),
      ...common,
      values: z.array(z.string().regex(new RegExp(safeTextPattern), 'expected shell-safe text')).min(1),
    }),
    z.strictObject({ type: z.literal('list'), ...common, items: regexSource.optional() }),
  ],
  { error: 'expected a type: string, password, integer, port, boolean, username, path, enum or list' },
);
export type ParamSpec = z.output<typeof paramSpecSchema>;
export type ParamType = ParamSpec['type'];

/** The schema a value of this parameter must satisfy, from a module's default or a scenario. */
export function paramValueSchema(spec: ParamSpec): z.ZodType<ParamValue> {
  switch (spec.type) {
    case 'string':
      return z
        .string('expected text')
        .max(spec.maxLength, `expected at most ${spec.maxLength} characters`)
        .regex(
          new RegExp(spec.pattern ?? safeTextPattern),
          spec.pattern
            ? `expected text matching ${spec.pattern}`
            : 'expected letters, digits and . _ @ % + = : , / - only',
        );
    case 'password':
      return z
        .string('expected text')
        .regex(new RegExp(passwordPattern), 'expected 1 to 64 letters, digits and . _ @ % + = : , ! -');
    case 'integer': {
      let s = z.number('expected a whole number').int('expected a whole number');
      if (spec.min !== undefined) s = s.min(spec.min, `expected at least ${spec.min}`);
      if (spec.max !== undefined) s = s.max(spec.max, `expected at most ${spec.max}`);
      return s;
    }
    case 'port':
      return z
        .number('expected a port number')
        .int('expected a port number')
        .min(1, 'expected a port from 1 to 65535')
        .max(65535, 'expected a port from 1 to 65535');
    case 'boolean':
      return z.boolean('expected true or false');
    case 'username':
      return z
        .string('expected a user name')
        .regex(usernamePattern, 'expected a Unix user name (lowercase letters, digits, _ and -, at most 32)');
    case 'path':
      return z
        .string('expected an absolute path')
        .regex(pathPattern, 'expected an absolute path of letters, digits and . _ - /')
        .refine((p) => !p.split('/').includes('..'), 'expected a path without ".." segments');
    case 'enum':
      return z.enum(spec.values as [string, ...string[]], `expected one of ${spec.values.join(', ')}`);
    case 'list':
      return z.array(
        z
          .string()
          .regex(
            new RegExp(spec.items ?? safeTextPattern),
            spec.items ? `expected items matching ${spec.items}` : 'expected shell-safe items',
          ),
        'expected a list',
      );
  }
}

const mode = z.string().regex(/^0?[0-7]{3,4}$/, 'expected an octal mode such as "0644"');
const owner = z.string().regex(/^[a-z_{][a-z0-9_{}.| -]*:[a-z_{][a-z0-9_{}.| -]*$/, 'expected user:group');

const fileSchema = z.strictObject({
  path: z.string().min(1),
  content: z.string(),
  mode: mode.default('0644'),
  owner: owner.default('root:root'),
  /** Appends to the file (a package's own config), instead of replacing it. */
  append: z.boolean().default(false),
});

const userSchema = z.strictObject({
  name: z.string().min(1),
  /** Omitted: derived from the deployment's secret, like a machine's generated passwords. */
  password: z.string().min(1).optional(),
  shell: z.string().startsWith('/').default('/bin/bash'),
  groups: z.array(z.string().min(1)).default([]),
  /** The account a trainee starts from; its credentials may be shown to the trainee of the range. */
  foothold: z.boolean().default(false),
});

const expectSchema = z
  .strictObject({
    contains: z.string().min(1).optional(),
    matches: z.string().min(1).optional(),
    exitCode: z.number().int().min(0).max(255).default(0),
  })
  .default({ exitCode: 0 });

const port = z.union([z.number().int().min(1).max(65535), z.string().min(1)]);
const probeCommon = {
  /** What a pass proves, for the instructor. */
  description: z.string().min(1),
  timeout: z.number().int().min(1).max(600).default(30),
  expect: expectSchema,
};

export const probeSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('tcp'), ...probeCommon, port, banner: z.boolean().default(false) }),
    z.strictObject({
      kind: z.literal('http'),
      ...probeCommon,
      port: port.default(80),
      scheme: z.enum(['http', 'https']).default('http'),
      path: z.string().startsWith('/').default('/'),
      query: z.record(z.string(), z.string()).default({}),
      form: z.record(z.string(), z.string()).optional(),
      user: z.string().optional(),
      password: z.string().optional(),
    }),
    z.strictObject({
      kind: z.literal('ssh'),
      ...probeCommon,
      port: port.default(22),
      user: z.string().min(1),
      password: z.string().optional(),
      command: z.string().min(1),
      /** `sh` (the command is fed to `sh -s`) or `powershell` (Windows: run with -EncodedCommand). */
      shell: z.enum(['sh', 'powershell']).default('sh'),
    }),
    z.strictObject({
      kind: z.literal('ftp'),
      ...probeCommon,
      port: port.default(21),
      path: z.string().startsWith('/'),
      user: z.string().default('anonymous'),
      password: z.string().default('anonymous@'),
    }),
    z.strictObject({
      kind: z.literal('smb'),
      ...probeCommon,
      port: port.default(445),
      share: z.string().min(1),
      path: z.string().optional(),
      put: z.boolean().default(false),
      /** Logs in as this user (omitted: a guest/anonymous session); its password defaults to the derived one. */
      user: z.string().min(1).optional(),
      password: z.string().optional(),
      /** The user's domain or workgroup (Windows: the NetBIOS name, {{ad.netbios}}). */
      domain: z.string().min(1).optional(),
    }),
    z.strictObject({
      kind: z.literal('redis'),
      ...probeCommon,
      port: port.default(6379),
      command: z.array(z.string().min(1)).min(1),
    }),
    z.strictObject({
      kind: z.literal('mysql'),
      ...probeCommon,
      port: port.default(3306),
      user: z.string().min(1),
      password: z.string().default(''),
      query: z.string().min(1),
    }),
    z.strictObject({ kind: z.literal('nfs'), ...probeCommon }),
    z.strictObject({
      kind: z.literal('impacket'),
      ...probeCommon,
      /** An Impacket example script, run as impacket-<tool> (Kali's impacket-scripts). */
      tool: z.string().regex(/^[A-Za-z][A-Za-z0-9]{1,40}$/, 'expected an Impacket script name such as GetUserSPNs'),
      /** Its target argument, e.g. "{{ad.domain}}/{{user}}" or "{{ad.domain}}/{{user}}@{{host}}". */
      target: z.string().min(1),
      /** Whose password the script is given (on its prompt, never on the command line); omitted: none. */
      user: z.string().min(1).optional(),
      /** Omitted with a user: the user's derived password. */
      password: z.string().optional(),
      args: z.array(z.string().min(1)).default([]),
    }),
    z.strictObject({
      kind: z.literal('shell'),
      ...probeCommon,
      script: z.string().min(1),
      requires: z.array(z.string().regex(/^[a-z0-9][a-z0-9._+-]*$/)).default([]),
    }),
  ],
  { error: 'expected a kind: tcp, http, ssh, ftp, smb, redis, mysql, nfs, impacket or shell' },
);
export type Probe = z.output<typeof probeSchema>;
export type ProbeKind = Probe['kind'];

const cwe = z.string().regex(/^CWE-\d{1,5}$/, 'expected CWE-<number>');
const cve = z.string().regex(/^CVE-\d{4}-\d{4,7}$/, 'expected CVE-<year>-<number>');
const varValue = z.union([z.string(), z.array(z.string())]);

export const moduleSchema = z.strictObject({
  id: moduleId,
  title: z.string().min(1).max(80, "expected at most 80 characters (CTFd's limit for a challenge name)"),
  category: z.enum(vulnerabilityCategories),
  difficulty: z.enum(vulnerabilityDifficulties),
  /** Points in a CTFd export; default by difficulty (easy 100, medium 200, hard 300). */
  points: z.number().int().min(0).max(10000).optional(),
  summary: z.string().min(1),
  /** What the trainee reads (the CTFd challenge description): never the flag or the way in. */
  challenge: z.string().min(1),
  references: z
    .strictObject({ cwe: z.array(cwe).default([]), cve: z.array(cve).default([]), links: z.array(z.url()).default([]) })
    .default({ cwe: [], cve: [], links: [] }),
  /** OS keys (ubuntu-22.04) or families (debian) of server/model/catalog.ts it applies to. */
  os: z.array(z.string().min(1)).min(1, 'name at least one OS key or family'),
  /** Windows modules: where the machine must stand in a domain (default: anywhere). AD modules leave out standalone. */
  roles: z.array(z.enum(windowsRoles)).min(1).optional(),
  /** Per-OS values (by OS key or family; a key wins over its family) that templates read as {{os.<name>}}. */
  vars: z.record(z.string(), z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]*$/), varValue)).default({}),
  parameters: z.record(paramName, paramSpecSchema).default({}),
  apply: z.strictObject({
    packages: z.array(z.string().min(1)).default([]),
    users: z.array(userSchema).default([]),
    files: z.array(fileSchema).default([]),
    /** Shell lines run as root at the end of first boot, in one `sh -e` script. */
    runcmd: z.array(z.string().min(1)).default([]),
    /** Shell lines run as root over SSH once the machine is ready, in one `sh -e` script. */
    afterBoot: z.array(z.string().min(1)).default([]),
    /** Windows modules: PowerShell lines run as SYSTEM at first boot, after the domain steps, as one script. */
    powershell: z.array(z.string().min(1)).default([]),
  }),
  verify: z.array(probeSchema).min(1, 'a module needs at least one verify probe'),
  /** Shell lines run as root over SSH that undo the module, where that is possible. */
  revert: z.array(z.string().min(1)).default([]),
  flag: z.strictObject({
    /** Where the flag is, for the instructor. */
    location: z.string().min(1),
    /**
     * Glassdome writes the instance's flag to this file (with a trailing newline). Linux: owner (root:root) and mode
     * ("0600"). Windows: a C:\ path, readable by SYSTEM, Administrators and the `readers` only.
     */
    file: z
      .strictObject({
        path: z.string().min(1),
        owner: owner.optional(),
        mode: mode.optional(),
        readers: z.array(z.string().min(1)).optional(),
      })
      .optional(),
    /** A fixed answer instead of a planted flag, for challenges that ask to identify something (a CVE id). */
    answer: z.string().min(1).optional(),
  }),
  hints: z.array(z.strictObject({ text: z.string().min(1), cost: z.number().int().min(0).default(0) })).default([]),
  /** For instructors: what the trainee must do, what counts as solved, common dead ends. */
  marking: z.string().min(1),
  /** Modules that cannot share a machine with this one. */
  conflicts: z.array(moduleId).default([]),
});

export type VulnerabilityModule = z.output<typeof moduleSchema>;
export type ModuleFile = VulnerabilityModule['apply']['files'][number];
export type ModuleUser = VulnerabilityModule['apply']['users'][number];

export const defaultPoints: Record<VulnerabilityModule['difficulty'], number> = { easy: 100, medium: 200, hard: 300 };

/** The loaded modules (catalogue.ts loads and checks them). */
export interface Catalogue {
  /** By id, in id order. */
  modules: ReadonlyMap<string, VulnerabilityModule>;
}
