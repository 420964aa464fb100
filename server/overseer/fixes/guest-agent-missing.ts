// The fix for `guest-agent-missing`, wired: the finding's machine from its plan, the SSH target through its range's
// router with the password first boot gave its sudo user, the package cache its plan names, then fixGuestAgent
// (guest-agent.ts) does the work; each step it reports goes to the deployment's event stream.
import { aptRepositoryUrl } from '../../agents/package-cache.ts';
import type { Plan, PlannedMachine } from '../../model/plan.ts';
import type { FixInput, FixOutcome } from './fix.ts';
import { fixGuestAgent, guestAgentFindingKind } from './guest-agent.ts';

export async function fixGuestAgentFinding({ finding, platform, ctx, signal }: FixInput): Promise<FixOutcome> {
  const { deploymentId, machineKey, externalId, resourceName } = finding;
  if (!deploymentId || !machineKey || !externalId) return { state: 'failed', detail: 'the finding names no machine' };
  // On the clouds the guest signal is the platform's own (EC2's instance status check, Azure's VM Agent), not an
  // agent the appliance installs: nothing to fix over SSH, and pretending to would reopen the finding every sweep.
  if (platform.kind === 'aws' || platform.kind === 'azure')
    return {
      state: 'failed',
      detail: `not fixable by the appliance on ${platform.kind}: the guest signal is the platform's own status check; look at the machine's console output`,
    };
  const plan = ctx.watch.plan(deploymentId);
  const machine = plan?.machines.find((m) => m.key === machineKey);
  if (!plan || !machine) return { state: 'failed', detail: `machine ${machineKey} is not in its plan` };
  const target = ctx.deps.access.target(deploymentId, machineKey);
  if (!target.ok) return { state: 'failed', detail: `not fixable over SSH: ${target.reason}` };
  const o = ctx.options;
  const outcome = await fixGuestAgent({
    finding: {
      kind: guestAgentFindingKind,
      machine: resourceName,
      os: machine.os,
      ref: { id: externalId, name: resourceName },
    },
    platform,
    ssh: target.ssh,
    sudoPassword: target.sudoPassword,
    ...packageCacheOf(plan, machine, o.packageCacheUrl),
    ...(o.ssh ? { connect: o.ssh } : {}),
    ...(o.guestAgentFix ?? {}),
    signal,
    onAttempt: (r) =>
      ctx.publish(
        deploymentId,
        `guest-agent fix, attempt ${r.attempt} ${r.step}: ${r.ok ? 'ok' : 'failed'}: ${r.detail}`,
        `${machineKey}:health`,
      ),
  });
  switch (outcome.state) {
    case 'already-working':
      return { state: 'fixed', detail: 'the guest agent answers again; nothing was run' };
    case 'fixed':
      return { state: 'fixed', detail: `installed and started the guest agent over SSH (attempt ${outcome.attempts})` };
    default:
      return { state: 'failed', detail: outcome.reason };
  }
}

/**
 * Where the fix installs from: the package cache the plan sent the machine to (the one its range router lets it
 * reach); a machine with internet, its own sources; one without, the appliance's cache URL when one is configured.
 */
export function packageCacheOf(
  plan: Plan,
  machine: PlannedMachine,
  configured: string | undefined,
): { packageCacheUrl?: string } {
  if (machine.packageCache && plan.packageCache) return { packageCacheUrl: aptRepositoryUrl(plan.packageCache) };
  const online = machine.nics.some((nic) => plan.networks.find((n) => n.key === nic.networkKey)?.internet === true);
  return !online && configured ? { packageCacheUrl: configured } : {};
}
