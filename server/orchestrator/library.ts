// The scenario library: the bundled samples (imported once, then the library's own) and uploaded files.
// Scenarios are kept as their YAML text, so comments survive editing; every save is validated first.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { scenarios, settings } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import { parseScenario, validateScenario } from './scenario/parse.ts';

export const bundledDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scenarios');

export type LibraryScenario = typeof scenarios.$inferSelect;

export function createLibrary(db: Db, audit: AuditSink) {
  const byId = (id: string) => db.select().from(scenarios).where(eq(scenarios.id, id)).get();
  return {
    /** Imports the bundled samples the first time; an admin may then edit or delete them like any other. */
    seedBundled(dir = bundledDir): number {
      if (db.select().from(settings).where(eq(settings.key, 'library.seeded')).get()) return 0;
      let n = 0;
      for (const file of fs.existsSync(dir)
        ? fs
            .readdirSync(dir)
            .filter((f) => f.endsWith('.yaml'))
            .sort()
        : []) {
        const yaml = fs.readFileSync(path.join(dir, file), 'utf8');
        const r = validateScenario(yaml, file);
        if (!r.scenario || db.select().from(scenarios).where(eq(scenarios.name, r.scenario.name)).get()) continue;
        db.insert(scenarios)
          .values({ id: newId(), name: r.scenario.name, title: r.scenario.title, yaml, source: 'bundled' })
          .run();
        n++;
      }
      db.insert(settings)
        .values({ key: 'library.seeded', value: new Date().toISOString() })
        .onConflictDoNothing()
        .run();
      return n;
    },
    list(): Array<Omit<LibraryScenario, 'yaml'>> {
      return db
        .select({
          id: scenarios.id,
          name: scenarios.name,
          title: scenarios.title,
          source: scenarios.source,
          createdAt: scenarios.createdAt,
          updatedAt: scenarios.updatedAt,
        })
        .from(scenarios)
        .orderBy(asc(scenarios.name))
        .all();
    },
    get(id: string): LibraryScenario {
      const r = byId(id);
      if (!r)
        throw new AppError('not_found', `Scenario ${id} does not exist`, {
          hint: 'Open the scenario library to see what there is.',
        });
      return r;
    },
    /** Adds a scenario; throws AppError('invalid_input') with every problem located in the file. */
    add(actor: Actor, yaml: string, file = 'upload.yaml'): LibraryScenario {
      const s = parseScenario(yaml, file);
      if (db.select().from(scenarios).where(eq(scenarios.name, s.name)).get())
        throw new AppError('conflict', `A scenario named "${s.name}" is already in the library`, {
          hint: 'Edit that one, or change `name` in the file.',
          issues: [{ path: 'name', message: `"${s.name}" is taken` }],
        });
      const row = db
        .insert(scenarios)
        .values({ id: newId(), name: s.name, title: s.title, yaml, source: 'uploaded' })
        .returning()
        .get();
      audit.record(actor, 'scenario.create', `scenario:${s.name}`);
      return row;
    },
    count(): number {
      return (db.$client.prepare('SELECT count(*) AS n FROM scenarios').get() as { n: number }).n;
    },
    update(actor: Actor, id: string, yaml: string): LibraryScenario {
      const current = this.get(id);
      const s = parseScenario(yaml, `${current.name}.yaml`);
      const other = db.select().from(scenarios).where(eq(scenarios.name, s.name)).get();
      if (other && other.id !== id)
        throw new AppError('conflict', `A scenario named "${s.name}" is already in the library`, {
          issues: [{ path: 'name', message: `"${s.name}" is taken` }],
        });
      db.update(scenarios)
        .set({ name: s.name, title: s.title, yaml, updatedAt: new Date().toISOString() })
        .where(eq(scenarios.id, id))
        .run();
      audit.record(actor, 'scenario.update', `scenario:${s.name}`);
      return this.get(id);
    },
    delete(actor: Actor, id: string): void {
      const s = this.get(id);
      db.delete(scenarios).where(eq(scenarios.id, id)).run();
      audit.record(actor, 'scenario.delete', `scenario:${s.name}`);
    },
  };
}

export type Library = ReturnType<typeof createLibrary>;

function newId(): string {
  return `s${crypto.randomBytes(5).toString('hex')}`;
}
