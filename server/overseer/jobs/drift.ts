// The drift job (every 5 minutes): each platform's whole inventory (ours by tag or name, NICs included) against the
// database: machines gone missing, orphans nobody owns, size and NIC drift, power changed outside the appliance.
// Findings are fixed by policy: missing machines rebuilt from the plan, orphans destroyed after their grace period.
import { errorMessage } from '../../errors.ts';
import type { FindingKind } from '../../model/overseer.ts';
import { builtStates, driftFindings, type KnownMachine } from '../checks/drift.ts';
import type { OverseerContext } from '../context.ts';
import type { FindingDraft } from '../findings.ts';
import { observe } from '../observe.ts';

export const driftKinds: readonly FindingKind[] = [
  'machine-missing',
  'orphan',
  'config-drift',
  'power-off',
  'power-on',
];

/** Resolved findings are kept this long, then pruned by this job. */
const keepResolvedMs = 30 * 24 * 3600_000;

export async function runDrift(ctx: OverseerContext, signal: AbortSignal): Promise<string> {
  const { platforms, lifecycle } = ctx.deps;
  const now = ctx.now();
  const at = now.toISOString();
  const live = ctx.watch.load();
  const states = ctx.watch.states();
  const stopped = lifecycle.stoppedOnPurpose();
  const known = new Map<string, KnownMachine>();
  for (const d of live)
    for (const m of d.machines)
      known.set(m.resourceName, {
        deploymentId: d.id,
        platformId: d.platformId,
        state: d.state,
        machine: m.machine,
        resourceName: m.resourceName,
        externalId: m.externalId,
        created: m.created,
        desired: stopped.has(`${d.id}/${m.machine.key}`) ? 'stopped' : d.state === 'ready' ? 'running' : 'any',
        nics: m.machine.nics.map((n) => {
          const net = d.plan.networks.find((x) => x.key === n.networkKey);
          return { network: d.networkIds.get(n.networkKey), vlan: net?.vlan };
        }),
      });

  const drafts: FindingDraft[] = [];
  const observed: string[] = [];
  const notes: string[] = [];
  let listed = 0;
  await Promise.all(
    platforms.list().map(async (p) => {
      const mine = live.filter((d) => d.platformId === p.id);
      try {
        const platform = await platforms.instance(p.id);
        if (!platform.inventory && mine.length === 0) return;
        const obs = await observe(
          platform,
          mine.flatMap((d) =>
            d.machines.flatMap((m) =>
              m.created && builtStates.includes(d.state)
                ? [{ deploymentId: d.id, ref: { id: m.externalId!, name: m.resourceName } }]
                : [],
            ),
          ),
          { config: true, concurrency: ctx.options.concurrency, signal },
        );
        if (obs.how !== 'inventory') notes.push(`${p.name}: no inventory, orphans cannot be seen there`);
        listed += obs.byName.size;
        drafts.push(...driftFindings(p.id, [...obs.byName.values()], known, states));
        observed.push(p.id);
      } catch (e) {
        signal.throwIfAborted();
        notes.push(`${p.name} unreadable: ${errorMessage(e)}`);
      }
    }),
  );
  if (observed.length === 0 && notes.some((n) => n.includes('unreadable')))
    throw new Error(`no platform could be read: ${notes.join('; ')}`);
  const synced = ctx.findings.sync(drafts, { kinds: driftKinds, platformIds: observed }, at);
  for (const f of synced.opened)
    ctx.publish(f.deploymentId, `finding: ${f.message}`, f.machineKey && `${f.machineKey}:health`);
  for (const f of synced.resolved)
    ctx.publish(
      f.deploymentId,
      `resolved: ${f.kind} of ${f.machineKey ?? f.resourceName}`,
      f.machineKey && `${f.machineKey}:health`,
    );
  const started = ctx.fix(synced.open);
  const pruned = ctx.findings.prune(new Date(now.getTime() - keepResolvedMs).toISOString());
  const count = (k: FindingKind) => synced.open.filter((f) => f.kind === k).length;
  return [
    `${listed} machine(s) listed on ${observed.length} platform(s) against ${known.size} planned`,
    `${count('machine-missing')} missing, ${count('orphan')} orphan(s), ${count('config-drift')} drifted, ${count('power-off') + count('power-on')} power change(s)`,
    `${synced.opened.length} new, ${synced.resolved.length} resolved`,
    ...(started > 0 ? [`${started} fix(es) started`] : []),
    ...(pruned > 0 ? [`${pruned} old finding(s) pruned`] : []),
    ...notes,
  ].join('; ');
}
