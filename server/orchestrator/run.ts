// The executor: runs a deployment's steps as soon as their dependencies are done, within per-platform limits,
// retrying transient errors with backoff; destroys everything a deployment owns. Every step's state is in SQLite
// and every platform call is idempotent, so a process killed at any moment resumes without creating anything twice.
import crypto from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { and, eq, inArray, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, resources, steps } from '../db/schema.ts';
import { AppError, errorMessage, isAppError } from '../errors.ts';
import type { Ipam } from '../ipam/pools.ts';
import type { MachineRef, NetworkRef, Platform } from '../platforms/platform.ts';
import { backoffDelay } from '../platforms/shared/retry.ts';
import { sleep } from '../platforms/shared/wait.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { SecretBox } from '../secret-box.ts';
import type { EventBus } from './events.ts';
import { buildBootMedia } from '../agents/agent.ts';
import { machinePasswords } from './passwords.ts';
import type { Plan, PlannedStep, StepKind } from '../model/plan.ts';
import { activeDeploymentStates, assertDeploymentTransition, restingDeploymentStates, type DeploymentState, type StepState } from '../model/states.ts';

export interface RunnerOptions {
  db: Db;
  events: EventBus;
  platforms: PlatformStore;
  ipam: Ipam;
  box: SecretBox;
  /** Platform calls (networks, create, start) running at once per platform; waits are not limited. */
  concurrency?: number;
  retry?: { attempts: number; baseMs: number; maxMs: number };
  /** Real-time limits; a simulated platform scales them by its timeScale. */
  timeouts?: { addressMs: number; readyMs: number };
  leaseMs?: number;
  /** How long the transitions of steps that create nothing may wait for a commit (ms). */
  lazyMs?: number;
}

/** Nominal seconds per step kind, to order ready work by the longest chain still behind it. */
const nominalSeconds: Record<StepKind, number> = { network: 2, create: 30, start: 2, address: 45, ready: 60 };
const limitedKinds = new Set<StepKind>(['network', 'create', 'start']);

