import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import {
  derivePassword,
  deriveSalt,
  hashPassword,
  passwordAlphabet,
  passwordLength,
} from '../../server/agents/credentials.ts';
import { AppError } from '../../server/errors.ts';
import { probe } from './lab-plan.ts';

// The test vectors published with Drepper's specification ("Unix crypt using SHA-256 and SHA-512").
const vectors: Array<{ salt: string; rounds?: number; key: string; hash: string }> = [
  {
    salt: 'saltstring',
    key: 'Hello world!',
    hash: '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  },
  {
    salt: 'saltstringsaltstring',
    rounds: 10000,
    key: 'Hello world!',
    hash: '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  },
  {
    salt: 'toolongsaltstring',
    rounds: 5000,
    key: 'This is just a test',
    hash: '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0',
  },
  {
    salt: 'anotherlongsaltstring',
    rounds: 1400,
    key: 'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    hash: '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
  },
  {
    salt: 'short',
    rounds: 77777,
    key: 'we have a short salt string but not a short password',
    hash: '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0',
  },
  {
    salt: 'asaltof16chars..',
    rounds: 123456,
    key: 'a short string',
    hash: '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1',
  },
  {
    salt: 'roundstoolow',
    rounds: 10,
    key: 'the minimum number is still observed',
    hash: '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.',
  },
];

describe('hashPassword (SHA-512 crypt)', () => {
  for (const v of vectors) {
    it(`matches the specification's vector for salt "${v.salt}"${v.rounds === undefined ? '' : ` and rounds=${v.rounds}`}`, () => {
      expect(hashPassword(v.key, v.salt, v.rounds)).toBe(v.hash);
    });
  }

  it('hashes the empty password as glibc crypt(3) does', () => {
    expect(hashPassword('', 'abc')).toBe(
      '$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD.',
    );
  });

  it('rejects a salt with characters crypt does not allow', () => {
    expect(() => hashPassword('x', 'bad$salt')).toThrow(AppError);
    expect(() => hashPassword('x', '')).toThrow(AppError);
  });

  // OpenSSL's implementation is independent of ours: compare on passwords longer than one digest (64 bytes),
  // of exactly 64 bytes, empty, and with multi-byte UTF-8, which exercise every branch of the algorithm.
  const openssl = probe('openssl', ['version']);
  if (!openssl.has) console.warn(`skipping the OpenSSL cross-check: ${openssl.why}`);
  it.skipIf(!openssl.has)('agrees with `openssl passwd -6` on edge-case passwords', () => {
    for (const [plain, salt] of [
      ['x'.repeat(64), 'abc'],
      ['y'.repeat(150), 'ABCDEFGHIJKLMNOP'],
      ['pässwörd ✓ 密码', 'uni.code/'],
    ] as const) {
      const r = spawnSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], {
        input: `${plain}\n`,
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      expect(hashPassword(plain, salt)).toBe(r.stdout.trim());
    }
  });
});

describe('derivePassword', () => {
  it('gives the same password for the same secret, machine and user', () => {
    expect(derivePassword('s3cret', 'i1.web', 'alice')).toBe(derivePassword('s3cret', 'i1.web', 'alice'));
  });

  it('is 20 characters of the unambiguous alphabet, without 0, O, 1, l or I', () => {
    for (let i = 0; i < 200; i++) {
      const p = derivePassword(`secret-${i}`, `i${i}.m`, 'u');
      expect(p).toHaveLength(passwordLength);
      expect(p).toMatch(/^[A-HJ-NP-Za-km-z2-9]{20}$/);
      for (const c of p) expect(passwordAlphabet).toContain(c);
    }
  });

  it('differs when the secret, the machine or the user differs, and cannot be confused across fields', () => {
    const base = derivePassword('s', 'i1.web', 'alice');
    expect(derivePassword('t', 'i1.web', 'alice')).not.toBe(base);
    expect(derivePassword('s', 'i2.web', 'alice')).not.toBe(base);
    expect(derivePassword('s', 'i1.web', 'bob')).not.toBe(base);
    expect(derivePassword('s', 'a', 'bc')).not.toBe(derivePassword('s', 'ab', 'c'));
  });

  it('uses the whole alphabet over many passwords (no stuck digits)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) for (const c of derivePassword('s', `m${i}`, 'u')) seen.add(c);
    expect(seen.size).toBe(passwordAlphabet.length);
  });
});

describe('deriveSalt', () => {
  it('is deterministic, 16 crypt characters, and not derived from the password', () => {
    const salt = deriveSalt('s', 'i1.web', 'alice');
    expect(salt).toBe(deriveSalt('s', 'i1.web', 'alice'));
    expect(salt).toMatch(/^[./0-9A-Za-z]{16}$/);
    expect(deriveSalt('s', 'i1.web', 'bob')).not.toBe(salt);
    expect(deriveSalt('t', 'i1.web', 'alice')).not.toBe(salt);
    expect(salt).not.toBe(derivePassword('s', 'i1.web', 'alice').slice(0, 16));
  });
});
