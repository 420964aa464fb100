// The findings table: each problem a check reports is one open row per subject and kind, seen again and again until
// a sweep that looked no longer reports it, which resolves it. Fixes record their state on the row.
import { and, desc, eq, inArray, lt } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { findings } from '../db/schema.ts';
import type { Finding, FindingKind, FixState } from '../model/overseer.ts';

/** What a check reports: a finding before it has a row. */
export interface FindingDraft {
  kind: FindingKind;
  platformId: string;
  deploymentId: string | null;
  machineKey: string | null;
  resourceName: string;
  externalId: string | null;
  message: string;
}

export function fingerprintOf(
  d: Pick<FindingDraft, 'kind' | 'platformId' | 'deploymentId' | 'machineKey' | 'resourceName' | 'externalId'>,
): string {
  const subject = d.machineKey ? `${d.deploymentId}/${d.machineKey}` : `${d.resourceName}#${d.externalId ?? ''}`;
  return `${d.kind}|${d.platformId}|${subject}`;
}

function toFinding(r: typeof findings.$inferSelect): Finding {
  return {
    id: r.id,
    kind: r.kind as FindingKind,
    platformId: r.platformId,
    deploymentId: r.deploymentId,
    machineKey: r.machineKey,
    resourceName: r.resourceName,
    externalId: r.externalId,
    message: r.message,
    state: r.state as Finding['state'],
    firstSeenAt: r.firstSeenAt,
    lastSeenAt: r.lastSeenAt,
    resolvedAt: r.resolvedAt,
    fix: { state: r.fixState as FixState, attempts: r.fixAttempts, at: r.fixAt, detail: r.fixDetail },
  };
}

export function createFindings(db: Db) {
  return {
    /**
     * Records what a sweep saw. `drafts` are the problems it found; `covers` says which open findings it looked at
     * (by kind, platform and deployment): those it no longer reports are resolved. Returns what opened and closed.
     */
    sync(
      drafts: FindingDraft[],
      covers: { kinds: readonly FindingKind[]; platformIds: string[]; deploymentIds?: Set<string> },
      at: string,
    ): { opened: Finding[]; resolved: Finding[]; open: Finding[] } {
      const opened: Finding[] = [];
      const resolved: Finding[] = [];
      const open: Finding[] = [];
      db.$client.transaction(() => {
        const existing = new Map(
          db
            .select()
            .from(findings)
            .where(
              and(
                eq(findings.state, 'open'),
                inArray(findings.kind, [...covers.kinds]),
                inArray(findings.platformId, covers.platformIds),
              ),
            )
            .all()
            .map((r) => [r.fingerprint, r]),
        );
        const seen = new Set<string>();
        for (const d of drafts) {
          const fingerprint = fingerprintOf(d);
          if (seen.has(fingerprint)) continue;
          seen.add(fingerprint);
          const row = existing.get(fingerprint);
          if (row) {
            const updated = db
              .update(findings)
              .set({ lastSeenAt: at, message: d.message, externalId: d.externalId })
              .where(eq(findings.id, row.id))
              .returning()
              .get();
            open.push(toFinding(updated));
          } else {
            const inserted = db
              .insert(findings)
              .values({ fingerprint, ...d, state: 'open', firstSeenAt: at, lastSeenAt: at })
              .returning()
              .get();
            opened.push(toFinding(inserted));
            open.push(toFinding(inserted));
          }
        }
        for (const [fingerprint, row] of existing) {
          if (seen.has(fingerprint)) continue;
          if (covers.deploymentIds && row.deploymentId !== null && !covers.deploymentIds.has(row.deploymentId))
            continue;
          const done = db
            .update(findings)
            .set({ state: 'resolved', resolvedAt: at })
            .where(eq(findings.id, row.id))
            .returning()
            .get();
          resolved.push(toFinding(done));
        }
      })();
      return { opened, resolved, open };
    },
    get(id: number): Finding | undefined {
      const r = db.select().from(findings).where(eq(findings.id, id)).get();
      return r ? toFinding(r) : undefined;
    },
    /** Open findings first, newest first; `deploymentId` narrows to one deployment. */
    list(
      filter: { state?: 'open' | 'resolved'; deploymentId?: string; kind?: FindingKind; limit?: number } = {},
    ): Finding[] {
      const where = [
        filter.state ? eq(findings.state, filter.state) : undefined,
        filter.deploymentId ? eq(findings.deploymentId, filter.deploymentId) : undefined,
        filter.kind ? eq(findings.kind, filter.kind) : undefined,
      ].filter((x) => x !== undefined);
      return db
        .select()
        .from(findings)
        .where(where.length > 0 ? and(...where) : undefined)
        .orderBy(desc(findings.lastSeenAt), desc(findings.id))
        .limit(filter.limit ?? 500)
        .all()
        .map(toFinding);
    },
    /** Open findings of one kind in a deployment (a fix that handles several machines at once). */
    openOf(deploymentId: string, kind: FindingKind): Finding[] {
      return db
        .select()
        .from(findings)
        .where(and(eq(findings.state, 'open'), eq(findings.deploymentId, deploymentId), eq(findings.kind, kind)))
        .all()
        .map(toFinding);
    },
    setFix(id: number, state: FixState, detail: string, at: string, attempted: boolean): void {
      const row = db.select({ n: findings.fixAttempts }).from(findings).where(eq(findings.id, id)).get();
      if (!row) return;
      db.update(findings)
        .set({ fixState: state, fixDetail: detail.slice(0, 1000), fixAt: at, fixAttempts: row.n + (attempted ? 1 : 0) })
        .where(eq(findings.id, id))
        .run();
    },
    /** Drops findings resolved before `before`; returns how many. */
    prune(before: string): number {
      return db
        .delete(findings)
        .where(and(eq(findings.state, 'resolved'), lt(findings.resolvedAt, before)))
        .run().changes;
    },
  };
}

export type Findings = ReturnType<typeof createFindings>;
