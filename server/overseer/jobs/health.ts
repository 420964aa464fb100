// The health job (every minute): for every machine of every built deployment, power, guest agent, addresses and
// load from each platform's inventory in one batch, and each running router's firewall (and VPN peers) read back
// through the guest channel. What changed becomes an event on the deployment; problems become findings, fixed by policy.
import {
  checkRuleset,
  checkTestingRuleset,
  checkVpnPeers,
  rulesetReadback,
  vpnPeersReadback,
} from '../../agents/lab-router.ts';
import { errorMessage } from '../../errors.ts';
import type { FindingKind, TestingAllowList } from '../../model/overseer.ts';
import { mapLimit } from '../../platforms/shared/retry.ts';
import { assessHealth, describeChange, type RouterObservation } from '../checks/health.ts';
import { builtStates } from '../checks/drift.ts';
import type { OverseerContext } from '../context.ts';
import type { FindingDraft } from '../findings.ts';
import { observe, type Observation } from '../observe.ts';
import type { WatchedDeployment } from '../watch.ts';

export const healthKinds: readonly FindingKind[] = [
  'power-off',
  'power-on',
  'guest-agent-missing',
  'address-missing',
  'router-unreachable',
  'router-firewall',
  'testing-mode-missing',
  'vpn-peers-stale',
];

interface HealthRow {
  power: string;
  agent: string;
  addresses: string[];
  router: string | null;
  runningSince: string | null;
}

export async function runHealth(ctx: OverseerContext, signal: AbortSignal): Promise<string> {
  const { db, platforms, lifecycle, testing } = ctx.deps;
  const now = ctx.now();
  const at = now.toISOString();
  const watched = ctx.watch.load(builtStates);
  const stopped = lifecycle.stoppedOnPurpose();
  const inTesting = new Map(testing.active().map((t) => [`${t.deploymentId}/${t.instance}`, t.allow]));
  const previous = new Map(
    db.$client
      .prepare<[], HealthRow & { id: string; key: string; addresses: string }>(
        'SELECT deployment_id AS id, key, power, agent, addresses, router, running_since AS runningSince FROM machine_health',
      )
      .all()
      .map((r) => [`${r.id}/${r.key}`, { ...r, addresses: JSON.parse(r.addresses) as string[] }]),
  );

  const byPlatform = new Map<string, WatchedDeployment[]>();
  for (const d of watched) byPlatform.set(d.platformId, [...(byPlatform.get(d.platformId) ?? []), d]);
  const failedPlatforms: string[] = [];
  const observed = new Map<string, { obs: Observation; routers: Map<string, RouterObservation> }>();
  await Promise.all(
    [...byPlatform].map(async ([platformId, deps]) => {
      try {
        const platform = await platforms.instance(platformId);
        const known = deps.flatMap((d) =>
          d.machines.flatMap((m) =>
            m.created ? [{ deploymentId: d.id, ref: { id: m.externalId!, name: m.resourceName } }] : [],
          ),
        );
        const obs = await observe(platform, known, {
          deploymentIds: deps.map((d) => d.id),
          guest: true,
          concurrency: ctx.options.concurrency,
          signal,
        });
        const routers = new Map<string, RouterObservation>();
        const candidates = deps.flatMap((d) =>
          d.machines
            .filter((m) => m.created && m.machine.role === 'router')
            .filter((m) => {
              const seen = obs.byName.get(m.resourceName);
              return seen?.power === 'running' && seen.agent !== false;
            })
            .map((m) => ({ d, m })),
        );
        await mapLimit(candidates, ctx.options.concurrency, async ({ d, m }) => {
          const allow: TestingAllowList | null = inTesting.get(`${d.id}/${m.machine.instance}`) ?? null;
          routers.set(`${d.id}/${m.machine.key}`, await readRouter(ctx, d.id, m.machine, allow, signal));
        });
        observed.set(platformId, { obs, routers });
      } catch (e) {
        signal.throwIfAborted();
        failedPlatforms.push(`${platformId}: ${errorMessage(e)}`);
      }
    }),
  );

  const drafts: FindingDraft[] = [];
  const busy = new Set<string>();
  const covered = new Set<string>();
  const changes: Array<{ id: string; key: string; text: string }> = [];
  const upsert = db.$client.prepare(
    'INSERT INTO machine_health (deployment_id, key, power, agent, addresses, router, cpu_load, running_since, checked_at, changed_at) ' +
      'VALUES (@id, @key, @power, @agent, @addresses, @router, @cpuLoad, @runningSince, @at, @at) ' +
      'ON CONFLICT (deployment_id, key) DO UPDATE SET power = excluded.power, agent = excluded.agent, addresses = excluded.addresses, ' +
      'router = excluded.router, cpu_load = excluded.cpu_load, running_since = excluded.running_since, checked_at = excluded.checked_at, ' +
      'changed_at = CASE WHEN @changed THEN excluded.changed_at ELSE machine_health.changed_at END',
  );
  let machines = 0;
  let running = 0;
  db.$client.transaction(() => {
    for (const d of watched) {
      const seen = observed.get(d.platformId);
      if (!seen) continue;
      covered.add(d.id);
      for (const m of d.machines) {
        if (!m.created) continue;
        machines++;
        const key = `${d.id}/${m.machine.key}`;
        const inv = seen.obs.byName.get(m.resourceName);
        const before = previous.get(key);
        const h = assessHealth(
          {
            deploymentId: d.id,
            platformId: d.platformId,
            machine: m.machine,
            resourceName: m.resourceName,
            externalId: m.externalId,
            desired: stopped.has(key) ? 'stopped' : d.state === 'ready' ? 'running' : 'any',
          },
          inv
            ? {
                power: inv.power,
                ...(inv.agent !== undefined ? { agent: inv.agent } : {}),
                ...(inv.addresses !== undefined ? { addresses: inv.addresses } : {}),
                ...(inv.cpuLoad !== undefined ? { cpuLoad: inv.cpuLoad } : {}),
              }
            : { power: 'missing' },
          before,
          seen.routers.get(key),
          now,
          { agentGraceMs: ctx.options.agentGraceMs },
        );
        if (h.power === 'running') running++;
        if ((h.cpuLoad ?? 0) >= ctx.options.busyCpu) busy.add(d.id);
        drafts.push(...h.findings);
        const changed = describeChange(before, h);
        if (changed.length > 0) changes.push({ id: d.id, key: m.machine.key, text: changed.join(', ') });
        upsert.run({
          id: d.id,
          key: m.machine.key,
          power: h.power,
          agent: h.agent,
          addresses: JSON.stringify(h.addresses),
          router: h.router,
          cpuLoad: h.cpuLoad,
          runningSince: h.runningSince,
          at,
          changed: before === undefined || changed.length > 0 ? 1 : 0,
        });
      }
    }
  })();
  lifecycle.noteBusy([...busy], at);
  const synced = ctx.findings.sync(
    drafts,
    { kinds: healthKinds, platformIds: [...observed.keys()], deploymentIds: covered },
    at,
  );
  for (const c of changes) ctx.publish(c.id, `${c.key}: ${c.text}`, `${c.key}:health`);
  for (const f of synced.opened)
    ctx.publish(f.deploymentId, `finding: ${f.message}`, f.machineKey && `${f.machineKey}:health`);
  for (const f of synced.resolved)
    ctx.publish(
      f.deploymentId,
      `resolved: ${f.kind} of ${f.machineKey ?? f.resourceName}`,
      f.machineKey && `${f.machineKey}:health`,
    );
  const started = ctx.fix(synced.open);
  // Nothing could be read at all: the sweep did not happen, whatever it wrote.
  if (observed.size === 0 && failedPlatforms.length > 0)
    throw new Error(`no platform could be read: ${failedPlatforms.join('; ')}`);
  const how = [...observed.values()].map((o) => o.obs.how);
  return [
    `${machines} machine(s) of ${covered.size} deployment(s) on ${observed.size} platform(s) (${how.filter((h) => h === 'inventory').length} by inventory): ${running} running`,
    `${changes.length} change(s), ${synced.opened.length} new finding(s), ${synced.resolved.length} resolved, ${synced.open.length} open`,
    ...(started > 0 ? [`${started} fix(es) started`] : []),
    ...(failedPlatforms.length > 0 ? [`unreadable: ${failedPlatforms.join('; ')}`] : []),
  ].join('; ');
}

