// Trainees reach their range: browser consoles (the platform's console relayed through the appliance), web terminals
// (SSH from the appliance, through the range router) and per-trainee VPN configurations. The entry points check who
// may see a machine; this module checks the machine itself, issues single-use links, runs the sessions, ends them when
// they may no longer go on, and records each one (who, which machine, from when to when) in the audit log.
import { eq } from 'drizzle-orm';
import type WebSocket from 'ws';
import type { Db } from '../db/client.ts';
import { deployments, users } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { Plan } from '../model/plan.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { SecretBox } from '../secret-box.ts';
import { connectSsh, type SshConnection } from '../ssh/connection.ts';
import { createSshPool } from '../ssh/pool.ts';
import { noConsoleHint, openUpstream, refuseDownstream, relay } from './console.ts';
import { createGrants, type AccessKind, type Grant } from './grants.ts';
import { createLiveSessions } from './live-sessions.ts';
import { messageReader } from './rfb.ts';
import { findTarget, requireReachable, unreachableReason, uplinkAddress } from './targets.ts';
import { relayShell, requireLinux, terminalTarget, type TerminalOptions } from './terminal.ts';
import { instanceVpn, renderPeerConfig } from './vpn.ts';
import { vpnKey } from './vpn-keys.ts';

export type { AccessKind, Grant } from './grants.ts';
export type { LiveSession } from './live-sessions.ts';

export interface AccessDeps {
  db: Db;
  platforms: PlatformStore;
  box: SecretBox;
  audit: AuditSink;
}

export interface AccessOptions {
  /** How long a console or terminal link may wait to be opened (default 60 s). */
  grantTtlMs?: number;
  /** How often open sessions are re-checked (default 1 s). */
  checkEveryMs?: number;
  /** The console handshakes with the platform and the browser, each (default 15 s). */
  handshakeMs?: number;
  terminal?: TerminalOptions;
}

export interface SessionHooks {
  /**
   * Why the viewer may no longer use this session (signed out, another role, the machine out of their scope), or
   * undefined. The entry point that authenticated the viewer knows how to ask again.
   */
  viewerCheck(): string | undefined;
}

const stateTimeoutMs = 5000;