export function createRunner(opts: RunnerOptions) {
  const { db, events, platforms, ipam, box } = opts;
  const concurrency = opts.concurrency ?? 16;
  const retry = opts.retry ?? { attempts: 8, baseMs: 1000, maxMs: 30_000 };
  const timeouts = opts.timeouts ?? { addressMs: 15 * 60_000, readyMs: 45 * 60_000 };
  const leaseMs = opts.leaseMs ?? 15_000;
  const lazyMs = opts.lazyMs ?? 200;
  const owner = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const runs = new Map<string, { controller: AbortController; done: Promise<DeploymentState> }>();
  const gates = new Map<string, PriorityGate>();
  let heartbeat: NodeJS.Timeout | undefined;
  const counters = { firstBoots: 0, firstBootCpuUs: 0 };

  // One turn of the event loop ends with one transaction. Steps that became ready in the turn are started first, in
  // priority order within their platform's gates, inside that transaction, so their start is written with the end of
  // the steps they waited for (and so are any writes their platforms make synchronously, like the simulator's
  // power-on): one commit per turn, however many steps moved. A crash loses at most that turn's writes, and every
  // step is idempotent, so the resumed run simply does those steps again.
  // Transitions of steps that create nothing (start, address, ready) need no commit of their own: they are written
  // with the next turn that commits anyway, or at the latest `lazyMs` later. A commit costs far more after the process
  // has been idle (npm run bench:host), and this halves the commits of a deployment; a crash loses at most `lazyMs`
  // of such transitions, whose steps are run again and find their machine already started, addressed or ready.
  const pending: Array<() => void> = [];
  let commitWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  let turnScheduled = false;
  let inTurn = false;
  /** A write other than a lazy one, or a commit waiter, is pending: the turn must commit. */
  let urgent = false;
  let lazyTimer: NodeJS.Timeout | undefined;
  const turn = db.$client.transaction(() => {
    for (const g of gates.values()) g.drain();
    applyPending();
  });
  const commitPending = db.$client.transaction(applyPending);
  function applyPending() {
    // A write may queue another: the loop sees those too.
    for (let i = 0; i < pending.length; i++) pending[i]!();
    pending.length = 0;
    urgent = false;
    if (lazyTimer) clearTimeout(lazyTimer);
    lazyTimer = undefined;
  }
  function scheduleTurn() {
    if (turnScheduled || inTurn) return;
    turnScheduled = true;
    setImmediate(endTurn);
  }
  function endTurn() {
    turnScheduled = false;
    if (!urgent && commitWaiters.length === 0 && ![...gates.values()].some((g) => g.canGrant())) return;
    inTurn = true;
    try {
      // IMMEDIATE: the write lock is taken first, so a step's read then write in the turn never meets a snapshot
      // another process has made stale since (SQLITE_BUSY_SNAPSHOT); other processes are waited for instead.
      settleCommit(turn.immediate);
    } finally {
      inTurn = false;
    }
  }
  function settleCommit(commit: () => void) {
    let failure: unknown;
    try {
      commit();
    } catch (e) {
      failure = e;
    }
    // Waiters registered during the commit (a create started in this turn) are covered by it too.
    const waiters = commitWaiters;
    commitWaiters = [];
    for (const w of waiters) if (failure === undefined) w.resolve();
    else w.reject(failure);
    if (failure !== undefined) throw failure;
  }
  function later(write: () => void) {
    pending.push(write);
    urgent = true;
    scheduleTurn();
  }
  /** A write that may wait for the next commit, `lazyMs` at the latest. */
  function lazily(write: () => void) {
    pending.push(write);
    lazyTimer ??= setTimeout(() => {
      lazyTimer = undefined;
      if (pending.length === 0) return;
      urgent = true;
      scheduleTurn();
    }, lazyMs);
  }
  /** Resolves once everything written so far is committed (at the end of this turn). */
  function committed(): Promise<void> {
    return new Promise((resolve, reject) => {
      commitWaiters.push({ resolve, reject });
      scheduleTurn();
    });
  }
  /** Commits what is pending now, outside a turn (at the end of a run). */
  function flush() {
    settleCommit(commitPending.immediate);
  }

  const now = () => new Date().toISOString();
  // The per-step statements run thousands of times in a large deployment: prepared once, not rebuilt per call.
  const sql = {
    stepRunning: db.$client.prepare("UPDATE steps SET state = 'running', started_at = ?, ended_at = NULL, error = NULL, attempts = ? WHERE deployment_id = ? AND key = ?"),
    stepEnded: db.$client.prepare('UPDATE steps SET state = ?, ended_at = ?, error = ? WHERE deployment_id = ? AND key = ?'),
    resource: db.$client.prepare<[string, string], { name: string; external_id: string | null }>('SELECT name, external_id FROM resources WHERE deployment_id = ? AND key = ?'),
    upsertResource: db.$client.prepare(
      'INSERT INTO resources (deployment_id, key, kind, name, external_id, state) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (deployment_id, key) DO UPDATE SET name = excluded.name, state = excluded.state, updated_at = excluded.updated_at, external_id = coalesce(excluded.external_id, resources.external_id)',
    ),
    addresses: db.$client.prepare('UPDATE resources SET addresses = ?, updated_at = ? WHERE deployment_id = ? AND key = ?'),
    scenarioYaml: db.$client.prepare<[string], string>('SELECT scenario_yaml FROM deployments WHERE id = ?').pluck(),
    deploymentState: db.$client.prepare<[string], string>('SELECT state FROM deployments WHERE id = ?').pluck(),
  };
  // Clones are slow and queue on the platform; power and network calls are quick. Separate gates keep a start
  // from waiting behind clones that are themselves only waiting for a storage slot.
  // The create lane submits at most twice the clones a platform runs at once: enough to keep its slots busy, few
  // enough that the runner's priority order, not the platform's arrival order, decides which clone runs next.
  const gateFor = (platformId: string, lane: 'create' | 'control', cloneSlots?: number) => {
    let g = gates.get(`${platformId}/${lane}`);
    if (!g) gates.set(`${platformId}/${lane}`, (g = new PriorityGate(lane === 'create' && cloneSlots ? Math.min(concurrency, 2 * cloneSlots) : concurrency, scheduleTurn)));
    return g;
  };

  function setState(id: string, to: DeploymentState, error: string | null = null) {
    const d = db.select({ state: deployments.state }).from(deployments).where(eq(deployments.id, id)).get();
    if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
    if (d.state === to) return;
    assertDeploymentTransition(id, d.state as DeploymentState, to);
    const final = restingDeploymentStates.includes(to);
    db.update(deployments).set({ state: to, error, updatedAt: now(), ...(final ? { finishedAt: now() } : {}) }).where(eq(deployments.id, id)).run();
    events.publish(id, 'deployment', error ? `${to}: ${error}` : to);
  }

  /** Claims the deployment for this process unless another live process holds it. */
  function claim(id: string): boolean {
    const t = Date.now();
    const r = db
      .update(deployments)
      .set({ leaseOwner: owner, leaseUntil: t + leaseMs })
      .where(and(eq(deployments.id, id), or(isNull(deployments.leaseOwner), eq(deployments.leaseOwner, owner), lt(deployments.leaseUntil, t))))
      .run();
    return r.changes === 1;
  }

  function releaseLease(id: string) {
    db.update(deployments).set({ leaseOwner: null, leaseUntil: null }).where(and(eq(deployments.id, id), eq(deployments.leaseOwner, owner))).run();
  }

  function ensureHeartbeat() {
    if (heartbeat) return;
    heartbeat = setInterval(() => {
      const ids = [...runs.keys()];
      if (ids.length === 0) return;
      db.update(deployments).set({ leaseUntil: Date.now() + leaseMs }).where(and(inArray(deployments.id, ids), eq(deployments.leaseOwner, owner))).run();
    }, Math.max(50, Math.floor(leaseMs / 3)));
    heartbeat.unref();
  }

  function launch(id: string, work: (controller: AbortController) => Promise<DeploymentState>): Promise<DeploymentState> {
    const existing = runs.get(id);
    if (existing) return existing.done;
    if (!claim(id)) throw new AppError('conflict', `Deployment ${id} is being worked on by another Glassdome process`, { hint: 'Wait for it, or stop that process; its claim expires on its own if it died.' });
    ensureHeartbeat();
    const controller = new AbortController();
    // Every in-flight step listens on the one signal.
    setMaxListeners(0, controller.signal);
    const done = work(controller).finally(() => {
      runs.delete(id);
      releaseLease(id);
    });
    runs.set(id, { controller, done });
    return done;
  }

  /** The platform's driver, or, when it cannot be had (bad config, missing secret), the deployment ends in `orElse`. */
  async function connect(id: string, platformId: string, orElse: 'failed' | 'destroy_failed'): Promise<Platform | undefined> {
    try {
      return await platforms.instance(platformId);
    } catch (e) {
      setState(id, orElse, `the platform's driver could not be started: ${errorMessage(e)}`);
      return undefined;
    }
  }

  // ------------------------------------------------------------------------------------------------ deploying

  async function deploy(id: string, controller: AbortController): Promise<DeploymentState> {
    const signal = controller.signal;
    const stop = () => controller.abort(new AppError('conflict', 'cancelled'));
    const d = db.select().from(deployments).where(eq(deployments.id, id)).get()!;
    const plan = d.plan as Plan;
    if (d.state !== 'deploying') setState(id, 'deploying');
    const platform = await connect(id, d.platformId, 'failed');
    if (!platform) return 'failed';
    const lanes = { create: gateFor(d.platformId, 'create', platform.cloneSlots), control: gateFor(d.platformId, 'control') };

    // Steps a dead process left running are run again: every step is idempotent.
    const interrupted = db.update(steps).set({ state: 'pending' satisfies StepState }).where(and(eq(steps.deploymentId, id), eq(steps.state, 'running'))).run().changes;
    if (interrupted > 0) events.publish(id, 'log', `resumed by process ${owner}: ${interrupted} interrupted step(s) run again`);
    const state = new Map(db.select({ key: steps.key, state: steps.state }).from(steps).where(eq(steps.deploymentId, id)).all().map((s) => [s.key, s.state as StepState]));
    const byKey = new Map(plan.steps.map((s) => [s.key, s]));
    const dependants = new Map<string, string[]>();
    for (const s of plan.steps) for (const dep of s.dependsOn) dependants.set(dep, [...(dependants.get(dep) ?? []), s.key]);
    const priority = bottomLevels(plan.steps, dependants);
    const running = new Map<string, Promise<void>>();
    const ctx: StepContext = {
      id,
      plan,
      platform,
      secret: box.open(d.secret),
      signal,
      networks: new Map(plan.networks.map((n) => [n.key, n])),
      machines: new Map(plan.machines.map((m) => [m.key, m])),
      refs: new Map(),
    };

    const skipDependants = (key: string, why: string) => {
      for (const next of dependants.get(key) ?? []) {
        if (state.get(next) !== 'pending') continue;
        state.set(next, 'skipped');
        sql.stepEnded.run('skipped', now(), why, id, next);
        skipDependants(next, why);
      }
    };
    for (const [key, s] of state) if (s === 'failed' || s === 'skipped') skipDependants(key, `depends on ${key}, which did not finish`);

    // Event-driven: each finished step counts down its dependants' open dependencies and starts those that reach 0.
    const open = new Map(plan.steps.map((st) => [st.key, st.dependsOn.filter((dep) => state.get(dep) !== 'done').length]));
    let finished!: () => void;
    const allDone = new Promise<void>((resolve) => (finished = resolve));
    const launchStep = (key: string) => {
      const step = byKey.get(key)!;
      const p = new Promise<void>((resolve) => {
        const settle = (to: StepState, e: unknown) => {
          // Aborted while waiting for a gate, or a bug: never let a step vanish without a state.
          state.set(key, to);
          later(() => sql.stepEnded.run(to, now(), errorMessage(e), id, key));
          if (to === 'failed') skipDependants(key, `depends on ${key}, which failed`);
        };
        const begin = (release: () => void) => {
          runStep(ctx, step)
            .then((result) => {
              state.set(key, result);
              if (result === 'failed') skipDependants(key, `depends on ${key}, which failed`);
              else if (!signal.aborted) launchReady((dependants.get(key) ?? []).filter((next) => open.set(next, open.get(next)! - 1).get(next) === 0));
            })
            .catch((e: unknown) => settle(signal.aborted ? 'cancelled' : 'failed', e))
            .finally(() => {
              release();
              resolve();
            });
        };
        if (!limitedKinds.has(step.kind)) return begin(() => {});
        lanes[step.kind === 'create' ? 'create' : 'control'].submit(priority.get(key)!, begin, signal, (e) => {
          settle('cancelled', e);
          resolve();
        });
      }).finally(() => {
        running.delete(key);
        if (running.size === 0) finished();
      });
      running.set(key, p);
    };
    const launchReady = (keys: string[]) => {
      for (const key of keys) if (state.get(key) === 'pending' && !running.has(key) && open.get(key) === 0) launchStep(key);
    };
    // Another process (the CLI, the web app) may ask for a cancel or destroy through the database.
    const poll = setInterval(() => {
      const wanted = stateOf(id);
      if (wanted === 'cancelling' || wanted === 'destroying') stop();
    }, 1000);
    // In plan order: among steps of equal priority, the earlier instance goes first, which keeps the clone pipeline full.
    launchReady(plan.steps.map((s) => s.key));
    if (running.size > 0) await allDone;
    clearInterval(poll);
    flush();
    await Promise.allSettled(running.values());

    if (signal.aborted) {
      db.update(steps).set({ state: 'cancelled' }).where(and(eq(steps.deploymentId, id), inArray(steps.state, ['pending', 'running']))).run();
      const current = db.select({ state: deployments.state }).from(deployments).where(eq(deployments.id, id)).get()!.state as DeploymentState;
      if (current === 'cancelling') setState(id, 'cancelled');
      return current === 'cancelling' ? 'cancelled' : current;
    }
    const failed = [...state].filter(([, s]) => s !== 'done' && s !== 'skipped').map(([k]) => k);
    if (failed.length > 0) {
      const skipped = [...state].filter(([, s]) => s === 'skipped').length;
      setState(id, 'failed', `${failed.length} step(s) failed (${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ', ...' : ''}); ${skipped} skipped`);
      return 'failed';
    }
    setState(id, 'ready');
    return 'ready';
  }

  async function runStep(ctx: StepContext, step: PlannedStep): Promise<StepState> {
    const { id, platform, signal } = ctx;
    const scale = platform.timeScale ?? 1;
    // Networks and machines are created by their steps: those transitions are committed promptly.
    const write = step.kind === 'network' || step.kind === 'create' ? later : lazily;
    for (let attempt = 1; ; attempt++) {
      const startedAt = now();
      write(() => {
        sql.stepRunning.run(startedAt, attempt, id, step.key);
        events.publish(id, 'step.started', attempt > 1 ? `attempt ${attempt}` : 'started', step.key);
      });
      try {
        await executeStep(ctx, step, { addressMs: scaled(timeouts.addressMs, scale), readyMs: scaled(timeouts.readyMs, scale) });
        const endedAt = now();
        write(() => {
          sql.stepEnded.run('done', endedAt, null, id, step.key);
          events.publish(id, 'step.finished', 'done', step.key);
        });
        return 'done';
      } catch (e) {
        if (signal.aborted) throw e;
        const message = errorMessage(e);
        if (isAppError(e) && e.retryable && attempt < retry.attempts) {
          const backoff = backoffDelay(attempt, retry) * scale;
          // Queued behind the attempt's start, which may not be written yet, so the events keep their order.
          later(() => events.publish(id, 'step.retry', `${message}; retrying in ${Math.round(backoff / scale)} ms`, step.key));
          await sleep(backoff, signal);
          continue;
        }
        const endedAt = now();
        later(() => {
          sql.stepEnded.run('failed', endedAt, message, id, step.key);
          events.publish(id, 'step.failed', message, step.key);
        });
        return 'failed';
      }
    }
  }

  async function executeStep(ctx: StepContext, step: PlannedStep, limits: { addressMs: number; readyMs: number }) {
    const { id, plan, platform, signal } = ctx;
    if (step.kind === 'network') {
      const n = ctx.networks.get(step.target)!;
      const ref = await platform.ensureNetwork({ deploymentId: id, name: n.resourceName, kind: n.kind, cidr: n.cidr, gateway: n.gateway, ...(n.vlan === undefined ? {} : { vlan: n.vlan }) }, { signal });
      recordPresent(ctx, n.key, 'network', ref);
      return;
    }
    const m = ctx.machines.get(step.target)!;
    if (step.kind === 'create') {
      // Recorded, with the step's start, before the call: whatever happens next, teardown knows to look for this name.
      later(() => sql.upsertResource.run(id, m.key, 'machine', m.resourceName, null, 'creating'));
      await committed();
      const nics = m.nics.map((nic) => ({ network: refOf(ctx, nic.networkKey, 'Network'), mac: nic.mac, ...(nic.ip ? { ip: nic.ip } : {}) }));
      const overrides = (m.overrides as Record<string, Record<string, unknown> | undefined>)[plan.platform] ?? {};
      const template = overrides.template ?? overrides.ami ?? overrides.image;
      const ref = await platform.createMachine(
        {
          deploymentId: id,
          name: m.resourceName,
          hostname: m.hostname,
          os: m.os,
          ...(template === undefined ? {} : { template: String(template) }),
          cpus: m.size.cpus,
          memoryMb: m.size.memoryMb,
          diskGb: m.size.diskGb,
          nics,
          ...(m.os.startsWith('windows') ? {} : { cloudInit: measuredFirstBoot(plan, m, ctx.secret, id) }),
          options: overrides,
        },
        { signal },
      );
      recordPresent(ctx, m.key, 'machine', ref);
      return;
    }
    const ref = refOf(ctx, m.key, 'Machine');
    if (step.kind === 'start') await platform.startMachine(ref, { signal });
    else if (step.kind === 'address') {
      const addresses = await platform.waitForAddress(ref, { signal, timeoutMs: limits.addressMs });
      const at = now();
      lazily(() => sql.addresses.run(JSON.stringify(addresses), at, id, m.key));
    } else await platform.waitForReady(ref, { signal, timeoutMs: limits.readyMs });
  }

  /** First-boot media, with its CPU time counted apart so benchmarks can tell orchestration from guest config. */
  function measuredFirstBoot(plan: Plan, m: Plan['machines'][number], secret: string, id: string) {
    const before = process.cpuUsage();
    const media = buildBootMedia(plan, m, { secret, passwords: machinePasswords(m, secret, sql.scenarioYaml.get(id)!) });
    const used = process.cpuUsage(before);
    counters.firstBootCpuUs += used.user + used.system;
    counters.firstBoots++;
    return media;
  }

  /**
   * A created resource's platform id, kept in memory for the steps after it and written with the step's end: if
   * the process dies before that commit, the resumed run creates it again, which finds it by name.
   */
  function recordPresent(ctx: StepContext, key: string, kind: 'network' | 'machine', ref: NetworkRef | MachineRef) {
    ctx.refs.set(key, ref);
    later(() => sql.upsertResource.run(ctx.id, key, kind, ref.name, ref.id, 'present'));
  }

  /** The platform id of a network or machine whose step is done: from memory, or from the database after a restart. */
  function refOf(ctx: StepContext, key: string, what: 'Network' | 'Machine'): NetworkRef | MachineRef {
    const known = ctx.refs.get(key);
    if (known) return known;
    const r = sql.resource.get(ctx.id, key);
    if (!r?.external_id) throw new AppError('internal', `${what} ${key} of deployment ${ctx.id} has no platform id although its ${what === 'Machine' ? 'create ' : ''}step is done`);
    const ref = { id: r.external_id, name: r.name };
    ctx.refs.set(key, ref);
    return ref;
  }

  // ------------------------------------------------------------------------------------------------ destroying

  async function teardown(id: string, controller: AbortController): Promise<DeploymentState> {
    const signal = controller.signal;
    const d = db.select().from(deployments).where(eq(deployments.id, id)).get()!;
    setState(id, 'destroying');
    const platform = await connect(id, d.platformId, 'destroy_failed');
    if (!platform) return 'destroy_failed';
    const gate = gateFor(d.platformId, 'control');
    const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const scale = platform.timeScale ?? 1;
      for (let attempt = 1; ; attempt++) {
        const release = await gate.acquire(Number.MAX_SAFE_INTEGER, signal);
        try {
          return await fn();
        } catch (e) {
          if (!(isAppError(e) && e.retryable) || attempt >= retry.attempts) throw e;
          events.publish(id, 'log', `${what}: ${errorMessage(e)}; retrying`);
        } finally {
          release();
        }
        await sleep(backoffDelay(attempt + 1, retry) * scale, signal);
      }
    };

    // What the database knows, plus what the platform says the deployment owns: nothing is left behind.
    const known = db.select().from(resources).where(eq(resources.deploymentId, id)).all().filter((r) => r.state !== 'deleted');
    const owned = await call('list owned resources', () => platform.listOwned(id, { signal }));
    const machines = new Map<string, MachineRef>();
    const nets = new Map<string, NetworkRef>();
    for (const r of known) (r.kind === 'machine' ? machines : nets).set(r.name, { id: r.externalId ?? '', name: r.name });
    for (const o of owned) if (o.kind === 'machine') machines.set(o.name, { id: o.id, name: o.name });
    for (const o of owned) if (o.kind === 'network') nets.set(o.name, { id: o.id, name: o.name });

    const failures: string[] = [];
    const markDeleted = (name: string) => db.update(resources).set({ state: 'deleted', updatedAt: now() }).where(and(eq(resources.deploymentId, id), eq(resources.name, name))).run();
    await Promise.all(
      [...machines.values()].map(async (ref) => {
        try {
          // A ref with no id was recorded before its create call returned: find it by name on the platform.
          const target = ref.id ? ref : owned.find((o) => o.name === ref.name);
          if (target) await call(`destroy ${ref.name}`, () => platform.destroyMachine({ id: target.id, name: ref.name }, { signal }));
          markDeleted(ref.name);
          events.publish(id, 'log', `destroyed machine ${ref.name}`);
        } catch (e) {
          failures.push(`${ref.name}: ${errorMessage(e)}`);
        }
      }),
    );
    await Promise.all(
      [...nets.values()].map(async (ref) => {
        try {
          await call(`delete network ${ref.name}`, () => platform.deleteNetwork(ref, { signal }));
          markDeleted(ref.name);
        } catch (e) {
          failures.push(`${ref.name}: ${errorMessage(e)}`);
        }
      }),
    );
    const left = failures.length === 0 ? await call('list owned resources', () => platform.listOwned(id, { signal })) : [];
    if (failures.length > 0 || left.length > 0) {
      setState(id, 'destroy_failed', failures.length > 0 ? failures.join('; ') : `still present: ${left.map((l) => l.name).join(', ')}`);
      return 'destroy_failed';
    }
    ipam.release(id);
    setState(id, 'destroyed');
    return 'destroyed';
  }

  // ------------------------------------------------------------------------------------------------ public

  function stateOf(id: string): DeploymentState {
    const state = sql.deploymentState.get(id);
    if (state === undefined) throw new AppError('not_found', `Deployment ${id} does not exist`);
    return state as DeploymentState;
  }

  return {
    owner,
    /** Runs (or resumes) a deployment to its end in this process, after waiting out a dead process's claim. */
    async resume(id: string): Promise<DeploymentState> {
      for (let tries = 0; ; tries++) {
        const s = stateOf(id);
        // Already at rest (another process finished it): nothing to resume.
        if (!activeDeploymentStates.includes(s)) return s;
        try {
          return await this.run(id);
        } catch (e) {
          if (!(isAppError(e) && e.code === 'conflict' && e.message.includes('another Glassdome process')) || tries > 3) throw e;
          const until = db.select({ until: deployments.leaseUntil }).from(deployments).where(eq(deployments.id, id)).get()?.until ?? 0;
          await sleep(Math.max(50, until - Date.now() + 50));
        }
      }
    },
    /** Runs (or resumes) a deployment to its end in this process. */
    run(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s === 'destroying') return launch(id, (c) => teardown(id, c));
      if (s === 'cancelling') {
        setState(id, 'cancelled');
        return Promise.resolve('cancelled');
      }
      if (s !== 'pending' && s !== 'deploying') throw new AppError('conflict', `Deployment ${id} is ${s}; nothing to run`, { hint: s === 'failed' ? 'Retry its failed machines, or destroy it.' : undefined });
      return launch(id, (c) => deploy(id, c));
    },
    /** Puts failed, skipped and cancelled steps back to pending and runs the deployment again. */
    retryFailed(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s !== 'failed' && s !== 'cancelled') throw new AppError('conflict', `Deployment ${id} is ${s}; only failed or cancelled deployments can be retried`);
      db.update(steps).set({ state: 'pending', error: null }).where(and(eq(steps.deploymentId, id), inArray(steps.state, ['failed', 'skipped', 'cancelled']))).run();
      setState(id, 'deploying');
      return launch(id, (c) => deploy(id, c));
    },
    /** Stops a running deployment: in-flight calls are aborted, nothing new starts. What exists stays until destroy. */
    async cancel(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s !== 'pending' && s !== 'deploying') throw new AppError('conflict', `Deployment ${id} is ${s}; only a deployment in progress can be cancelled`);
      setState(id, 'cancelling');
      const r = runs.get(id);
      if (r) {
        r.controller.abort(new AppError('conflict', 'cancelled'));
        return r.done;
      }
      // No process of ours runs it: the one that does sees `cancelling` at its next step; a dead one is resumed as cancelled.
      return 'cancelling';
    },
    /** Destroys everything the deployment owns, after stopping its run if one is in progress here. */
    async destroy(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s === 'destroyed') return s;
      const r = runs.get(id);
      if (r) {
        r.controller.abort(new AppError('conflict', 'destroy requested'));
        await r.done.catch(() => undefined);
      }
      if (stateOf(id) !== 'destroying') setState(id, 'destroying');
      return launch(id, (c) => teardown(id, c));
    },
    /** Resumes every deployment whose process died mid-way (its lease expired); returns their ids. */
    resumeInterrupted(): string[] {
      const t = Date.now();
      const stale = db
        .select({ id: deployments.id })
        .from(deployments)
        .where(and(inArray(deployments.state, [...activeDeploymentStates]), or(isNull(deployments.leaseUntil), lt(deployments.leaseUntil, t))))
        .all()
        .map((r) => r.id)
        .filter((id) => !runs.has(id));
      for (const id of stale) {
        events.publish(id, 'log', `resuming after an interruption (process ${owner})`);
        this.run(id).catch((e) => events.publish(id, 'log', `resume failed: ${errorMessage(e)}`));
      }
      return stale;
    },
    /** Work counters of this process since it started. */
    stats() {
      return { ...counters };
    },
    isRunning(id: string): boolean {
      return runs.has(id);
    },
    /** Aborts this process's runs and gives up their leases, for a clean shutdown (they resume on next start). */
    async shutdown(): Promise<void> {
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
      for (const r of runs.values()) r.controller.abort(new AppError('conflict', 'shutting down'));
      await Promise.allSettled([...runs.values()].map((r) => r.done));
    },
  };
}

