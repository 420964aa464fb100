// Shared SSH connections: one per host, user and path, reused by callers that overlap and closed after an idle time.
// A jump host (the range router) is itself pooled, so many machines behind one router share one session to it.
import { connectSsh, type SshConnectOptions, type SshConnection, type SshTarget } from './connection.ts';

export interface SshPool {
  /** Runs `fn` on a pooled connection to `target`, opening it (and its jump hosts) when there is none. */
  run<T>(
    target: SshTarget,
    fn: (conn: SshConnection) => Promise<T>,
    o?: Pick<SshConnectOptions, 'signal' | 'onRetry'>,
  ): Promise<T>;
  /** Open connections, jump hosts included. */
  readonly size: number;
  /** Closes every connection; later `run` calls open new ones. */
  close(): Promise<void>;
}

interface Entry {
  conn: Promise<SshConnection>;
  users: number;
  idle?: NodeJS.Timeout;
  /** The pooled jump host this connection goes through, released when this one closes. */
  release?: () => void;
}

export function poolKey(t: SshTarget): string {
  return `${t.credentials.username}@${t.host}:${t.port ?? 22}${t.via ? ` via ${poolKey(t.via)}` : ''}`;
}

export function createSshPool(
  o: { idleMs?: number; connect?: Omit<SshConnectOptions, 'signal' | 'jump' | 'onRetry'> } = {},
): SshPool {
  const idleMs = o.idleMs ?? 60_000;
  const entries = new Map<string, Entry>();

  function acquire(
    target: SshTarget,
    co: Pick<SshConnectOptions, 'signal' | 'onRetry'>,
  ): { entry: Entry; key: string } {
    const key = poolKey(target);
    const existing = entries.get(key);
    if (existing) {
      existing.users++;
      clearTimeout(existing.idle);
      return { entry: existing, key };
    }
    const entry: Entry = { users: 1, conn: undefined as unknown as Promise<SshConnection> };
    entry.conn = (async () => {
      let jump: SshConnection | undefined;
      if (target.via) {
        const j = acquire(target.via, co);
        try {
          jump = await j.entry.conn;
        } catch (e) {
          releaseEntry(j.key, j.entry);
          throw e;
        }
        entry.release = () => releaseEntry(j.key, j.entry);
      }
      try {
        const conn = await connectSsh(target, { ...o.connect, ...co, ...(jump ? { jump } : {}) });
        conn.onClose(() => {
          if (entries.get(key) === entry) entries.delete(key);
          clearTimeout(entry.idle);
          entry.release?.();
          entry.release = undefined;
        });
        return conn;
      } catch (e) {
        entry.release?.();
        entry.release = undefined;
        throw e;
      }
    })();
    entries.set(key, entry);
    // A failed connect leaves nothing behind: the next caller tries afresh.
    entry.conn.catch(() => {
      if (entries.get(key) === entry) entries.delete(key);
    });
    return { entry, key };
  }

  function releaseEntry(key: string, entry: Entry): void {
    entry.users--;
    if (entry.users > 0) return;
    clearTimeout(entry.idle);
    entry.idle = setTimeout(() => {
      if (entries.get(key) === entry) entries.delete(key);
      entry.conn.then(
        (c) => c.close(),
        () => {},
      );
    }, idleMs);
    entry.idle.unref();
  }

  return {
    async run(target, fn, co = {}) {
      for (let round = 0; ; round++) {
        const { entry, key } = acquire(target, co);
        let conn: SshConnection;
        try {
          conn = await entry.conn;
        } catch (e) {
          releaseEntry(key, entry);
          throw e;
        }
        if (!conn.isOpen && round === 0) {
          // Closed under us (keepalive, a reboot): drop it and open one fresh connection.
          if (entries.get(key) === entry) entries.delete(key);
          releaseEntry(key, entry);
          continue;
        }
        try {
          return await fn(conn);
        } finally {
          releaseEntry(key, entry);
        }
      }
    },
    get size() {
      return entries.size;
    },
    async close() {
      const all = [...entries.values()];
      entries.clear();
      for (const e of all) clearTimeout(e.idle);
      await Promise.all(
        all.map((e) =>
          e.conn.then(
            (c) => c.close(),
            () => {},
          ),
        ),
      );
    },
  };
}
