// Deploying: runs a deployment's steps as soon as their dependencies are done, within per-platform gates, retrying
// transient errors with backoff. Every step's state is in SQLite and every platform call is idempotent, so a run
// killed at any moment resumes without creating anything twice.
import { and, eq, inArray } from 'drizzle-orm';
import { routerVpnKeys } from '../../access/vpn-keys.ts';
import { buildBootMedia } from '../../agents/agent.ts';
import { domainJoinAccount } from '../../agents/windows/settings.ts';
import { defaultCatalogue } from '../../reaper/catalogue.ts';
import { renderMachineVulnerabilities } from '../../reaper/render.ts';
import { deployments, resources, steps } from '../../db/schema.ts';
import { AppError, errorMessage, isAppError } from '../../errors.ts';
import type { Plan, PlannedStep, StepKind } from '../../model/plan.ts';
import type { DeploymentState, StepState } from '../../model/states.ts';
import type { MachineRef, MachineSpec, NetworkRef, Platform, RangeSpec } from '../../platforms/platform.ts';
import { backoffDelay } from '../../platforms/shared/retry.ts';
import { sleep } from '../../platforms/shared/wait.ts';
import { machinePasswords } from '../passwords.ts';
import { onPremises, uplinkKey } from '../planner.ts';
import { quotaOfDeployment } from '../quotas.ts';
import { checkBeforeCreating } from './gate-checks.ts';
import { verifyMachine } from './verify.ts';
import type { RunContext } from './run-context.ts';

/** Nominal seconds per step kind, to order ready work by the longest chain still behind it. */
const nominalSeconds: Record<StepKind, number> = { network: 2, create: 30, start: 2, address: 45, ready: 60 };
const limitedKinds = new Set<StepKind>(['network', 'create', 'start']);

