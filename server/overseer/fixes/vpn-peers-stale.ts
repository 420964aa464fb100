// The fix for `vpn-peers-stale`: a VPN router whose WireGuard peers are not the seat keys the appliance holds (a
// trainee's new key not applied yet, or an old one back after a snapshot was reverted) gets them again, read back.
import { errorMessage } from '../../errors.ts';
import type { FixInput, FixOutcome } from './fix.ts';

export async function applyVpnPeers({ finding, ctx }: FixInput): Promise<FixOutcome> {
  const { deploymentId, machineKey } = finding;
  const instance = Number(/^i(\d+)\./.exec(machineKey ?? '')?.[1]);
  if (!deploymentId || !Number.isInteger(instance)) return { state: 'failed', detail: 'the finding names no router' };
  try {
    const r = await ctx.deps.vpnPeers.apply(deploymentId, instance);
    return { state: r.ok ? 'fixed' : 'failed', detail: r.detail };
  } catch (e) {
    return { state: 'failed', detail: errorMessage(e) };
  }
}
