// A web terminal: SSH from the appliance to a Linux lab machine, through the instance's range router when the machine
// sits on an isolated network (the router's uplink address is the jump host), as the machine's first user with the
// password derived from the deployment's secret. Host keys are trusted on first use and pinned in the database after.
// The browser sends keystrokes (binary) and resizes (JSON text); it gets the terminal's bytes back, never a secret.
import { eq } from 'drizzle-orm';
import type WebSocket from 'ws';
import type { Db } from '../db/client.ts';
import { deployments } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import { osCatalog } from '../model/catalog.ts';
import { machinePasswords } from '../orchestrator/passwords.ts';
import { knownHostKeys } from '../orchestrator/ssh-targets.ts';
import type { Platform } from '../platforms/platform.ts';
import type { SecretBox } from '../secret-box.ts';
import type { SshConnection, SshShell, SshTarget } from '../ssh/connection.ts';
import { findTarget, requireReachable, routerOf, uplinkAddress, type AccessTarget } from './targets.ts';

export interface TerminalOptions {
  /** A terminal nobody types in for this long is closed (default 30 min). */
  idleMs?: number;
  /** Per SSH connection attempt (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Where the appliance dials for a machine address and port 22. Identity by default; a test maps lab addresses to
   * SSH servers on 127.0.0.1, an appliance behind NAT to its forwarded ports.
   */
  route?: (host: string, port: number) => { host: string; port: number };
}

/** Refuses what has no SSH terminal: Windows machines. */
export function requireLinux(t: AccessTarget): void {
  const os = osCatalog[t.machine.os];
  if (os?.family === 'windows')
    throw new AppError(
      'invalid_input',
      `Unable to open a terminal on "${t.machine.key}": it runs ${os.title}, and the web terminal is SSH to Linux machines`,
      { hint: 'Use its console instead.' },
    );
}

/** The SSH target of a machine: its first user, its address, and the router to jump through when it has one. */
export async function terminalTarget(
  deps: { db: Db; box: SecretBox; platform: Platform },
  t: AccessTarget,
  o: TerminalOptions & { signal?: AbortSignal },
): Promise<SshTarget> {
  requireReachable(t, 'terminal');
  requireLinux(t);
  const { db, box, platform } = deps;
  const d = db
    .select({ secret: deployments.secret, yaml: deployments.scenarioYaml })
    .from(deployments)
    .where(eq(deployments.id, t.deploymentId))
    .get()!;
  const secret = box.open(d.secret);
  const route = o.route ?? ((host: string, port: number) => ({ host, port }));
  const targetOf = (m: AccessTarget['machine'], host: string): SshTarget => {
    const user = m.users[0]!;
    const dial = route(host, 22);
    return {
      name: m.resourceName,
      host: dial.host,
      port: dial.port,
      credentials: { username: user.name, password: machinePasswords(m, secret, d.yaml)[user.name]! },
      hostKey: knownHostKeys(db, t.deploymentId, m.key),
    };
  };
  const found = routerOf(t.plan, t.machine.instance);
  // A cloud's range router takes no SSH from the appliance: there the machine is dialled directly too.
  const router = found?.router?.cloud ? undefined : found;
  if (!router) {
    // No router (clouds, a single network): the machine is dialled directly at its recorded or planned address.
    const host = t.addresses[0] ?? t.machine.nics.find((n) => n.ip)?.ip;
    if (!host)
      throw new AppError('conflict', `Unable to open a terminal on "${t.machine.key}": it has reported no address yet`);
    return targetOf(t.machine, host);
  }
  const rt = findTarget(db, t.deploymentId, router.key);
  let uplink = uplinkAddress(router, rt.addresses);
  if (!uplink && rt.ref) {
    // The uplink's DHCP lease may come after the address step: ask the platform what the router reports now.
    const live = await platform.getMachineState(rt.ref, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    uplink = live ? uplinkAddress(router, live.addresses) : undefined;
  }
  if (!uplink)
    throw new AppError(
      'conflict',
      `Unable to open a terminal on "${t.machine.key}": its range router "${router.key}" has no uplink address the appliance can reach`,
      {
        hint:
          router.router?.uplinkNic === undefined
            ? 'The router has an uplink only when a network has internet egress or the deployment has a VPN; deploy with one of them.'
            : 'Wait until the router has its uplink address (DHCP on the platform uplink), then open the terminal again.',
      },
    );
  const jump = targetOf(router, uplink);
  if (t.machine.key === router.key) return jump;
  const lab = t.machine.nics.find((n) => n.ip)?.ip;
  if (!lab)
    throw new AppError('conflict', `Unable to open a terminal on "${t.machine.key}": it has no planned address`);
  return { ...targetOf(t.machine, lab), via: jump };
}

/** Relays a shell to the browser until either side ends it, the idle time passes or `stop` is called. */
export function relayShell(
  browser: WebSocket,
  shell: SshShell,
  conn: SshConnection,
  o: { idleMs: number },
): { done: Promise<string>; stop(reason: string): void } {
  let finish: (why: string) => void = () => {};
  const done = new Promise<string>((resolve) => {
    let over = false;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      const span = o.idleMs < 120_000 ? `${Math.round(o.idleMs / 1000)} s` : `${Math.round(o.idleMs / 60_000)} min`;
      idle = setTimeout(() => finish(`no input for ${span}`), o.idleMs);
      idle.unref();
    };
    finish = (why: string) => {
      if (over) return;
      over = true;
      clearTimeout(idle);
      clearInterval(pump);
      if (browser.readyState === browser.OPEN) {
        browser.send(JSON.stringify({ type: 'closed', reason: why }));
        browser.close(4000, why.slice(0, 120));
      }
      shell.close();
      void conn.close();
      resolve(why);
    };
    armIdle();
    const pump = setInterval(() => {
      if (shell.stream.isPaused() && browser.bufferedAmount < 512 * 1024) shell.stream.resume();
    }, 50);
    pump.unref();
    shell.stream.on('data', (b: Buffer) => {
      browser.send(b);
      if (browser.bufferedAmount > 1024 * 1024) shell.stream.pause();
    });
    browser.on('message', (data: Buffer, isBinary: boolean) => {
      armIdle();
      if (isBinary) return void shell.stream.write(data);
      try {
        const m = JSON.parse(data.toString('utf8')) as { type?: string; cols?: unknown; rows?: unknown };
        if (m.type === 'resize' && Number.isInteger(m.cols) && Number.isInteger(m.rows))
          shell.resize(Math.min(Math.max(Number(m.cols), 2), 1000), Math.min(Math.max(Number(m.rows), 2), 500));
      } catch {
        // Not a control message: ignored.
      }
    });
    void shell.closed.then(() => finish('the shell ended'));
    conn.onClose(() => finish('the SSH connection closed'));
    browser.on('close', () => finish('the browser closed the terminal'));
    browser.on('error', (e) => finish(`the browser connection failed: ${errorMessage(e)}`));
  });
  return { done, stop: (why) => finish(why) };
}