export type Runner = ReturnType<typeof createRunner>;

/** What every step of one deployment run shares. */
interface StepContext {
  id: string;
  plan: Plan;
  platform: Platform;
  secret: string;
  signal: AbortSignal;
  networks: Map<string, Plan['networks'][number]>;
  machines: Map<string, Plan['machines'][number]>;
  /** Platform ids of the networks and machines created so far, by plan key. */
  refs: Map<string, NetworkRef | MachineRef>;
}

/** A limit for a sped-up platform; a floor keeps it above event-loop stalls on a loaded machine. */
function scaled(ms: number, scale: number): number {
  return scale < 1 ? Math.max(ms * scale, Math.min(ms, 10_000)) : ms;
}

/** For each step, the nominal length of the longest chain from its start to the end of the deployment. */
function bottomLevels(all: PlannedStep[], dependants: Map<string, string[]>): Map<string, number> {
  const byKey = new Map(all.map((s) => [s.key, s]));
  const memo = new Map<string, number>();
  const level = (key: string): number => {
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    const own = nominalSeconds[byKey.get(key)!.kind];
    const after = Math.max(0, ...(dependants.get(key) ?? []).map(level));
    memo.set(key, own + after);
    return own + after;
  };
  for (const s of all) level(s.key);
  return memo;
}