export function createAccess(deps: AccessDeps, o: AccessOptions = {}) {
  const { db, platforms, box, audit } = deps;
  const grants = createGrants(o.grantTtlMs === undefined ? {} : { ttlMs: o.grantTtlMs });
  const live = createLiveSessions(audit, o.checkEveryMs === undefined ? {} : { checkEveryMs: o.checkEveryMs });
  const handshakeMs = o.handshakeMs ?? 15_000;
  const idleMs = o.terminal?.idleMs ?? 30 * 60_000;
  // Jump hosts (routers) are shared by every terminal of an instance; each terminal has its own connection beyond.
  // Someone waits at the page: one quick retry (a router rebooting), not the minute-long patience of first boot.
  const retry = { attempts: 2, baseMs: 500, maxMs: 1000 };
  const jumps = createSshPool({
    idleMs: 60_000,
    connect: { connectTimeoutMs: o.terminal?.connectTimeoutMs ?? 10_000, retry },
  });
  const what = (kind: AccessKind) => (kind === 'console' ? 'console' : 'terminal');

  /** Why the machine no longer allows an open session: its deployment is going away or it was destroyed. */
  function machineCheck(deploymentId: string, key: string): string | undefined {
    try {
      return unreachableReason(findTarget(db, deploymentId, key));
    } catch (e) {
      return errorMessage(e);
    }
  }

  /** Checks everything about the machine that can be known before a socket opens. */
  async function checkOpenable(kind: AccessKind, deploymentId: string, key: string): Promise<void> {
    const t = findTarget(db, deploymentId, key);
    const ref = requireReachable(t, what(kind));
    if (kind === 'terminal') requireLinux(t);
    const platform = await platforms.instance(t.platformId);
    if (kind === 'console' && !platform.consoleTicket)
      throw new AppError(
        'invalid_input',
        `Unable to open the console of "${key}": ${platform.kind} platforms have no browser console here`,
        { hint: noConsoleHint(platform.kind) },
      );
    const state = await platform
      .getMachineState(ref, { signal: AbortSignal.timeout(stateTimeoutMs) })
      .catch(() => undefined);
    if (state && state.power !== 'running')
      throw new AppError(
        'conflict',
        `Unable to open the ${what(kind)} of "${key}": it is ${state.power === 'stopped' ? 'powered off' : state.power === 'missing' ? 'gone from the platform' : state.power}`,
        {
          hint:
            state.power === 'missing'
              ? 'Retry or redeploy the deployment.'
              : 'Start the machine from its page, then open it again.',
        },
      );
  }

  function sessionCheck(hooks: SessionHooks, deploymentId: string, key: string) {
    return () => hooks.viewerCheck() ?? machineCheck(deploymentId, key);
  }

  return {
    grants,
    live,

    /**
     * A single-use link for `userId` to open a console or terminal on a machine the caller has checked they may see.
     * Refuses, with why, a machine that is destroyed, not created, powered off, Windows (terminal) or on a platform
     * without consoles (console).
     */
    async issue(
      actor: Actor,
      kind: AccessKind,
      deploymentId: string,
      key: string,
    ): Promise<{ token: string; expiresAt: number }> {
      if (!actor.userId) throw new AppError('forbidden', `Only a signed-in user can open a ${what(kind)}`);
      const role = db.select({ role: users.role }).from(users).where(eq(users.id, actor.userId)).get()?.role;
      refuseRouterToTrainee(role, findTarget(db, deploymentId, key).machine);
      await checkOpenable(kind, deploymentId, key);
      return grants.issue({ kind, userId: actor.userId, deploymentId, machineKey: key });
    },

    /** Whether the deployment's platform offers browser consoles at all (the topology's Console links). */
    async consolesOffered(deploymentId: string): Promise<boolean> {
      const d = db
        .select({ platformId: deployments.platformId })
        .from(deployments)
        .where(eq(deployments.id, deploymentId))
        .get();
      if (!d) return false;
      try {
        return typeof (await platforms.instance(d.platformId)).consoleTicket === 'function';
      } catch {
        return false;
      }
    },

    /** Checks, without issuing a link, that a console or terminal can open on the machine now (the CLI's URL). */
    check: (kind: AccessKind, deploymentId: string, key: string): Promise<void> =>
      checkOpenable(kind, deploymentId, key),

    /** Whether a console and a terminal can be offered for the machine (the buttons on its page and the topology). */
    async capabilities(deploymentId: string, key: string): Promise<{ console: boolean; terminal: boolean }> {
      const t = findTarget(db, deploymentId, key);
      if (unreachableReason(t)) return { console: false, terminal: false };
      let consoles = false;
      try {
        consoles = typeof (await platforms.instance(t.platformId)).consoleTicket === 'function';
      } catch {
        consoles = false;
      }
      let linux = true;
      try {
        requireLinux(t);
      } catch {
        linux = false;
      }
      return { console: consoles, terminal: linux };
    },

    /** Takes a link for the socket that opens it; refuses another user's, another machine's, or a used one. */
    redeem(actor: Actor, kind: AccessKind, token: string, deploymentId: string, key: string): Grant {
      return grants.redeem(token, { kind, userId: actor.userId ?? '', deploymentId, machineKey: key });
    },

    /**
     * Runs a console on an open browser socket until it ends: the platform's console is opened and authenticated,
     * the browser greeted, the bytes relayed. Failures reach the browser as the RFB failure reason.
     */
    async startConsole(actor: Actor, grant: Grant, browser: WebSocket, hooks: SessionHooks): Promise<string> {
      const reader = messageReader(browser, 'the browser', handshakeMs);
      const abort = new AbortController();
      const onEarlyClose = () => abort.abort(new AppError('conflict', 'the browser closed the console'));
      browser.once('close', onEarlyClose);
      let upstream;
      try {
        const t = findTarget(db, grant.deploymentId, grant.machineKey);
        const platform = await platforms.instance(t.platformId);
        upstream = await openUpstream(platform, t, { signal: abort.signal, handshakeMs });
      } catch (e) {
        browser.off('close', onEarlyClose);
        audit.record(actor, 'console.refused', `machine:${grant.deploymentId}/${grant.machineKey}`, errorMessage(e));
        await refuseDownstream(browser, reader, errorMessage(e));
        return errorMessage(e);
      }
      browser.off('close', onEarlyClose);
      const session = live.add({
        kind: 'console',
        actor,
        deploymentId: grant.deploymentId,
        machineKey: grant.machineKey,
        check: sessionCheck(hooks, grant.deploymentId, grant.machineKey),
        close: (reason) => {
          upstream.socket.close();
          if (browser.readyState === browser.OPEN) browser.close(4000, reason.slice(0, 120));
        },
      });
      let why: string;
      try {
        why = await relay(browser, reader, upstream);
      } catch (e) {
        why = errorMessage(e);
        upstream.socket.terminate();
        browser.terminate();
      }
      session.end(why);
      return why;
    },

    /** Runs a terminal on an open browser socket until it ends (the shell exits, idle time, sign-out, destroy). */
    async startTerminal(
      actor: Actor,
      grant: Grant,
      browser: WebSocket,
      hooks: SessionHooks,
      size: { cols: number; rows: number },
    ): Promise<string> {
      const early: Buffer[] = [];
      const keep = (d: Buffer, isBinary: boolean) => void (isBinary && early.length < 256 && early.push(d));
      browser.on('message', keep);
      const abort = new AbortController();
      const onEarlyClose = () => abort.abort(new AppError('conflict', 'the browser closed the terminal'));
      browser.once('close', onEarlyClose);
      const fail = (e: unknown) => {
        const message = errorMessage(e);
        const hint = e instanceof AppError ? e.hint : undefined;
        audit.record(actor, 'terminal.refused', `machine:${grant.deploymentId}/${grant.machineKey}`, message);
        if (browser.readyState === browser.OPEN) {
          browser.send(JSON.stringify({ type: 'error', message, ...(hint ? { hint } : {}) }));
          browser.close(4001, message.slice(0, 120));
        }
        return message;
      };
      let conn;
      let shell;
      let release: (() => void) | undefined;
      try {
        const t = findTarget(db, grant.deploymentId, grant.machineKey);
        const platform = await platforms.instance(t.platformId);
        const target = await terminalTarget({ db, box, platform }, t, { ...o.terminal, signal: abort.signal });
        const connect =
          o.terminal?.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: o.terminal.connectTimeoutMs };
        if (target.via) {
          // The pooled jump connection (the router) is held for as long as this terminal lives.
          const jump = await new Promise<SshConnection>((resolve, reject) => {
            jumps
              .run(
                target.via!,
                (j) => {
                  resolve(j);
                  return new Promise<void>((done) => (release = done));
                },
                { signal: abort.signal },
              )
              .catch(reject);
          });
          conn = await connectSsh(target, { ...connect, retry, signal: abort.signal, jump });
        } else conn = await connectSsh(target, { ...connect, retry, signal: abort.signal });
        shell = await conn.shell({ cols: size.cols, rows: size.rows, term: 'xterm-256color' });
      } catch (e) {
        browser.off('message', keep);
        browser.off('close', onEarlyClose);
        release?.();
        void conn?.close();
        return fail(e);
      }
      browser.off('message', keep);
      browser.off('close', onEarlyClose);
      for (const b of early) shell.stream.write(b);
      const r = relayShell(browser, shell, conn, { idleMs });
      const session = live.add({
        kind: 'terminal',
        actor,
        deploymentId: grant.deploymentId,
        machineKey: grant.machineKey,
        check: sessionCheck(hooks, grant.deploymentId, grant.machineKey),
        close: (reason) => r.stop(reason),
      });
      const why = await r.done;
      release?.();
      session.end(why);
      return why;
    },

    /**
     * The WireGuard configuration of `role` (the instance's trainee, or the instructor) into one instance, recorded in
     * the audit log (it carries a private key). The caller has checked the viewer may see the instance.
     */
    async vpnConfig(
      actor: Actor,
      role: 'trainee' | 'instructor',
      deploymentId: string,
      instance: number,
    ): Promise<{ filename: string; config: string; endpoint: string }> {
      const d = db
        .select({ plan: deployments.plan, state: deployments.state, name: deployments.scenarioName })
        .from(deployments)
        .where(eq(deployments.id, deploymentId))
        .get();
      if (!d) throw new AppError('not_found', `Deployment ${deploymentId} does not exist`);
      const v = instanceVpn(d.plan as Plan, deploymentId, instance, role);
      const t = findTarget(db, deploymentId, v.router.key);
      const why = unreachableReason(t);
      if (why) throw new AppError('conflict', `Unable to give the VPN of instance ${instance}: ${why}`);
      let host = uplinkAddress(v.router, t.addresses);
      if (!host) {
        const platform = await platforms.instance(t.platformId);
        const live = await platform
          .getMachineState(t.ref!, { signal: AbortSignal.timeout(stateTimeoutMs) })
          .catch(() => undefined);
        host = live ? uplinkAddress(v.router, live.addresses) : undefined;
      }
      if (!host)
        throw new AppError(
          'conflict',
          `Unable to give the VPN of instance ${instance}: its router "${v.router.key}" has no uplink address yet`,
          {
            hint: 'Wait until the router is ready (it takes its uplink address by DHCP), then download it again.',
          },
        );
      const plan = d.plan as Plan;
      const own = vpnKey(db, box, deploymentId, instance, role);
      const router = vpnKey(db, box, deploymentId, instance, 'router');
      const config = renderPeerConfig({
        deploymentId,
        scenario: d.name,
        instance,
        who: role === 'trainee' ? `trainee of instance ${instance}` : 'instructor',
        privateKey: own.privateKey,
        address: v.address,
        routerPublicKey: router.publicKey,
        endpointHost: host,
        port: plan.vpn!.port,
        allowedIps: v.allowedIps,
      });
      audit.record(
        actor,
        'vpn.config',
        `deployment:${deploymentId}/i${instance}`,
        `${role} configuration, endpoint ${host}:${plan.vpn!.port}`,
      );
      return { filename: `${deploymentId}-i${instance}-${role}.conf`, config, endpoint: `${host}:${plan.vpn!.port}` };
    },

    /** Ends every open session (the process stops) and closes the jump connections. */
    async close(): Promise<void> {
      live.endAll('the appliance is stopping');
      await jumps.close();
    },
  };
}

export type Access = ReturnType<typeof createAccess>;

/** A shell on the range router would let a trainee rewrite the firewall that isolates their instance. */
export function refuseRouterToTrainee(role: string | undefined, machine: { key: string; role: string }): void {
  if (role === 'trainee' && machine.role === 'router')
    throw new AppError(
      'forbidden',
      `The range router "${machine.key}" is managed by instructors; it has no console or terminal for trainees`,
    );
}
