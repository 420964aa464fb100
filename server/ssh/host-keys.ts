// How an SSH connection decides to trust the host it reached: a pinned key fingerprint, or trust on first use with
// the caller recording what it saw. There is no "accept anything": the first-contact policy is always explicit.
import crypto from 'node:crypto';
import { z } from 'zod';

/** OpenSSH's form, as `ssh-keygen -lf` prints it: `SHA256:` and the unpadded base64 of the key blob's SHA-256. */
export const fingerprintSchema = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'an OpenSSH SHA-256 fingerprint: SHA256: and 43 base64 characters');

export type HostKeyPolicy =
  /** Only these keys are accepted (a host may present any one of its keys, by key type). */
  | { mode: 'pinned'; fingerprints: string[] }
  /**
   * Keys recorded earlier are enforced like pins; with none recorded the first key seen is accepted, and only once
   * `remember` has stored it (a failing `remember` refuses the connection, so nothing runs on an unrecorded host).
   */
  | { mode: 'trust-on-first-use'; known: string[]; remember: (fingerprint: string) => void | Promise<void> };

export function hostKeyFingerprint(keyBlob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** What the verifier concluded, kept so a refused handshake can be explained with both fingerprints. */
export type HostKeyVerdict =
  | { state: 'accepted'; fingerprint: string; firstUse: boolean }
  | { state: 'changed'; fingerprint: string; expected: string[] }
  | { state: 'unrecorded'; fingerprint: string; cause: unknown };

/** An ssh2 `hostVerifier` (the two-argument, asynchronous form) and the verdict it reached. */
export function createHostVerifier(policy: HostKeyPolicy): {
  verify: (key: Buffer, done: (ok: boolean) => void) => void;
  verdict: () => HostKeyVerdict | undefined;
} {
  let verdict: HostKeyVerdict | undefined;
  const verify = (key: Buffer, done: (ok: boolean) => void): void => {
    const fingerprint = hostKeyFingerprint(key);
    const expected = policy.mode === 'pinned' ? policy.fingerprints : policy.known;
    if (expected.length > 0 || policy.mode === 'pinned') {
      const ok = expected.includes(fingerprint);
      verdict = ok ? { state: 'accepted', fingerprint, firstUse: false } : { state: 'changed', fingerprint, expected };
      done(ok);
      return;
    }
    Promise.resolve()
      .then(() => policy.remember(fingerprint))
      .then(
        () => {
          verdict = { state: 'accepted', fingerprint, firstUse: true };
          done(true);
        },
        (cause: unknown) => {
          verdict = { state: 'unrecorded', fingerprint, cause };
          done(false);
        },
      );
  };
  return { verify, verdict: () => verdict };
}
