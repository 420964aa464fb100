// Which trainee works in which instance of a deployment: what a trainee may see and touch.
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deploymentAssignments, users } from '../db/schema.ts';
import { AppError } from '../errors.ts';

export function createAssignments(db: Db) {
  return {
    /** Sets the trainees of a deployment's instances (instance -> user id); each user must be a trainee. */
    assign(deploymentId: string, byInstance: Record<number, string>): void {
      const ids = [...new Set(Object.values(byInstance))];
      if (ids.length > 0) {
        const found = db.select({ id: users.id, role: users.role }).from(users).where(inArray(users.id, ids)).all();
        for (const id of ids) {
          const u = found.find((f) => f.id === id);
          if (!u)
            throw new AppError('invalid_input', `User ${id} does not exist`, {
              issues: [{ path: 'assignments', message: `unknown user ${id}` }],
            });
          if (u.role !== 'trainee')
            throw new AppError('invalid_input', `User ${id} is not a trainee`, {
              issues: [{ path: 'assignments', message: 'only trainees are assigned to instances' }],
            });
        }
      }
      db.$client.transaction(() => {
        db.delete(deploymentAssignments).where(eq(deploymentAssignments.deploymentId, deploymentId)).run();
        for (const [instance, userId] of Object.entries(byInstance))
          db.insert(deploymentAssignments)
            .values({ deploymentId, instance: Number(instance), userId })
            .run();
      })();
    },
    /** Sets or clears (null) the trainee of one instance, leaving the others as they are; checked by the caller. */
    setInstance(deploymentId: string, instance: number, userId: string | null): void {
      const where = and(
        eq(deploymentAssignments.deploymentId, deploymentId),
        eq(deploymentAssignments.instance, instance),
      );
      if (userId === null) db.delete(deploymentAssignments).where(where).run();
      else
        db.insert(deploymentAssignments)
          .values({ deploymentId, instance, userId })
          .onConflictDoUpdate({
            target: [deploymentAssignments.deploymentId, deploymentAssignments.instance],
            set: { userId },
          })
          .run();
    },
    /** instance -> username for a deployment. */
    ofDeployment(deploymentId: string): Map<number, { userId: string; username: string }> {
      const rows = db
        .select({ instance: deploymentAssignments.instance, userId: users.id, username: users.username })
        .from(deploymentAssignments)
        .innerJoin(users, eq(users.id, deploymentAssignments.userId))
        .where(eq(deploymentAssignments.deploymentId, deploymentId))
        .all();
      return new Map(rows.map((r) => [r.instance, { userId: r.userId, username: r.username }]));
    },
    /** Instances of a deployment assigned to a user (empty: none). */
    instancesOf(userId: string, deploymentId: string): number[] {
      return db
        .select({ instance: deploymentAssignments.instance })
        .from(deploymentAssignments)
        .where(and(eq(deploymentAssignments.userId, userId), eq(deploymentAssignments.deploymentId, deploymentId)))
        .all()
        .map((r) => r.instance);
    },
    /** Deployment ids where the user has an instance. */
    deploymentsOf(userId: string): string[] {
      return [
        ...new Set(
          db
            .select({ d: deploymentAssignments.deploymentId })
            .from(deploymentAssignments)
            .where(eq(deploymentAssignments.userId, userId))
            .all()
            .map((r) => r.d),
        ),
      ];
    },
  };
}

export type Assignments = ReturnType<typeof createAssignments>;