/**
 * A counting semaphore whose waiters are served highest priority first, then in arrival order. Grants are made by
 * `drain`, once per event-loop turn, so work that becomes ready in one turn (a deployment's first creates, the
 * dependants of several finished steps) is ordered by priority, not by arrival.
 */
class PriorityGate {
  private free: number;
  private waiting: Array<{ priority: number; seq: number; start: (release: () => void) => void; signal: AbortSignal | undefined; onAbort: () => void }> = [];
  private seq = 0;

  /** `wake` asks for a drain at the end of the current turn. */
  constructor(
    size: number,
    private readonly wake: () => void,
  ) {
    this.free = size;
  }

  /** Queues `start`, called with the slot's release function when granted; `aborted` if the signal fires first. */
  submit(priority: number, start: (release: () => void) => void, signal: AbortSignal | undefined, aborted: (reason: unknown) => void): void {
    if (signal?.aborted) return aborted(signal.reason);
    const entry = {
      priority,
      seq: this.seq++,
      start,
      signal,
      onAbort: () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        aborted(signal!.reason);
      },
    };
    this.waiting.push(entry);
    signal?.addEventListener('abort', entry.onAbort, { once: true });
    this.wake();
  }

  /** A slot as a promise, for callers that simply wait their turn. */
  acquire(priority: number, signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => this.submit(priority, resolve, signal, reject));
  }

  canGrant(): boolean {
    return this.free > 0 && this.waiting.length > 0;
  }

  drain(): void {
    if (!this.canGrant()) return;
    this.waiting.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    while (this.free > 0 && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort);
      this.free--;
      let released = false;
      w.start(() => {
        if (released) return;
        released = true;
        this.free++;
        if (this.waiting.length > 0) this.wake();
      });
    }
  }
}
