// Who did something, for the audit log, and the one method the domain records it with. Every domain operation that
// changes something takes the actor and records itself, so the web, the API, the CLI and the overseer are all audited.
import os from 'node:os';

export interface Actor {
  userId: string | null;
  /** A user name, `cli:<os user>` for the local command line, `overseer` for the appliance's own jobs. */
  username: string;
  /** The client address, or `local`. */
  ip: string;
}

export interface AuditSink {
  /** Records one action; callers pass no secrets, `detail` is short text. */
  record(actor: Actor, action: string, target: string, detail?: string): void;
}

/** The local command line, acting as whoever runs it. */
export function cliActor(): Actor {
  let name = 'unknown';
  try {
    name = os.userInfo().username;
  } catch {
    // No passwd entry for this uid (containers): the uid alone still says who.
    name = String(process.getuid?.() ?? 'unknown');
  }
  return { userId: null, username: `cli:${name}`, ip: 'local' };
}

/** The appliance's own background work (resuming, the overseer). */
export const systemActor: Actor = { userId: null, username: 'glassdome', ip: 'local' };

/** The overseer's own jobs (health, drift, auto-fix, idle shutdown, expiry): its actions are audited with their reason. */
export const overseerActor: Actor = { userId: null, username: 'overseer', ip: 'local' };
