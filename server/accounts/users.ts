// Accounts: who may sign in and with which role. Passwords are hashed with argon2id and never leave this module.
import crypto from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { users } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import { roles, type Role, type User } from '../model/user.ts';
import type { Sessions } from './sessions.ts';
import type { Tokens } from './tokens.ts';

export const usernameSchema = z
  .string()
  .trim()
  .min(2, 'at least 2 characters')
  .max(64, 'at most 64 characters')
  .regex(
    /^[a-z0-9][a-z0-9._-]*$/,
    'lowercase letters, digits, dot, dash and underscore; starting with a letter or digit',
  );
export const passwordSchema = z.string().min(10, 'at least 10 characters').max(256, 'at most 256 characters');
export const roleSchema = z.enum(roles);

const toUser = (r: typeof users.$inferSelect): User => ({
  id: r.id,
  username: r.username,
  role: r.role as Role,
  disabled: r.disabled,
  createdAt: r.createdAt,
});

// A hash to verify against when the user does not exist, so a wrong username costs as long as a wrong password.
let dummyHash: Promise<string> | undefined;

export interface UserDeps {
  audit: AuditSink;
  sessions: Sessions;
  tokens: Tokens;
}

export function createUsers(db: Db, deps: UserDeps) {
  const { audit, sessions, tokens } = deps;
  const adminsLeft = (except: string) =>
    (
      db.$client
        .prepare("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?")
        .get(except) as { n: number }
    ).n;
  return {
    count(): number {
      return (db.$client.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
    },
    list(): User[] {
      return db.select().from(users).orderBy(asc(users.username)).all().map(toUser);
    },
    get(id: string): User {
      const r = db.select().from(users).where(eq(users.id, id)).get();
      if (!r) throw new AppError('not_found', `User ${id} does not exist`);
      return toUser(r);
    },
    find(id: string): User | undefined {
      const r = db.select().from(users).where(eq(users.id, id)).get();
      return r ? toUser(r) : undefined;
    },
    async create(actor: Actor, input: { username: string; password: string; role: Role }): Promise<User> {
      if (db.select().from(users).where(eq(users.username, input.username)).get())
        throw new AppError('conflict', `A user named "${input.username}" already exists`, {
          issues: [{ path: 'username', message: 'already taken' }],
        });
      const passwordHash = await hash(input.password);
      const row = db
        .insert(users)
        .values({
          id: `u${crypto.randomBytes(6).toString('hex')}`,
          username: input.username,
          passwordHash,
          role: input.role,
        })
        .returning()
        .get();
      audit.record(actor, 'user.create', `user:${row.username}`, row.role);
      return toUser(row);
    },
    /**
     * An admin changes another account: role, password (a reset), enabled or not. A reset or a disable signs the
     * user out everywhere and revokes their API tokens. Nobody changes their own account here (see changeOwnPassword),
     * and the last enabled admin cannot be demoted or disabled.
     */
    async update(
      actor: Actor,
      id: string,
      input: { role?: Role; password?: string; disabled?: boolean },
    ): Promise<User & { tokensRevoked: number }> {
      const current = this.get(id);
      if (actor.userId === id)
        throw new AppError('conflict', 'Change your own account from another admin account', {
          hint: 'Change your own password in Account; this keeps at least one admin able to sign in.',
        });
      if (
        current.role === 'admin' &&
        ((input.role && input.role !== 'admin') || input.disabled) &&
        adminsLeft(id) === 0
      )
        throw new AppError('conflict', `"${current.username}" is the last enabled admin`, {
          hint: 'Make another user admin first.',
        });
      const set: Partial<typeof users.$inferInsert> = { updatedAt: new Date().toISOString() };
      if (input.role) set.role = input.role;
      if (input.disabled !== undefined) set.disabled = input.disabled;
      if (input.password) set.passwordHash = await hash(input.password);
      db.update(users).set(set).where(eq(users.id, current.id)).run();
      let tokensRevoked = 0;
      if (input.password || input.disabled) {
        sessions.endAllOf(id);
        tokensRevoked = tokens.revokeAllOf(id);
      }
      const what = [
        input.role && `role ${input.role}`,
        input.password && 'password reset',
        input.disabled !== undefined && (input.disabled ? 'disabled' : 'enabled'),
        tokensRevoked > 0 && `${tokensRevoked} API token(s) revoked`,
      ];
      audit.record(actor, 'user.update', `user:${current.username}`, what.filter(Boolean).join(', '));
      return { ...this.get(id), tokensRevoked };
    },
    /** A user changes their own password, proving the current one; their other sessions end. */
    async changeOwnPassword(actor: Actor, current: string, next: string, keepSessionToken?: string): Promise<void> {
      if (!actor.userId) throw new AppError('forbidden', 'Only a signed-in user can change their password');
      const r = db.select().from(users).where(eq(users.id, actor.userId)).get();
      if (!r) throw new AppError('not_found', `User ${actor.userId} does not exist`);
      if (!(await verify(r.passwordHash, current).catch(() => false))) {
        audit.record(actor, 'user.password_rejected', `user:${r.username}`, 'wrong current password');
        throw new AppError('invalid_input', 'The current password is wrong', {
          issues: [{ path: 'current', message: 'this is not your current password' }],
        });
      }
      if (current === next)
        throw new AppError('invalid_input', 'The new password is the current one', {
          issues: [{ path: 'password', message: 'choose a different password' }],
        });
      db.update(users)
        .set({ passwordHash: await hash(next), updatedAt: new Date().toISOString() })
        .where(eq(users.id, r.id))
        .run();
      const ended = sessions.endAllOf(r.id, keepSessionToken);
      audit.record(
        actor,
        'user.password',
        `user:${r.username}`,
        `own password changed; ${ended} other session(s) ended`,
      );
    },
    delete(actor: Actor, id: string): void {
      if (actor.userId === id) throw new AppError('conflict', 'You cannot remove your own account');
      const u = this.get(id);
      if (u.role === 'admin' && adminsLeft(id) === 0)
        throw new AppError('conflict', `"${u.username}" is the last enabled admin`, {
          hint: 'Make another user admin first.',
        });
      db.delete(users).where(eq(users.id, id)).run();
      audit.record(actor, 'user.delete', `user:${u.username}`);
    },
    /** Sign-in: the user, or undefined for a wrong name or password (recorded either way). */
    async signIn(actor: Actor, username: string, password: string): Promise<User | undefined> {
      const user = await this.verifyLogin(username, password);
      if (user) audit.record({ ...actor, userId: user.id, username: user.username }, 'login', `user:${user.username}`);
      else audit.record({ ...actor, username }, 'login.failed', `user:${username}`);
      return user;
    },
    /** The user whose password this is, or undefined; takes as long for an unknown name as for a wrong password. */
    async verifyLogin(username: string, password: string): Promise<User | undefined> {
      const r = db.select().from(users).where(eq(users.username, username.trim().toLowerCase())).get();
      if (!r) {
        await verify(await (dummyHash ??= hash(crypto.randomBytes(16).toString('hex'))), password).catch(() => false);
        return undefined;
      }
      const ok = await verify(r.passwordHash, password).catch(() => false);
      return ok && !r.disabled ? toUser(r) : undefined;
    },
  };
}

export type Users = ReturnType<typeof createUsers>;
