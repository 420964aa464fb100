// The input and response schemas of the overseer's pages and API: jobs, findings, policies, quotas, a deployment's
// lifecycle and power, instance snapshots, testing mode, and who works in an instance (with its VPN seat).
import { z } from 'zod';
import { findingKinds, overseerJobNames } from '../model/overseer.ts';
import { snapshotNamePattern } from '../orchestrator/instance-snapshots.ts';

/** An empty form field is "no value" (a limit left empty is unlimited). */
const blankIsNull = (v: unknown) => (v === '' || v === undefined ? null : v);
const limit = z.preprocess(blankIsNull, z.coerce.number().int('a whole number').min(0).nullable());

export const policySchema = z.object({
  mode: z.enum(['report', 'fix']),
  orphanGraceMinutes: z.coerce
    .number()
    .int('a whole number of minutes')
    .min(0)
    .max(7 * 24 * 60),
});

export const quotaSchema = z.object({ machines: limit, vcpus: limit, memoryMb: limit, deployments: limit });

export const lifecycleSchema = z.object({
  traineeTestingModeShown: z
    .unknown()
    .optional()
    .transform(() => undefined),
  idleShutdownMinutes: z.preprocess(blankIsNull, z.coerce.number().int().min(5).max(10_080).nullable()).optional(),
  /** ISO date-time; a datetime-local form value (no zone) is taken as UTC. Empty: no end date. */
  endsAt: z
    .preprocess(
      (v) => (v === '' ? null : typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(v) ? `${v}:00Z` : v),
      z.iso.datetime({ offset: true }).nullable(),
    )
    .optional(),
  warnHours: z.coerce
    .number()
    .int()
    .min(0)
    .max(24 * 30)
    .optional(),
  destroyGraceHours: z.coerce
    .number()
    .int()
    .min(0)
    .max(24 * 90)
    .optional(),
  traineeTestingMode: z.preprocess(
    (v) => (v === 'on' || v === 'true' ? true : v === 'off' || v === 'false' || v === '' ? false : v),
    z.boolean().optional(),
  ),
});

export const deploymentPowerSchema = z.object({ action: z.enum(['start', 'stop']) });

export const instanceSnapshotSchema = z.object({
  name: z.string().trim().regex(snapshotNamePattern, '2-40 letters, digits, - or _, starting with a letter'),
});

/** `allow` from a form: one text of addresses, CIDRs and names separated by commas or spaces. */
export const testingFormSchema = z.object({ allow: z.string().default('') });
export const testingSchema = z.object({
  addresses: z.array(z.string().trim().min(1)).max(256).default([]),
  domains: z.array(z.string().trim().min(1)).max(256).default([]),
});
export const leaveTestingSchema = z.object({
  revert: z.preprocess((v) => v === 'on' || v === 'true' || v === true, z.boolean()).default(false),
});

/** Splits a typed allow-list into addresses (anything that starts with a digit) and names. */
export function splitAllowList(text: string): { addresses: string[]; domains: string[] } {
  const items = text
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  return { addresses: items.filter((x) => /^\d/.test(x)), domains: items.filter((x) => !/^\d/.test(x)) };
}

// ------------------------------------------------------------------------------------------------ responses

const jobRun = z.object({
  id: z.number(),
  job: z.enum(overseerJobNames),
  startedAt: z.string(),
  endedAt: z.string(),
  durationMs: z.number(),
  result: z.enum(['ok', 'failed']),
  summary: z.string(),
  trigger: z.enum(['schedule', 'manual']),
  by: z.string(),
});

export const jobStatus = z.object({
  name: z.enum(overseerJobNames),
  schedule: z.string(),
  description: z.string(),
  running: z.object({ since: z.string(), owner: z.string() }).nullable(),
  lastRun: jobRun.nullable(),
  lastSkip: z.object({ at: z.string(), reason: z.string() }).nullable(),
  runs: z.number(),
  skips: z.number(),
  failures: z.number(),
});
export const jobRuns = z.array(jobRun);
export const tickResult = z.union([
  z.object({ state: z.literal('ran'), run: jobRun }),
  z.object({ state: z.literal('skipped'), reason: z.string() }),
]);

