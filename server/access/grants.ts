// Short-lived, single-use links to a console or terminal: issued to a signed-in user for one machine after every
// check, redeemed once by the WebSocket that opens it (by the same user, for the same machine). Kept in memory: the
// socket opens on the process that issued the link, within a minute.
import crypto from 'node:crypto';
import { AppError } from '../errors.ts';

export type AccessKind = 'console' | 'terminal';

export interface Grant {
  kind: AccessKind;
  userId: string;
  deploymentId: string;
  machineKey: string;
  expiresAt: number;
}

const hash = (token: string) => crypto.createHash('sha256').update(token).digest('base64url');

export function createGrants(o: { ttlMs?: number; max?: number } = {}) {
  const ttlMs = o.ttlMs ?? 60_000;
  const max = o.max ?? 10_000;
  const grants = new Map<string, Grant>();

  function sweep(now: number) {
    for (const [k, g] of grants) if (g.expiresAt <= now) grants.delete(k);
  }

  return {
    ttlMs,
    /** A new link token (shown once); only its hash is kept. */
    issue(g: Omit<Grant, 'expiresAt'>): { token: string; expiresAt: number } {
      const now = Date.now();
      sweep(now);
      if (grants.size >= max)
        throw new AppError('rate_limited', 'Too many console and terminal links are waiting to be opened', {
          hint: 'Wait a minute and open it again.',
        });
      const token = crypto.randomBytes(32).toString('base64url');
      const expiresAt = now + ttlMs;
      grants.set(hash(token), { ...g, expiresAt });
      return { token, expiresAt };
    },
    /** Takes the link (it cannot be used again) and checks it is this user's, for this machine, and still valid. */
    redeem(token: string, want: Omit<Grant, 'expiresAt'>): Grant {
      const key = hash(token);
      const g = grants.get(key);
      grants.delete(key);
      if (!g || g.expiresAt <= Date.now())
        // Not `unauthorized`: the viewer is signed in; this link is spent.
        throw new AppError('forbidden', `The ${want.kind} link has expired or was already used`, {
          hint: `Open the ${want.kind} again from the machine page.`,
        });
      if (
        g.kind !== want.kind ||
        g.userId !== want.userId ||
        g.deploymentId !== want.deploymentId ||
        g.machineKey !== want.machineKey
      )
        throw new AppError('forbidden', `The ${want.kind} link is for another user or machine`);
      return g;
    },
    get size() {
      return grants.size;
    },
  };
}

export type Grants = ReturnType<typeof createGrants>;
