// The input (and response) schemas shared by the pages, the JSON API and its OpenAPI document.
import { z } from 'zod';
import { passwordSchema, roleSchema, usernameSchema } from '../accounts/users.ts';
import { tokenNameSchema } from '../accounts/tokens.ts';
import { platformKinds } from '../model/platform-kind.ts';

const optionalText = z.preprocess((v) => (v === '' || v === null ? undefined : v), z.string().optional());

export const loginSchema = z.object({
  username: z.string().trim().toLowerCase().min(1, 'enter your username'),
  password: z.string().min(1, 'enter your password'),
});

export const setupAdminSchema = z
  .object({
    code: z.string().trim().min(1, 'enter the setup code printed by the appliance'),
    username: usernameSchema,
    password: passwordSchema,
    confirm: z.string(),
  })
  .refine((v) => v.password === v.confirm, { path: ['confirm'], message: 'the passwords differ' });

/** Changing your own password: the current one, and the new one typed twice. */
export const passwordChangeSchema = z
  .object({ current: z.string().min(1, 'enter your current password'), password: passwordSchema, confirm: z.string() })
  .refine((v) => v.password === v.confirm, { path: ['confirm'], message: 'the passwords differ' });
export const apiPasswordChangeSchema = z.object({ current: z.string().min(1), password: passwordSchema });

export const userCreateSchema = z.object({ username: usernameSchema, password: passwordSchema, role: roleSchema });
/** The Add-a-user form: the password typed twice, so a typo does not become a password nobody knows. */
export const userCreateFormSchema = userCreateSchema
  .extend({ confirm: z.string() })
  .refine((v) => v.password === v.confirm, { path: ['confirm'], message: 'the passwords differ' })
  .transform(({ confirm: _confirm, ...user }) => user);
export const userUpdateSchema = z.object({
  role: roleSchema.optional(),
  password: z.preprocess((v) => (v === '' ? undefined : v), passwordSchema.optional()),
  disabled: z.preprocess(
    (v) => (v === 'on' || v === 'true' ? true : v === 'off' || v === 'false' ? false : v),
    z.boolean().optional(),
  ),
});

export const tokenCreateSchema = z.object({ name: tokenNameSchema });

export const cidrPoolSchema = z.object({
  cidr: z.string().trim().min(1, 'enter a CIDR such as 10.200.0.0/16'),
  subnetPrefix: z.coerce.number().int('a whole number').min(8).max(29).default(24),
});
export const vlanPoolSchema = z
  .object({
    first: z.coerce.number().int('a whole number').min(1).max(4094),
    last: z.coerce.number().int('a whole number').min(1).max(4094),
  })
  .refine((v) => v.first <= v.last, { path: ['last'], message: 'must not be below the first VLAN' });

export const platformNameSchema = z
  .string()
  .trim()
  .min(1, 'give the platform a name')
  .max(40)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, dot, dash and underscore');
export const platformCreateSchema = z.object({
  name: platformNameSchema,
  kind: z.enum(platformKinds),
  config: z.record(z.string(), z.unknown()).default({}),
  /** Password, API token or key; stored sealed, never returned. */
  secret: optionalText,
});
export const platformUpdateSchema = z.object({ config: z.record(z.string(), z.unknown()), secret: optionalText });

export const scenarioInputSchema = z.object({
  yaml: z.string().min(1, 'paste or upload a scenario file').max(1_000_000),
});

export const deployInputSchema = z.object({
  scenarioId: z.string().min(1).optional(),
  /** A scenario not in the library (the CLI's deploy FILE). */
  yaml: z.string().min(1).max(1_000_000).optional(),
  file: z.string().max(200).optional(),
  platform: z.string().min(1, 'choose a platform'),
  instances: z.coerce.number().int('a whole number').min(1).max(200).optional(),
  /** Instance number -> trainee user id. */
  assignments: z.record(z.string().regex(/^\d+$/), z.string().min(1)).default({}),
  /** A per-trainee WireGuard VPN into each instance, ending on its range router (Proxmox, ESXi, simulator). */
  vpn: z.boolean().default(false),
});

