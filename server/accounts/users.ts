// Accounts: who may sign in and with which role. Passwords are hashed with argon2id and never leave this module.
import crypto from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { users } from '../db/schema.ts';
import { AppError } from '../errors.ts';

export const roles = ['admin', 'instructor', 'trainee'] as const;
export type Role = (typeof roles)[number];

export const usernameSchema = z
  .string()
  .trim()
  .min(2, 'at least 2 characters')
  .max(64, 'at most 64 characters')
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, dot, dash and underscore; starting with a letter or digit');
export const passwordSchema = z.string().min(10, 'at least 10 characters').max(256, 'at most 256 characters');
export const roleSchema = z.enum(roles);

export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

const toUser = (r: typeof users.$inferSelect): User => ({ id: r.id, username: r.username, role: r.role as Role, disabled: r.disabled, createdAt: r.createdAt });

// A hash to verify against when the user does not exist, so a wrong username costs as long as a wrong password.
let dummyHash: Promise<string> | undefined;

export function createUsers(db: Db) {
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
    async create(input: { username: string; password: string; role: Role }): Promise<User> {
      if (db.select().from(users).where(eq(users.username, input.username)).get())
        throw new AppError('conflict', `A user named "${input.username}" already exists`, { issues: [{ path: 'username', message: 'already taken' }] });
      const passwordHash = await hash(input.password);
      const row = db.insert(users).values({ id: `u${crypto.randomBytes(6).toString('hex')}`, username: input.username, passwordHash, role: input.role }).returning().get();
      return toUser(row);
    },
    async update(id: string, input: { role?: Role; password?: string; disabled?: boolean }): Promise<User> {
      const current = this.get(id);
      const set: Partial<typeof users.$inferInsert> = { updatedAt: new Date().toISOString() };
      if (input.role) set.role = input.role;
      if (input.disabled !== undefined) set.disabled = input.disabled;
      if (input.password) set.passwordHash = await hash(input.password);
      db.update(users).set(set).where(eq(users.id, current.id)).run();
      return this.get(id);
    },
    delete(id: string): void {
      db.delete(users).where(eq(users.id, id)).run();
    },
    /** The user whose password this is, or undefined; takes as long for an unknown name as for a wrong password. */
    async verifyLogin(username: string, password: string): Promise<User | undefined> {
      const r = db.select().from(users).where(eq(users.username, username.trim().toLowerCase())).get();
      if (!r) {
        await verify((await (dummyHash ??= hash(crypto.randomBytes(16).toString('hex')))), password).catch(() => false);
        return undefined;
      }
      const ok = await verify(r.passwordHash, password).catch(() => false);
      return ok && !r.disabled ? toUser(r) : undefined;
    },
  };
}

export type Users = ReturnType<typeof createUsers>;