export const finding = z.object({
  id: z.number(),
  kind: z.enum(findingKinds),
  platformId: z.string(),
  deploymentId: z.string().nullable(),
  machineKey: z.string().nullable(),
  resourceName: z.string(),
  externalId: z.string().nullable(),
  message: z.string(),
  state: z.enum(['open', 'resolved']),
  firstSeenAt: z.string(),
  lastSeenAt: z.string(),
  resolvedAt: z.string().nullable(),
  fix: z.object({
    state: z.enum(['none', 'running', 'fixed', 'failed', 'waiting']),
    attempts: z.number(),
    at: z.string().nullable(),
    detail: z.string().nullable(),
  }),
});

export const policy = z.object({
  platformId: z.string(),
  mode: z.enum(['report', 'fix']),
  orphanGraceMinutes: z.number(),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
});

const usage = z.object({ machines: z.number(), vcpus: z.number(), memoryMb: z.number(), deployments: z.number() });
export const quota = z.object({
  userId: z.string(),
  username: z.string(),
  machines: z.number().nullable(),
  vcpus: z.number().nullable(),
  memoryMb: z.number().nullable(),
  deployments: z.number().nullable(),
  usage,
});

export const lifecycle = z.object({
  deploymentId: z.string(),
  ownerId: z.string().nullable(),
  idleShutdownMinutes: z.number().nullable(),
  endsAt: z.string().nullable(),
  warnHours: z.number(),
  destroyGraceHours: z.number(),
  expiryStage: z.enum(['none', 'warned', 'stopped', 'destroyed']),
  lastActivityAt: z.string().nullable(),
  lastBusyAt: z.string().nullable(),
  idleStoppedAt: z.string().nullable(),
  traineeTestingMode: z.boolean(),
});

export const health = z.object({
  machines: z.array(
    z.object({
      deploymentId: z.string(),
      key: z.string(),
      power: z.string(),
      agent: z.enum(['ok', 'missing', 'unknown']),
      addresses: z.array(z.string()),
      router: z.enum(['ok', 'unreachable', 'firewall', 'unchecked']).nullable(),
      cpuLoad: z.number().nullable(),
      checkedAt: z.string(),
      changedAt: z.string(),
    }),
  ),
  findings: z.array(finding),
});

export const powerResult = z.object({ machines: z.number(), failed: z.array(z.string()) });

export const instanceSnapshot = z.object({
  deploymentId: z.string(),
  instance: z.number(),
  name: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  machines: z.array(z.string()),
  purpose: z.enum(['manual', 'testing']),
});

export const testingState = z.object({
  deploymentId: z.string(),
  instance: z.number(),
  state: z.enum(['on', 'off']),
  allow: z.object({ addresses: z.array(z.string()), domains: z.array(z.string()) }),
  snapshot: z.string().nullable(),
  switchedBy: z.string(),
  switchedAt: z.string(),
  verified: z.string().nullable(),
});

/**
 * Who works in an instance: a trainee's username or user id; null, or the form's empty choice, gives it to nobody.
 * Required: a body that names no one is a mistake, not a request to unassign.
 */
export const assignmentSchema = z.object({
  trainee: z.preprocess((v) => (v === '' ? null : v), z.string().trim().min(1).nullable()),
});

const person = z.object({ id: z.string(), username: z.string() });

export const traineeVpnState = z.object({
  deploymentId: z.string(),
  instance: z.number(),
  publicKey: z.string(),
  router: z.enum(['first-boot', 'applied', 'pending']),
  detail: z.string(),
  rotatedAt: z.string().nullable(),
  rotatedBy: z.string().nullable(),
  checkedAt: z.string().nullable(),
});

export const instanceAssignment = z.object({
  deploymentId: z.string(),
  instance: z.number(),
  trainee: person.nullable(),
  vpn: traineeVpnState.nullable(),
});

export const reassignResult = instanceAssignment.extend({
  changed: z.boolean(),
  previous: person.nullable(),
  rotated: z.boolean(),
});