export function createDeployer(rc: RunContext) {
  const { db, events, box, sql, retry, timeouts, counters, owner, now, setState, stateOf, connect, gateFor } = rc;
  const { later, lazily, committed, flush } = rc.commit;

  async function deploy(id: string, controller: AbortController): Promise<DeploymentState> {
    const signal = controller.signal;
    const stop = () => controller.abort(new AppError('conflict', 'cancelled'));
    const d = db.select().from(deployments).where(eq(deployments.id, id)).get()!;
    const plan = d.plan as Plan;
    if (d.state !== 'deploying') setState(id, 'deploying');
    const platform = await connect(id, d.platformId, 'failed');
    if (!platform) return 'failed';
    const lanes = {
      create: gateFor(d.platformId, 'create', platform.cloneSlots),
      control: gateFor(d.platformId, 'control'),
    };
    // Before anything new is created: the platform must deliver all of first boot and have room for what is left.
    const created = new Set(
      db
        .select({ key: resources.key })
        .from(resources)
        .where(and(eq(resources.deploymentId, id), eq(resources.kind, 'machine')))
        .all()
        .map((r) => r.key),
    );
    if (created.size < plan.machines.length) {
      try {
        for (const note of (await checkBeforeCreating(platform, plan, created, signal, quotaOfDeployment(db, id)))
          .notes)
          events.publish(id, 'log', note);
      } catch (e) {
        if (signal.aborted) throw e;
        setState(id, 'failed', errorMessage(e));
        return 'failed';
      }
    }

    // Steps a dead process left running are run again: every step is idempotent.
    const interrupted = db
      .update(steps)
      .set({ state: 'pending' satisfies StepState })
      .where(and(eq(steps.deploymentId, id), eq(steps.state, 'running')))
      .run().changes;
    if (interrupted > 0)
      events.publish(id, 'log', `resumed by process ${owner}: ${interrupted} interrupted step(s) run again`);
    // One record per step, linked to its dependants: what the run needs of its steps, in one map. (Five maps keyed by
    // step, as this was, held 3.9 MB at 2,002 machines, and V8 lets the heap grow to several times what is live.)
    const stepRuns = new Map<string, StepRun>(
      plan.steps.map((step) => [step.key, { step, state: undefined, open: 0, priority: -1, dependants: noDependants }]),
    );
    for (const row of db
      .select({ key: steps.key, state: steps.state })
      .from(steps)
      .where(eq(steps.deploymentId, id))
      .all()) {
      const r = stepRuns.get(row.key);
      if (r) r.state = row.state as StepState;
    }
    for (const r of stepRuns.values())
      for (const dep of r.step.dependsOn) {
        const before = stepRuns.get(dep);
        if (before) before.dependants = [...before.dependants, r];
      }
    for (const r of stepRuns.values()) bottomLevel(r);
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
      specs: new Map(),
    };

    const skipDependants = (r: StepRun, why: string) => {
      for (const next of r.dependants) {
        if (next.state !== 'pending') continue;
        next.state = 'skipped';
        sql.stepEnded.run('skipped', now(), why, id, next.step.key);
        skipDependants(next, why);
      }
    };
    for (const r of stepRuns.values())
      if (r.state === 'failed' || r.state === 'skipped')
        skipDependants(r, `depends on ${r.step.key}, which did not finish`);

    // Event-driven: each finished step counts down its dependants' open dependencies and starts those that reach 0.
    for (const r of stepRuns.values())
      r.open = r.step.dependsOn.filter((dep) => stepRuns.get(dep)?.state !== 'done').length;
    let finished!: () => void;
    const allDone = new Promise<void>((resolve) => (finished = resolve));
    const launchStep = (r: StepRun) => {
      const { step } = r;
      const key = step.key;
      const p = new Promise<void>((resolve) => {
        const settle = (to: StepState, e: unknown) => {
          // Aborted while waiting for a gate, or a bug: never let a step vanish without a state.
          r.state = to;
          later(() => sql.stepEnded.run(to, now(), errorMessage(e), id, key));
          if (to === 'failed') skipDependants(r, `depends on ${key}, which failed`);
        };
        const begin = (release: () => void) => {
          runStep(ctx, step)
            .then((result) => {
              r.state = result;
              if (result === 'failed') skipDependants(r, `depends on ${key}, which failed`);
              else if (!signal.aborted) launchReady(r.dependants.filter((next) => --next.open === 0));
            })
            .catch((e: unknown) => settle(signal.aborted ? 'cancelled' : 'failed', e))
            .finally(() => {
              release();
              resolve();
            });
        };
        if (!limitedKinds.has(step.kind)) return begin(() => {});
        lanes[step.kind === 'create' ? 'create' : 'control'].submit(r.priority, begin, signal, (e) => {
          settle('cancelled', e);
          resolve();
        });
      }).finally(() => {
        running.delete(key);
        if (running.size === 0) finished();
      });
      running.set(key, p);
    };
    const launchReady = (ready: Iterable<StepRun>) => {
      for (const r of ready) if (r.state === 'pending' && !running.has(r.step.key) && r.open === 0) launchStep(r);
    };
    // Another process (the CLI, the web app) may ask for a cancel or destroy through the database.
    const poll = setInterval(() => {
      const wanted = stateOf(id);
      if (wanted === 'cancelling' || wanted === 'destroying' || sql.requested.get(id)) stop();
    }, 1000);
    // In plan order: among steps of equal priority, the earlier instance goes first, which keeps the clone pipeline full.
    launchReady(stepRuns.values());
    if (running.size > 0) await allDone;
    clearInterval(poll);
    flush();
    await Promise.allSettled(running.values());

    if (signal.aborted) {
      db.update(steps)
        .set({ state: 'cancelled' })
        .where(and(eq(steps.deploymentId, id), inArray(steps.state, ['pending', 'running'])))
        .run();
      const current = db.select({ state: deployments.state }).from(deployments).where(eq(deployments.id, id)).get()!
        .state as DeploymentState;
      // A cancel asked here, or by another process; a destroy asked by another process is carried out by the runner.
      if (current === 'cancelling' || sql.requested.get(id) === 'cancel') {
        sql.setRequested.run(null, id);
        if (current !== 'cancelling') setState(id, 'cancelling');
        setState(id, 'cancelled');
        return 'cancelled';
      }
      return current;
    }
    const failed = [...stepRuns.values()]
      .filter((r) => r.state !== undefined && r.state !== 'done' && r.state !== 'skipped')
      .map((r) => r.step.key);
    if (failed.length > 0) {
      const skipped = [...stepRuns.values()].filter((r) => r.state === 'skipped').length;
      setState(
        id,
        'failed',
        `${failed.length} step(s) failed (${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ', ...' : ''}); ${skipped} skipped`,
      );
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
        await executeStep(ctx, step, {
          addressMs: scaled(timeouts.addressMs, scale),
          readyMs: scaled(timeouts.readyMs, scale),
        });
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
          later(() =>
            events.publish(id, 'step.retry', `${message}; retrying in ${Math.round(backoff / scale)} ms`, step.key),
          );
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
      const ref = await platform.ensureNetwork(
        {
          deploymentId: id,
          name: n.resourceName,
          kind: n.kind,
          cidr: n.cidr,
          gateway: n.gateway,
          ...(n.vlan === undefined ? {} : { vlan: n.vlan }),
          internet: n.internet,
          ...(n.egress ? { egress: n.egress } : {}),
          ...(n.natGateway ? { natGateway: true } : {}),
          // Clouds filter natively: every network of an instance carries that instance's networks and firewall.
          ...(onPremises[plan.platform] || n.kind !== 'isolated' ? {} : { range: rangeOf(plan, n.instance) }),
        },
        { signal },
      );
      recordPresent(ctx, n.key, 'network', ref);
      return;
    }
    const m = ctx.machines.get(step.target)!;
    if (step.kind === 'create') {
      // Recorded, with the step's start, before the call: whatever happens next, teardown knows to look for this name.
      later(() => sql.upsertResource.run(id, m.key, 'machine', m.resourceName, null, 'creating'));
      await committed();
      const ref = await platform.createMachine(machineSpec(ctx, m), { signal });
      recordPresent(ctx, m.key, 'machine', ref);
      return;
    }
    const ref = refOf(ctx, m.key, 'Machine');
    if (step.kind === 'start') {
      // With its definition: a platform that builds the machine only at start (Azure boots a VM as it creates it).
      await platform.startMachine(ref, { signal, spec: machineSpec(ctx, m) });
      ctx.specs.delete(m.key);
    } else if (step.kind === 'address') {
      const expect = m.nics.flatMap((n) => (n.ip ? [n.ip] : []));
      const addresses = await platform.waitForAddress(ref, {
        signal,
        timeoutMs: limits.addressMs,
        ...(expect.length > 0 ? { expect } : {}),
      });
      const at = now();
      lazily(() => sql.addresses.run(JSON.stringify(addresses), at, id, m.key));
    } else {
      await platform.waitForReady(ref, { signal, timeoutMs: limits.readyMs });
      const how = await verifyMachine(platform, m, ref, { signal, timeoutMs: Math.min(limits.readyMs, 120_000) });
      if (how) events.publish(id, 'log', how, `${m.key}:ready`);
    }
  }

  /** A machine as the platform is asked for it; built once per run (first boot hashes passwords), kept until started. */
  function machineSpec(ctx: StepContext, m: Plan['machines'][number]): MachineSpec {
    const known = ctx.specs.get(m.key);
    if (known) return known;
    const { id, plan } = ctx;
    const overrides = (m.overrides as Record<string, Record<string, unknown> | undefined>)[plan.platform] ?? {};
    const template = overrides.template ?? overrides.ami ?? overrides.image;
    const spec: MachineSpec = {
      deploymentId: id,
      name: m.resourceName,
      hostname: m.hostname,
      os: m.os,
      ...(template === undefined ? {} : { template: String(template) }),
      cpus: m.size.cpus,
      memoryMb: m.size.memoryMb,
      diskGb: m.size.diskGb,
      nics: m.nics.map((nic) => ({
        network: refOf(ctx, nic.networkKey, 'Network'),
        mac: nic.mac,
        ...(nic.ip ? { ip: nic.ip } : {}),
        ...(nic.publicIp ? { publicIp: true } : {}),
      })),
      cloudInit: measuredFirstBoot(plan, m, ctx.secret, id),
      options: overrides,
      ...routesOf(plan, m),
    };
    ctx.specs.set(m.key, spec);
    return spec;
  }

  /** First-boot media, with its CPU time counted apart so benchmarks can tell orchestration from guest config. */
  function measuredFirstBoot(plan: Plan, m: Plan['machines'][number], secret: string, id: string) {
    const before = process.cpuUsage();
    const yaml = sql.scenarioYaml.get(id)!;
    // A Windows domain member joins with its controller's admin account: its password comes from the controller.
    const join = domainJoinAccount(plan, m);
    const controller = join && plan.machines.find((x) => x.key === join.controllerKey);
    const media = buildBootMedia(plan, m, {
      secret,
      passwords: machinePasswords(m, secret, yaml),
      ...(join && controller ? { domainAdminPassword: machinePasswords(controller, secret, yaml)[join.user] } : {}),
      ...(m.router?.vpn ? { vpnKeys: routerVpnKeys(db, box, id, m.instance) } : {}),
      ...(m.vulnerabilities.length > 0
        ? {
            vulnerabilities: renderMachineVulnerabilities(m.vulnerabilities, {
              os: m.os,
              machineKey: m.key,
              secret,
              seed: plan.seed,
              catalogue: defaultCatalogue(),
              ...(m.windows?.domain ? { domain: m.windows.domain } : {}),
            }),
          }
        : {}),
    });
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
    if (!r?.external_id)
      throw new AppError(
        'internal',
        `${what} ${key} of deployment ${ctx.id} has no platform id although its ${what === 'Machine' ? 'create ' : ''}step is done`,
      );
    const ref = { id: r.external_id, name: r.name };
    ctx.refs.set(key, ref);
    return ref;
  }

  return { deploy };
}

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
  /** Machine definitions built in this run, by plan key, until the machine is started. */
  specs: Map<string, MachineSpec>;
}

