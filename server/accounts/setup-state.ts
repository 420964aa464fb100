// First-boot state: until setup is complete the appliance only opens its wizard, and only with a one-time code
// printed at start-up and written to an owner-only file in the data folder. Only the code's SHA-256 is stored.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { settings } from '../db/schema.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import { sha256 } from './sessions.ts';

const keys = { completed: 'setup.completed', codeHash: 'setup.code_hash' } as const;

export const setupCodeFile = (dataDir: string) => path.join(dataDir, 'setup-code.txt');

export function createSetup(db: Db, audit: AuditSink) {
  const get = (key: string) => db.select().from(settings).where(eq(settings.key, key)).get()?.value;
  const put = (key: string, value: string) =>
    db.insert(settings).values({ key, value }).onConflictDoUpdate({ target: settings.key, set: { value } }).run();
  return {
    isComplete(): boolean {
      return get(keys.completed) !== undefined;
    },
    /** A new code (XXXX-XXXX-XXXX), replacing any earlier one; returns it for printing. */
    issueCode(): string {
      const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
      const raw = Array.from(crypto.randomBytes(12), (b) => alphabet[b % alphabet.length]).join('');
      const code = `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8)}`;
      put(keys.codeHash, sha256(code));
      return code;
    },
    /** Whether `code` is the current one (case and spaces forgiven); compared in constant time. */
    checkCode(actor: Actor, code: string): boolean {
      const stored = get(keys.codeHash);
      const given = sha256(code.trim().toUpperCase().replace(/\s+/g, ''));
      const ok = stored !== undefined && crypto.timingSafeEqual(Buffer.from(stored), Buffer.from(given));
      if (!ok) audit.record(actor, 'setup.code_rejected', 'setup');
      return ok;
    },
    /** The code is used up once the admin account exists. */
    consumeCode(): void {
      db.delete(settings).where(eq(settings.key, keys.codeHash)).run();
    },
    complete(actor: Actor): void {
      put(keys.completed, new Date().toISOString());
      db.delete(settings).where(eq(settings.key, keys.codeHash)).run();
      audit.record(actor, 'setup.complete', 'appliance');
    },
  };
}

export type Setup = ReturnType<typeof createSetup>;

/** Writes the code where only the appliance's owner can read it. */
export function writeSetupCodeFile(dataDir: string, code: string): string {
  const file = setupCodeFile(dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, `${code}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}

export function removeSetupCodeFile(dataDir: string): void {
  try {
    fs.rmSync(setupCodeFile(dataDir), { force: true });
  } catch {
    // A read-only or missing data folder (tests) has no file to remove.
  }
}
