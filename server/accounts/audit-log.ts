// The audit log: every change, who made it, from where, when. Callers pass no secrets; details are short text.
import { desc, lt } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { auditLog } from '../db/schema.ts';
import type { Actor, AuditSink } from '../model/audit.ts';

export type AuditEntry = typeof auditLog.$inferSelect;

export function createAudit(db: Db): AuditSink & { list(limit?: number, before?: number): AuditEntry[] } {
  return {
    record(actor: Actor, action: string, target: string, detail = ''): void {
      db.insert(auditLog)
        .values({
          userId: actor.userId,
          username: actor.username,
          ip: actor.ip,
          action,
          target,
          detail: detail.slice(0, 500),
          at: new Date().toISOString(),
        })
        .run();
    },
    /** Newest first; `before` pages back by id. */
    list(limit = 200, before?: number): AuditEntry[] {
      const q = db.select().from(auditLog);
      return (before ? q.where(lt(auditLog.id, before)) : q).orderBy(desc(auditLog.id)).limit(limit).all();
    },
  };
}

export type Audit = ReturnType<typeof createAudit>;
