// Deployment events: stored in SQLite (so a page that reconnects can replay them) and emitted in-process for live views.
import { EventEmitter } from 'node:events';
import { and, asc, eq, gt } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { events } from '../db/schema.ts';
import type { DeploymentEvent, EventType } from '../model/events.ts';

export function createEventBus(db: Db) {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const insert = db.$client.prepare(
    'INSERT INTO events (deployment_id, at, type, step_key, message) VALUES (?, ?, ?, ?, ?)',
  );

  return {
    publish(deploymentId: string, type: EventType, message: string, stepKey: string | null = null): DeploymentEvent {
      const at = new Date().toISOString();
      const id = Number(insert.run(deploymentId, at, type, stepKey, message).lastInsertRowid);
      const event = { id, deploymentId, at, type, stepKey, message };
      emitter.emit(deploymentId, event);
      emitter.emit('*', event);
      return event;
    },
    /** Stored events after `afterId`, oldest first. */
    history(deploymentId: string, afterId = 0, limit = 10_000): DeploymentEvent[] {
      return db
        .select()
        .from(events)
        .where(and(eq(events.deploymentId, deploymentId), gt(events.id, afterId)))
        .orderBy(asc(events.id))
        .limit(limit)
        .all() as DeploymentEvent[];
    },
    /** Live events of one deployment ('*' for all); returns the unsubscribe function. */
    subscribe(deploymentId: string | '*', listener: (e: DeploymentEvent) => void): () => void {
      emitter.on(deploymentId, listener);
      return () => emitter.off(deploymentId, listener);
    },
  };
}

export type EventBus = ReturnType<typeof createEventBus>;