export const powerSchema = z.object({ action: z.enum(['start', 'stop', 'reset']) });
export const snapshotSchema = z.object({
  name: z
    .string()
    .trim()
    .min(1, 'name the snapshot')
    .max(40)
    .regex(/^[a-zA-Z][a-zA-Z0-9_-]*$/, 'letters, digits, dash and underscore, starting with a letter'),
});
export const confirmSchema = z.object({ confirm: z.string() });

// ------------------------------------------------------------------------------------------------ responses

export const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    issues: z
      .array(
        z.object({
          path: z.string(),
          message: z.string(),
          at: z.object({ file: z.string(), line: z.number(), column: z.number() }).optional(),
        }),
      )
      .optional(),
  }),
});
export const userResponse = z.object({
  id: z.string(),
  username: z.string(),
  role: roleSchema,
  disabled: z.boolean(),
  createdAt: z.string(),
});
export const platformResponse = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(platformKinds),
  config: z.record(z.string(), z.unknown()),
  hasSecret: z.boolean(),
});
export const connectionReport = z.object({
  ok: z.boolean(),
  product: z.string(),
  version: z.string().optional(),
  details: z.array(z.string()),
});
export const poolsResponse = z.object({
  cidr: z.array(
    z.object({ id: z.number(), cidr: z.string(), subnetPrefix: z.number(), capacity: z.number(), used: z.number() }),
  ),
  vlan: z.array(
    z.object({ id: z.number(), first: z.number(), last: z.number(), capacity: z.number(), used: z.number() }),
  ),
});
export const scenarioSummary = z.object({
  id: z.string(),
  name: z.string(),
  title: z.string(),
  source: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const scenarioResponse = scenarioSummary.extend({ yaml: z.string() });
export const validationResponse = z.object({
  ok: z.boolean(),
  issues: z.array(
    z.object({
      path: z.string(),
      message: z.string(),
      at: z.object({ file: z.string(), line: z.number(), column: z.number() }).optional(),
    }),
  ),
  summary: z.object({ name: z.string(), title: z.string(), networks: z.number(), machines: z.number() }).optional(),
});
export const deploymentSummary = z.object({
  id: z.string(),
  scenarioName: z.string(),
  platformId: z.string(),
  instances: z.number(),
  state: z.string(),
  error: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});
export const machineResponse = z.object({
  key: z.string(),
  hostname: z.string(),
  instance: z.number(),
  role: z.string(),
  os: z.string(),
  state: z.string(),
  platformId: z.string().nullable(),
  addresses: z.array(z.string()),
  plannedAddresses: z.array(z.string()),
  assignedTo: z.string().nullable(),
  steps: z.array(
    z.object({
      kind: z.string(),
      state: z.string(),
      attempts: z.number(),
      startedAt: z.string().nullable(),
      endedAt: z.string().nullable(),
      error: z.string().nullable(),
    }),
  ),
});
export const deploymentResponse = deploymentSummary.extend({
  machines: z.array(machineResponse),
  networks: z.array(
    z.object({
      key: z.string(),
      instance: z.number(),
      name: z.string(),
      cidr: z.string(),
      gateway: z.string(),
      vlan: z.number().optional(),
      internet: z.boolean(),
      /** pending, running, done or failed while it is built; destroyed once teardown removed it. */
      state: z.string(),
    }),
  ),
  lastEventId: z.number(),
});
export const machineDetail = machineResponse.extend({
  power: z.string(),
  liveAddresses: z.array(z.string()),
  credentials: z.array(z.object({ user: z.string(), password: z.string() })).optional(),
  snapshots: z.array(z.object({ name: z.string(), createdAt: z.string().optional() })),
  supportsSnapshots: z.boolean(),
});
export const eventResponse = z.object({
  id: z.number(),
  deploymentId: z.string(),
  at: z.string(),
  type: z.string(),
  stepKey: z.string().nullable(),
  message: z.string(),
});
export const tokenResponse = z.object({
  id: z.string(),
  userId: z.string(),
  username: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export const tokenCreated = z.object({ token: z.string(), info: tokenResponse });
export const auditResponse = z.object({
  id: z.number(),
  at: z.string(),
  userId: z.string().nullable(),
  username: z.string(),
  ip: z.string(),
  action: z.string(),
  target: z.string(),
  detail: z.string(),
});
export const stateResponse = z.object({ id: z.string(), state: z.string() });
export const okResponse = z.object({ ok: z.literal(true) });
