// Machine credentials: per-user passwords derived from the deployment's secret, and SHA-512 crypt hashes of them
// in the `$6$` form that cloud-init, chpasswd and /etc/shadow accept. Same input, same output, so user-data is stable.
import crypto from 'node:crypto';
import { AppError } from '../errors.ts';

/** Letters and digits without the look-alikes 0/O, 1/l/I, so a password read off a screen is typed right. */
export const passwordAlphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
export const passwordLength = 20;

export function derivePassword(secret: string, machineKey: string, user: string): string {
  // 256 bits of HMAC against 56^20 (~2^116) outcomes: the modulo bias of the base conversion is negligible.
  let n = BigInt(`0x${hmac(secret, 'password', machineKey, user).toString('hex')}`);
  const base = BigInt(passwordAlphabet.length);
  let out = '';
  for (let i = 0; i < passwordLength; i++) {
    out += passwordAlphabet[Number(n % base)];
    n /= base;
  }
  return out;
}

/** A 16-character crypt salt, deterministic per (secret, machine, user) and unrelated to the password itself. */
export function deriveSalt(secret: string, machineKey: string, user: string): string {
  const bytes = hmac(secret, 'salt', machineKey, user);
  let out = '';
  for (let i = 0; i < 16; i++) out += cryptAlphabet[bytes[i]! & 0x3f];
  return out;
}

function hmac(secret: string, purpose: string, machineKey: string, user: string): Buffer {
  // NUL separators: no (machineKey, user) pair can be spelled two ways.
  return crypto.createHmac('sha256', secret).update(`glassdome/${purpose}/v1\0${machineKey}\0${user}`).digest();
}

const cryptAlphabet = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const defaultRounds = 5000;

/**
 * SHA-512 crypt as specified by Ulrich Drepper ("Unix crypt using SHA-256 and SHA-512", the algorithm glibc
 * implements). Salts longer than 16 characters are cut to 16; rounds, when given, are clamped to 1000..999999999
 * and written into the hash, as glibc does.
 */
export function hashPassword(plain: string, salt: string, rounds?: number): string {
  const s = salt.slice(0, 16);
  if (!/^[./0-9A-Za-z]+$/.test(s))
    throw new AppError(
      'invalid_input',
      `Unable to hash a password: salt "${salt}" must be 1-16 characters of ./0-9A-Za-z`,
    );
  const r = rounds === undefined ? defaultRounds : Math.min(999_999_999, Math.max(1000, Math.floor(rounds)));
  const P = Buffer.from(plain, 'utf8');
  const S = Buffer.from(s, 'utf8');
  const sha = () => crypto.createHash('sha512');

  const B = sha().update(P).update(S).update(P).digest();
  const a = sha().update(P).update(S);
  a.update(repeatTo(B, P.length));
  for (let len = P.length; len > 0; len >>= 1) a.update(len & 1 ? B : P);
  const A = a.digest();

  const dp = sha();
  for (let i = 0; i < P.length; i++) dp.update(P);
  const Pseq = repeatTo(dp.digest(), P.length);
  const ds = sha();
  for (let i = 0; i < 16 + A[0]!; i++) ds.update(S);
  const Sseq = repeatTo(ds.digest(), S.length);

  // The rounds dominate the cost, and a deployment hashes a password or two per machine: a thousand rounds each. A
  // round's input has one of eight layouts (i odd, i % 3, i % 7), each of a fixed length, so each is hashed whole from
  // its own reused buffer, and the digest is kept as a 64-character latin1 string: one small string per round for the
  // GC, where a digest Buffer and a view of the input cost several objects and a malloc'd block each (bench:deploy).
  let C = A.toString('latin1');
  const layouts: Buffer[] = [];
  for (let i = 0; i < r; i++) {
    const layout = (i & 1) | (i % 3 ? 2 : 0) | (i % 7 ? 4 : 0);
    const input = (layouts[layout] ??= Buffer.allocUnsafe(
      64 + Pseq.length + (i % 3 ? Sseq.length : 0) + (i % 7 ? Pseq.length : 0),
    ));
    let off = i & 1 ? Pseq.copy(input, 0) : input.write(C, 0, 'latin1');
    if (i % 3) off += Sseq.copy(input, off);
    if (i % 7) off += Pseq.copy(input, off);
    if (i & 1) input.write(C, off, 'latin1');
    else Pseq.copy(input, off);
    C = crypto.hash('sha512', input, 'binary'); // 'binary' is Node's other name for latin1
  }
  const digest = Buffer.from(C, 'latin1');

  // The digest's bytes are emitted in the spec's fixed interleaving: groups (i, i+21, i+42) rotated by i mod 3.
  let encoded = '';
  for (let i = 0; i < 21; i++) {
    const g = [digest[i]!, digest[i + 21]!, digest[i + 42]!];
    const k = i % 3;
    encoded += b64From24(g[k]!, g[(k + 1) % 3]!, g[(k + 2) % 3]!, 4);
  }
  encoded += b64From24(0, 0, digest[63]!, 2);
  return `$6$${rounds === undefined ? '' : `rounds=${r}$`}${s}$${encoded}`;
}

function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let off = 0; off < length; off += block.length) block.copy(out, off, 0, Math.min(block.length, length - off));
  return out;
}

function b64From24(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < n; i++) {
    out += cryptAlphabet[w & 0x3f];
    w >>= 6;
  }
  return out;
}
