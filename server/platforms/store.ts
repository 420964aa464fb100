// Configured platforms: records in SQLite with their secret sealed, and one live driver instance per record.
import crypto from 'node:crypto';
import { and, eq, ne } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, platforms, simMachines, simNetworks } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { SecretBox } from '../secret-box.ts';
import { driverFor } from './index.ts';
import type { PlatformKind } from '../model/platform-kind.ts';
import type { ConnectionReport } from '../model/connection-report.ts';
import type { Platform } from './platform.ts';

export interface PlatformRecord {
  id: string;
  name: string;
  kind: PlatformKind;
  config: Record<string, unknown>;
  hasSecret: boolean;
}

const builtInSimulator = 'simulator';

export function createPlatformStore(db: Db, box: SecretBox, audit: AuditSink, opts: { cacheDir?: string } = {}) {
  const live = new Map<string, Promise<Platform>>();
  const toRecord = (r: typeof platforms.$inferSelect): PlatformRecord => ({
    id: r.id,
    name: r.name,
    kind: r.kind as PlatformKind,
    config: r.config,
    hasSecret: r.secret !== null,
  });

  function parseConfig(kind: string, config: unknown) {
    const parsed = driverFor(kind).configSchema.safeParse(config);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      throw new AppError(
        'invalid_input',
        `Invalid ${kind} configuration: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
        { issues },
      );
    }
    return parsed.data as Record<string, unknown>;
  }

  function insert(input: { name: string; kind: string; config: unknown; secret?: string }): PlatformRecord {
    const config = parseConfig(input.kind, input.config);
    if (db.select().from(platforms).where(eq(platforms.name, input.name)).get())
      throw new AppError('conflict', `A platform named "${input.name}" already exists`);
    const row = db
      .insert(platforms)
      .values({
        id: `p${crypto.randomBytes(5).toString('hex')}`,
        name: input.name,
        kind: input.kind,
        config,
        secret: input.secret ? box.seal(input.secret) : null,
      })
      .returning()
      .get();
    return toRecord(row);
  }

  return {
    list(): PlatformRecord[] {
      return db.select().from(platforms).all().map(toRecord);
    },
    get(idOrName: string): PlatformRecord {
      const r =
        db.select().from(platforms).where(eq(platforms.id, idOrName)).get() ??
        db.select().from(platforms).where(eq(platforms.name, idOrName)).get();
      if (!r)
        throw new AppError('not_found', `Platform "${idOrName}" does not exist`, {
          hint: 'List the configured platforms with `glassdome platforms` or in Settings.',
        });
      return toRecord(r);
    },
    /** Adds a platform; the secret is sealed with the appliance key and never returned. */
    add(actor: Actor, input: { name: string; kind: string; config: unknown; secret?: string }): PlatformRecord {
      const rec = insert(input);
      audit.record(actor, 'platform.create', `platform:${rec.name}`, rec.kind);
      return rec;
    },
    /** Updates config; the stored secret is kept unless a new one is given. */
    update(actor: Actor, id: string, input: { config: unknown; secret?: string }): PlatformRecord {
      const current = this.get(id);
      const config = parseConfig(current.kind, input.config);
      const set = input.secret
        ? { config, secret: box.seal(input.secret), updatedAt: new Date().toISOString() }
        : { config, updatedAt: new Date().toISOString() };
      db.update(platforms).set(set).where(eq(platforms.id, current.id)).run();
      const old = live.get(current.id);
      live.delete(current.id);
      void old?.then((p) => p.close()).catch(() => undefined);
      audit.record(
        actor,
        'platform.update',
        `platform:${current.name}`,
        input.secret ? 'secret replaced' : 'secret kept',
      );
      return this.get(current.id);
    },
    /**
     * Runs the driver's real connection check on a config that need not be saved; with `existingId` and no new
     * secret, the stored one is used. Never throws for a bad target: the report says why.
     */
    async probe(
      actor: Actor,
      input: {
        kind: PlatformKind;
        name: string;
        config: Record<string, unknown>;
        secret?: string;
        existingId?: string;
      },
    ): Promise<ConnectionReport> {
      let secret = input.secret;
      if (!secret && input.existingId) {
        const row = db
          .select({ secret: platforms.secret })
          .from(platforms)
          .where(eq(platforms.id, input.existingId))
          .get();
        if (row?.secret) secret = box.open(row.secret);
      }
      const driver = driverFor(input.kind);
      const report = await (async (): Promise<ConnectionReport> => {
        const parsed = driver.configSchema.safeParse(input.config);
        if (!parsed.success)
          return {
            ok: false,
            product: driver.title,
            details: parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`),
          };
        try {
          const p = await driver.create(parsed.data, {
            db,
            platformId: input.existingId ?? `probe-${crypto.randomBytes(4).toString('hex')}`,
            ...(secret ? { secret } : {}),
            ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
          });
          try {
            return await p.testConnection({ signal: AbortSignal.timeout(20_000) });
          } finally {
            await p.close().catch(() => undefined);
          }
        } catch (e) {
          return { ok: false, product: driver.title, details: [errorMessage(e)] };
        }
      })();
      audit.record(actor, 'platform.test', `platform:${input.name || '(new)'}`, report.ok ? 'ok' : 'failed');
      return report;
    },
    /** The live driver for a record, created once. */
    instance(idOrName: string): Promise<Platform> {
      const rec = this.get(idOrName);
      let p = live.get(rec.id);
      if (!p) {
        const row = db.select().from(platforms).where(eq(platforms.id, rec.id)).get()!;
        p = driverFor(rec.kind).create(rec.config, {
          db,
          platformId: rec.id,
          ...(row.secret ? { secret: box.open(row.secret) } : {}),
          ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
        });
        p.catch(() => live.delete(rec.id));
        live.set(rec.id, p);
      }
      return p;
    },
    /** Makes sure the built-in simulator platform exists, so a fresh appliance can deploy at once. */
    ensureSimulator(config: Record<string, unknown>): PlatformRecord {
      const existing = db.select().from(platforms).where(eq(platforms.name, builtInSimulator)).get();
      if (existing) return toRecord(existing);
      return insert({ name: builtInSimulator, kind: 'simulator', config });
    },
    /** The simulator every appliance has (recreated at start): it cannot be removed. */
    isBuiltIn(rec: PlatformRecord): boolean {
      return rec.name === builtInSimulator && rec.kind === 'simulator';
    },
    /**
     * Removes a platform, refused while any of its deployments is not destroyed (their machines would be lost track
     * of). The records of its destroyed deployments go with it; returns how many. The built-in simulator stays.
     */
    remove(actor: Actor, idOrName: string): { platform: PlatformRecord; destroyedDeployments: number } {
      const rec = this.get(idOrName);
      if (this.isBuiltIn(rec))
        throw new AppError(
          'conflict',
          `The built-in simulator cannot be removed: every appliance has it, and it comes back at the next start`,
          { hint: 'It needs no hypervisor and creates nothing outside this appliance.' },
        );
      const removed = db.$client
        .transaction(() => {
          const open = db
            .select({ id: deployments.id, state: deployments.state })
            .from(deployments)
            .where(and(eq(deployments.platformId, rec.id), ne(deployments.state, 'destroyed')))
            .all();
          if (open.length > 0)
            throw new AppError(
              'conflict',
              `Platform "${rec.name}" still has ${open.length} deployment(s) that are not destroyed: ${open
                .slice(0, 5)
                .map((d) => `${d.id} (${d.state})`)
                .join(', ')}${open.length > 5 ? ', ...' : ''}`,
              {
                hint: 'Destroy them first, so that nothing they created is left on the platform untracked.',
              },
            );
          const gone = db.delete(deployments).where(eq(deployments.platformId, rec.id)).run().changes;
          db.delete(simMachines).where(eq(simMachines.platformId, rec.id)).run();
          db.delete(simNetworks).where(eq(simNetworks.platformId, rec.id)).run();
          db.delete(platforms).where(eq(platforms.id, rec.id)).run();
          return gone;
        })
        .immediate();
      const driver = live.get(rec.id);
      live.delete(rec.id);
      void driver?.then((p) => p.close()).catch(() => undefined);
      audit.record(
        actor,
        'platform.delete',
        `platform:${rec.name}`,
        `${removed} destroyed deployment record(s) removed`,
      );
      return { platform: rec, destroyedDeployments: removed };
    },
    async closeAll(): Promise<void> {
      const all = [...live.values()];
      live.clear();
      await Promise.allSettled(all.map(async (p) => (await p).close()));
    },
  };
}

export type PlatformStore = ReturnType<typeof createPlatformStore>;
