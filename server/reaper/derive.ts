// What Reaper derives rather than stores: the random stream a selection draws from (from the recorded seed, so
// a plan can be made again to the same result) and each instance's flag (from the deployment's secret as well).
import crypto from 'node:crypto';

export interface Random {
  /** A whole number in [0, n). */
  below(n: number): number;
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy. */
  shuffle<T>(items: readonly T[]): T[];
}

/**
 * A deterministic stream: HMAC-SHA256 keyed by the seed over the labels and a block counter. Labels separate the
 * streams of different machines, requests and purposes, so adding a request never changes another one's draws.
 */
export function createRandom(seed: string, ...labels: string[]): Random {
  let counter = 0;
  let block = Buffer.alloc(0);
  let used = 0;
  const prefix = `glassdome/reaper/random/v1\0${labels.join('\0')}\0`;
  const uint32 = () => {
    if (used + 4 > block.length) {
      block = crypto.createHmac('sha256', seed).update(`${prefix}${counter++}`).digest();
      used = 0;
    }
    const v = block.readUInt32BE(used);
    used += 4;
    return v;
  };
  const below = (n: number) => {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32)
      throw new RangeError(`below(${n}): expected a whole number from 1 to 2^32`);
    // Rejection sampling: values past the last whole multiple of n would favour the low residues.
    const limit = Math.floor(2 ** 32 / n) * n;
    for (;;) {
      const v = uint32();
      if (v < limit) return v % n;
    }
  };
  return {
    below,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick() from an empty list');
      return items[below(items.length)]!;
    },
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = below(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}

/** A fresh seed for a deployment that records none: 16 hex characters. */
export function newSeed(): string {
  return crypto.randomBytes(8).toString('hex');
}

export const flagPrefix = 'GD';

/**
 * The flag of one module instance: 128 bits of HMAC over the seed and the instance key, under the deployment's
 * secret. Hex only, so it is safe in a shell word, SQL, XML, a URL and a Redis command without quoting.
 */
export function deriveFlag(secret: string, seed: string, instanceKey: string): string {
  const mac = crypto.createHmac('sha256', secret).update(`glassdome/reaper/flag/v1\0${seed}\0${instanceKey}`).digest();
  return `${flagPrefix}{${mac.subarray(0, 16).toString('hex')}}`;
}
