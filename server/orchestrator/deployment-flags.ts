// A deployment's flags for its instructors: every module instance with its flag (derived from the deployment's
// secret, never stored), where it is, hints, the marking guide and the accounts the module made, and the same as
// CTFd's challenge CSV. Only staff routes call this; every view and export is recorded in the audit log.
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { Plan } from '../model/plan.ts';
import { defaultCatalogue } from '../reaper/catalogue.ts';
import { ctfdChallengesCsv, instanceFlags, type CtfdOptions, type FlagRow } from '../reaper/flags.ts';
import type { SecretBox } from '../secret-box.ts';

export type { FlagRow } from '../reaper/flags.ts';

export interface FlagQuery {
  /** Only these instances; all when absent or empty. */
  instances?: number[];
}

export function createDeploymentFlags({ db, box, audit }: { db: Db; box: SecretBox; audit: AuditSink }) {
  function load(id: string): { plan: Plan; secret: string } {
    const d = db
      .select({ plan: deployments.plan, secret: deployments.secret })
      .from(deployments)
      .where(eq(deployments.id, id))
      .get();
    if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
    return { plan: d.plan as Plan, secret: box.open(d.secret) };
  }

  function rows(id: string, q: FlagQuery): { plan: Plan; rows: FlagRow[] } {
    const { plan, secret } = load(id);
    const wanted = q.instances?.length ? new Set(q.instances) : undefined;
    for (const i of wanted ?? [])
      if (!Number.isInteger(i) || i < 1 || i > plan.instances)
        throw new AppError('invalid_input', `Deployment ${id} has no instance ${i}; it has ${plan.instances}`, {
          issues: [{ path: 'instance', message: `1 to ${plan.instances}` }],
        });
    const machines = plan.machines
      .filter((m) => m.vulnerabilities.length > 0 && (!wanted || wanted.has(m.instance)))
      .map((m) => ({
        key: m.key,
        instance: m.instance,
        hostname: m.hostname,
        os: m.os,
        ...(m.windows?.domain ? { domain: m.windows.domain } : {}),
        vulnerabilities: m.vulnerabilities,
      }));
    return { plan, rows: instanceFlags(machines, { secret, seed: plan.seed, catalogue: defaultCatalogue() }) };
  }

  const scope = (q: FlagQuery) => (q.instances?.length ? `instance ${q.instances.join(', ')}` : 'all instances');

  return {
    /** The flag rows of a deployment (or of some of its instances); audited as a view of its flags. */
    list(actor: Actor, id: string, q: FlagQuery = {}): FlagRow[] {
      const r = rows(id, q);
      audit.record(actor, 'deployment.flags.view', `deployment:${id}`, `${scope(q)}, ${r.rows.length} flag(s)`);
      return r.rows;
    },

    /** CTFd's challenge CSV (CTFd 3.7 or newer: Admin > Config > Backup > Import CSV, type Challenges); audited. */
    ctfdCsv(actor: Actor, id: string, q: FlagQuery & Pick<CtfdOptions, 'categoryBy' | 'state'> = {}): string {
      const r = rows(id, q);
      // Trainees reach a machine at its first planned address (instances reuse the scenario's addresses).
      const address = new Map(r.plan.machines.map((m) => [m.key, m.nics.find((n) => n.ip)?.ip]));
      const csv = ctfdChallengesCsv(r.rows, {
        address: (key) => address.get(key),
        ...(q.categoryBy ? { categoryBy: q.categoryBy } : {}),
        ...(q.state ? { state: q.state } : {}),
      });
      audit.record(
        actor,
        'deployment.flags.export',
        `deployment:${id}`,
        `CTFd CSV, ${scope(q)}, ${r.rows.length} challenge(s)`,
      );
      return csv;
    },
  };
}

export type DeploymentFlags = ReturnType<typeof createDeploymentFlags>;
