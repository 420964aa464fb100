// API tokens for scripts and the CLI: `gd_` + 32 random bytes, shown once; only the SHA-256 is stored.
import crypto from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { apiTokens, users } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import { sha256 } from './sessions.ts';
import type { Role, User } from '../model/user.ts';

export const tokenNameSchema = z.string().trim().min(1, 'give the token a name').max(64, 'at most 64 characters');

export interface TokenInfo {
  id: string;
  userId: string;
  username: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export function createTokens(db: Db, audit: AuditSink) {
  const select = () =>
    db
      .select({
        id: apiTokens.id,
        userId: apiTokens.userId,
        username: users.username,
        name: apiTokens.name,
        prefix: apiTokens.prefix,
        createdAt: apiTokens.createdAt,
        lastUsedAt: apiTokens.lastUsedAt,
      })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId));
  return {
    /** Creates a token; the returned `token` is the only time it is ever visible. */
    create(actor: Actor, userId: string, name: string): { token: string; info: TokenInfo } {
      const token = `gd_${crypto.randomBytes(32).toString('base64url')}`;
      const id = `t${crypto.randomBytes(6).toString('hex')}`;
      db.insert(apiTokens)
        .values({ id, userId, name, tokenHash: sha256(token), prefix: token.slice(0, 9) })
        .run();
      const info = select().where(eq(apiTokens.id, id)).get()!;
      audit.record(actor, 'token.create', `token:${info.prefix}`, `${info.name} for ${info.username}`);
      return { token, info };
    },
    /** Tokens of one user, or of everyone when `userId` is undefined. */
    list(userId?: string): TokenInfo[] {
      const q = select();
      return (userId ? q.where(eq(apiTokens.userId, userId)) : q).orderBy(desc(apiTokens.createdAt)).all();
    },
    get(id: string): TokenInfo {
      const t = select().where(eq(apiTokens.id, id)).get();
      if (!t) throw new AppError('not_found', `API token ${id} does not exist`);
      return t;
    },
    revoke(actor: Actor, id: string): void {
      const t = this.get(id);
      db.delete(apiTokens).where(eq(apiTokens.id, id)).run();
      audit.record(actor, 'token.revoke', `token:${t.prefix}`, t.name);
    },
    /** Revokes every token of a user (password reset, account disabled); returns how many. */
    revokeAllOf(userId: string): number {
      return db.delete(apiTokens).where(eq(apiTokens.userId, userId)).run().changes;
    },
    resolve(token: string): User | undefined {
      const row = db
        .select({ t: apiTokens, u: users })
        .from(apiTokens)
        .innerJoin(users, eq(users.id, apiTokens.userId))
        .where(eq(apiTokens.tokenHash, sha256(token)))
        .get();
      if (!row || row.u.disabled) return undefined;
      const today = new Date().toISOString();
      if (!row.t.lastUsedAt || row.t.lastUsedAt.slice(0, 16) !== today.slice(0, 16))
        db.update(apiTokens).set({ lastUsedAt: today }).where(eq(apiTokens.id, row.t.id)).run();
      return {
        id: row.u.id,
        username: row.u.username,
        role: row.u.role as Role,
        disabled: row.u.disabled,
        createdAt: row.u.createdAt,
      };
    },
  };
}

export type Tokens = ReturnType<typeof createTokens>;
