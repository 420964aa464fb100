// Seals secrets at rest with AES-256-GCM under the appliance key, a random 32-byte file in the data folder (owner-only).
// Sealed text is `v1.<iv>.<tag>.<ciphertext>` in base64url; opening with the wrong key or altered text throws.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from './errors.ts';

export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new AppError('internal', `The appliance key must be 32 bytes, not ${key.length}`);
  return {
    seal(plain) {
      const iv = crypto.randomBytes(12);
      const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [
        'v1',
        iv.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
        body.toString('base64url'),
      ].join('.');
    },
    open(sealed) {
      const [v, iv, tag, body] = sealed.split('.');
      if (v !== 'v1' || !iv || !tag || body === undefined)
        throw new AppError('internal', 'A sealed secret is malformed');
      try {
        const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new AppError('internal', 'A sealed secret cannot be opened with this appliance key', {
          cause,
          hint: 'The key file in the data folder was replaced or the database copied from another appliance.',
        });
      }
    },
  };
}

/** Reads the key file, creating it (mode 0600) on first start. */
export function loadOrCreateKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'appliance.key');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    const key = fs.readFileSync(file);
    if (key.length === 32) return key;
    throw new AppError('internal', `The appliance key ${file} is ${key.length} bytes, expected 32`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const key = crypto.randomBytes(32);
  fs.writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
  return key;
}