/** A router's firewall read back through the guest channel (or SSH) and compared with the plan and testing mode. */
async function readRouter(
  ctx: OverseerContext,
  deploymentId: string,
  router: WatchedDeployment['plan']['machines'][number],
  allow: TestingAllowList | null,
  signal: AbortSignal,
): Promise<RouterObservation> {
  // A cloud's router is reached by no guest channel, and the appliance is outside its VPC: its first boot checked its
  // firewall (it is not ready otherwise), and nothing here can read it since.
  if (router.router?.cloud)
    return {
      state: 'unchecked',
      problems: ["a cloud's range router: no guest channel reaches it; its first boot checked its firewall"],
      testing: [],
    };
  try {
    const out = await ctx.deps.channel.run(deploymentId, router.key, rulesetReadback, { timeoutMs: 20_000, signal });
    if (out.exitCode !== 0)
      return {
        state: 'unreachable',
        problems: [
          `\`${rulesetReadback.join(' ')}\` exited ${out.exitCode}: ${(out.stderr || out.stdout).trim().slice(0, 200)}`,
        ],
        testing: [],
      };
    const problems = checkRuleset(router, out.stdout);
    return {
      state: problems.length > 0 ? 'firewall' : 'ok',
      problems,
      testing: checkTestingRuleset(router, allow, out.stdout),
      ...(router.router?.vpn ? { vpn: await readVpnPeers(ctx, deploymentId, router, signal) } : {}),
    };
  } catch (e) {
    signal.throwIfAborted();
    const message = errorMessage(e);
    // No guest channel and no SSH path (an offline range on ESXi): nothing to hold against the router.
    if (/has no guest channel and/.test(message)) return { state: 'unchecked', problems: [message], testing: [] };
    return { state: 'unreachable', problems: [message], testing: [] };
  }
}

/**
 * A VPN router's WireGuard peers read back and held against the seat keys the appliance holds; what the sweep saw is
 * recorded on the seat (a pending key change the router now holds is applied). Returns what is wrong.
 */
async function readVpnPeers(
  ctx: OverseerContext,
  deploymentId: string,
  router: WatchedDeployment['plan']['machines'][number],
  signal: AbortSignal,
): Promise<string[]> {
  const peers = ctx.deps.vpnPeers.expectedPeers(deploymentId, router.instance);
  const readback = vpnPeersReadback(router);
  const out = await ctx.deps.channel.run(deploymentId, router.key, readback, { timeoutMs: 20_000, signal });
  const problems =
    out.exitCode === 0
      ? checkVpnPeers(router, peers, out.stdout)
      : [`\`${readback.join(' ')}\` exited ${out.exitCode}: ${(out.stderr || out.stdout).trim().slice(0, 200)}`];
  if (peers.trainee) ctx.deps.vpnPeers.observed(deploymentId, router.instance, peers.trainee, problems);
  return problems;
}
