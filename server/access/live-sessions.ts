// Open console and terminal sessions of this process: each is recorded in the audit log when it opens and when it
// ends (who, which machine, from when to when, why it ended), and is re-checked every second while open: a session
// whose viewer signed out, lost the role or the machine, or whose deployment is being destroyed is closed.
import crypto from 'node:crypto';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { AccessKind } from './grants.ts';

export interface LiveSessionSpec {
  kind: AccessKind;
  actor: Actor;
  deploymentId: string;
  machineKey: string;
  /** Why the session must end now, or undefined while it may go on. Called every `checkEveryMs`. */
  check(): string | undefined;
  /** Closes the session's sockets, saying why; called once. */
  close(reason: string): void;
}

export interface LiveSession {
  id: string;
  kind: AccessKind;
  username: string;
  userId: string | null;
  deploymentId: string;
  machineKey: string;
  startedAt: string;
}

export function createLiveSessions(audit: AuditSink, o: { checkEveryMs?: number } = {}) {
  const checkEveryMs = o.checkEveryMs ?? 1000;
  const open = new Map<string, { info: LiveSession; spec: LiveSessionSpec; started: number }>();
  let timer: NodeJS.Timeout | undefined;

  function end(id: string, reason: string): void {
    const s = open.get(id);
    if (!s) return;
    open.delete(id);
    if (open.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
    const ended = new Date();
    const secs = Math.round((ended.getTime() - s.started) / 1000);
    audit.record(
      s.spec.actor,
      `${s.info.kind}.close`,
      `machine:${s.info.deploymentId}/${s.info.machineKey}`,
      `${s.info.kind} session from ${s.info.startedAt} to ${ended.toISOString()} (${secs} s): ${reason}`,
    );
    try {
      s.spec.close(reason);
    } catch {
      // A socket that is already gone has nothing left to close.
    }
  }

  function sweep(): void {
    for (const [id, s] of [...open]) {
      let why: string | undefined;
      try {
        why = s.spec.check();
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
      }
      if (why) end(id, why);
    }
  }

  return {
    /** Registers an open session (audited); `end` closes it with a reason, once. */
    add(spec: LiveSessionSpec): { id: string; end(reason: string): void } {
      const id = crypto.randomBytes(9).toString('base64url');
      const started = Date.now();
      const info: LiveSession = {
        id,
        kind: spec.kind,
        username: spec.actor.username,
        userId: spec.actor.userId,
        deploymentId: spec.deploymentId,
        machineKey: spec.machineKey,
        startedAt: new Date(started).toISOString(),
      };
      open.set(id, { info, spec, started });
      audit.record(
        spec.actor,
        `${spec.kind}.open`,
        `machine:${spec.deploymentId}/${spec.machineKey}`,
        `from ${spec.actor.ip}`,
      );
      if (!timer) {
        timer = setInterval(sweep, checkEveryMs);
        timer.unref();
      }
      return { id, end: (reason) => end(id, reason) };
    },
    list(): LiveSession[] {
      return [...open.values()].map((s) => s.info);
    },
    /** Runs the checks now (after a sign-out, a role change, a destroy) instead of at the next tick. */
    sweep,
    /** Ends every session (the process is stopping). */
    endAll(reason: string): void {
      for (const id of [...open.keys()]) end(id, reason);
    },
  };
}

export type LiveSessions = ReturnType<typeof createLiveSessions>;