/** A limit for a sped-up platform; a floor keeps it above event-loop stalls on a loaded machine. */
function scaled(ms: number, scale: number): number {
  return scale < 1 ? Math.max(ms * scale, Math.min(ms, 10_000)) : ms;
}

/** A step in a run: its state, its dependencies not yet done, its priority and the steps that wait for it. */
interface StepRun {
  step: PlannedStep;
  /** As stored; undefined for a step the database does not hold (never run). */
  state: StepState | undefined;
  open: number;
  /** The nominal length of the longest chain from its start to the end of the deployment; -1 until computed. */
  priority: number;
  dependants: StepRun[];
}

const noDependants: StepRun[] = [];

/** A step's priority: the nominal length of the longest chain from its start to the end of the deployment. */
function bottomLevel(r: StepRun): number {
  if (r.priority < 0) r.priority = nominalSeconds[r.step.kind] + Math.max(0, ...r.dependants.map(bottomLevel));
  return r.priority;
}

/** One instance's isolated networks and the plan's firewall, as a cloud driver builds its address space and filters. */
function rangeOf(plan: Plan, instance: number): RangeSpec {
  return {
    networks: plan.networks
      .filter((x) => x.instance === instance && x.kind === 'isolated')
      .map((x) => ({
        name: x.resourceName,
        cidr: x.cidr,
        internet: x.internet,
        ...(x.egress ? { egress: x.egress } : {}),
      })),
    firewall: plan.firewall,
    ...edgeOf(plan, instance),
    ...(plan.vpn ? { vpn: { cidr: plan.vpn.cidr, port: plan.vpn.port } } : {}),
  };
}

/** The instance's edge network (AWS: the range router's or NAT gateway's), by platform name. */
function edgeOf(plan: Plan, instance: number): { edge?: string } {
  const edge = plan.networks.find((x) => x.instance === instance && x.kind === 'isolated' && x.name === uplinkKey);
  return edge ? { edge: edge.resourceName } : {};
}

/** A cloud's range router: the networks (platform names) whose default route goes through it. */
function routesOf(plan: Plan, m: Plan['machines'][number]): Pick<MachineSpec, 'routesFor' | 'vpnCidr'> {
  if (m.role !== 'router' || !m.router?.cloud) return {};
  return {
    ...(m.router.vpn ? { vpnCidr: m.router.vpn.cidr } : {}),
    routesFor: plan.networks
      .filter((x) => x.instance === m.instance && x.egress === 'router')
      .map((x) => x.resourceName),
  };
}
