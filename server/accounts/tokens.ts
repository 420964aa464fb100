// API tokens for scripts and the CLI: `gd_` + 32 random bytes, shown once; only the SHA-256 is stored.
import crypto from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { apiTokens, users } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { sha256 } from './sessions.ts';
import type { Role, User } from './users.ts';

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

export function createTokens(db: Db) {
  const select = () =>
    db
      .select({ id: apiTokens.id, userId: apiTokens.userId, username: users.username, name: apiTokens.name, prefix: apiTokens.prefix, createdAt: apiTokens.createdAt, lastUsedAt: apiTokens.lastUsedAt })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId));
  return {
    /** Creates a token; the returned `token` is the only time it is ever visible. */
    create(userId: string, name: string): { token: string; info: TokenInfo } {
      const token = `gd_${crypto.randomBytes(32).toString('base64url')}`;
      const id = `t${crypto.randomBytes(6).toString('hex')}`;
      db.insert(apiTokens).values({ id, userId, name, tokenHash: sha256(token), prefix: token.slice(0, 9) }).run();
      return { token, info: select().where(eq(apiTokens.id, id)).get()! };
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
    revoke(id: string, userId?: string): void {
      const r = db.delete(apiTokens).where(userId ? and(eq(apiTokens.id, id), eq(apiTokens.userId, userId)) : eq(apiTokens.id, id)).run();
      if (r.changes === 0) throw new AppError('not_found', `API token ${id} does not exist`);
    },
    resolve(token: string): User | undefined {
      const row = db.select({ t: apiTokens, u: users }).from(apiTokens).innerJoin(users, eq(users.id, apiTokens.userId)).where(eq(apiTokens.tokenHash, sha256(token))).get();
      if (!row || row.u.disabled) return undefined;
      const today = new Date().toISOString();
      if (!row.t.lastUsedAt || row.t.lastUsedAt.slice(0, 16) !== today.slice(0, 16)) db.update(apiTokens).set({ lastUsedAt: today }).where(eq(apiTokens.id, row.t.id)).run();
      return { id: row.u.id, username: row.u.username, role: row.u.role as Role, disabled: row.u.disabled, createdAt: row.u.createdAt };
    },
  };
}

export type Tokens = ReturnType<typeof createTokens>;
