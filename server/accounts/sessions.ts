// Browser sessions: a random token in an HttpOnly cookie; the database keeps only its SHA-256 and a CSRF token.
// A session ends after `idleMs` without use, and in any case `absoluteMs` after sign-in.
import crypto from 'node:crypto';
import { and, eq, lt, ne, or } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { sessions, users } from '../db/schema.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { Role, User } from '../model/user.ts';

export const sessionLimits = { idleMs: 12 * 3600_000, absoluteMs: 7 * 24 * 3600_000 };

export const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

export interface SessionInfo {
  user: User;
  csrfToken: string;
}

export function createSessions(db: Db, audit: AuditSink) {
  return {
    /** Starts a session; returns the cookie value, shown once. */
    start(userId: string, ip: string): { token: string; csrfToken: string } {
      const token = crypto.randomBytes(32).toString('base64url');
      const csrfToken = crypto.randomBytes(24).toString('base64url');
      const t = Date.now();
      db.insert(sessions)
        .values({
          id: sha256(token),
          userId,
          csrfToken,
          ip,
          lastSeenAt: t,
          absoluteUntil: t + sessionLimits.absoluteMs,
        })
        .run();
      return { token, csrfToken };
    },
    /** The signed-in user of a cookie value, or undefined when it is unknown, expired or the user is disabled. */
    resolve(token: string): SessionInfo | undefined {
      const t = Date.now();
      const row = db
        .select({ s: sessions, u: users })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(sessions.id, sha256(token)))
        .get();
      if (!row) return undefined;
      if (row.u.disabled || row.s.lastSeenAt + sessionLimits.idleMs < t || row.s.absoluteUntil < t) {
        db.delete(sessions).where(eq(sessions.id, row.s.id)).run();
        return undefined;
      }
      // Written at most once a minute: reads of a busy page stay reads.
      if (t - row.s.lastSeenAt > 60_000)
        db.update(sessions).set({ lastSeenAt: t }).where(eq(sessions.id, row.s.id)).run();
      return {
        user: {
          id: row.u.id,
          username: row.u.username,
          role: row.u.role as Role,
          disabled: row.u.disabled,
          createdAt: row.u.createdAt,
        },
        csrfToken: row.s.csrfToken,
      };
    },
    /** Sign-out: ends the session of this cookie value (recorded). */
    end(actor: Actor, token: string): void {
      db.delete(sessions)
        .where(eq(sessions.id, sha256(token)))
        .run();
      audit.record(actor, 'logout', `user:${actor.username}`);
    },
    /** Signs a user out everywhere (password changed, account disabled), but for the session `keepToken`; returns how many ended. */
    endAllOf(userId: string, keepToken?: string): number {
      return db
        .delete(sessions)
        .where(
          keepToken
            ? and(eq(sessions.userId, userId), ne(sessions.id, sha256(keepToken)))
            : eq(sessions.userId, userId),
        )
        .run().changes;
    },
    sweep(): number {
      const t = Date.now();
      return db
        .delete(sessions)
        .where(or(lt(sessions.absoluteUntil, t), lt(sessions.lastSeenAt, t - sessionLimits.idleMs)))
        .run().changes;
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
