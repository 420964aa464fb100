// Which process works on a deployment: a lease in its row, renewed by a heartbeat while the run goes on. A process
// killed with kill -9 leaves a lease that simply expires; the next process (or the server's sweep) takes over.
import { and, eq, inArray, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { deployments } from '../../db/schema.ts';

export interface Lease {
  /** This process's name in lease rows: pid and a random suffix. */
  readonly owner: string;
  /** Claims the deployment for this process unless another live process holds it. */
  claim(id: string): boolean;
  release(id: string): void;
  /** Renews the leases of `held()` every third of the lease time while any is held. */
  keepAlive(held: () => string[]): void;
  stop(): void;
}

export function createLease(db: Db, owner: string, leaseMs: number): Lease {
  let heartbeat: NodeJS.Timeout | undefined;
  return {
    owner,
    claim(id) {
      const t = Date.now();
      const r = db
        .update(deployments)
        .set({ leaseOwner: owner, leaseUntil: t + leaseMs })
        .where(
          and(
            eq(deployments.id, id),
            or(isNull(deployments.leaseOwner), eq(deployments.leaseOwner, owner), lt(deployments.leaseUntil, t)),
          ),
        )
        .run();
      return r.changes === 1;
    },
    release(id) {
      db.update(deployments)
        .set({ leaseOwner: null, leaseUntil: null })
        .where(and(eq(deployments.id, id), eq(deployments.leaseOwner, owner)))
        .run();
    },
    keepAlive(held) {
      if (heartbeat) return;
      heartbeat = setInterval(
        () => {
          const ids = held();
          if (ids.length === 0) return;
          db.update(deployments)
            .set({ leaseUntil: Date.now() + leaseMs })
            .where(and(inArray(deployments.id, ids), eq(deployments.leaseOwner, owner)))
            .run();
        },
        Math.max(50, Math.floor(leaseMs / 3)),
      );
      heartbeat.unref();
    },
    stop() {
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
    },
  };
}
