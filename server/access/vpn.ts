// A trainee's (or the instructor's) WireGuard configuration into one instance: their key, their tunnel address, the
// router's public key, the router's uplink address as the Endpoint, and AllowedIPs = that instance's networks, so
// only lab traffic goes through the tunnel. What a trainee downloads, or scans as a QR code, from their range page.
import { AppError } from '../errors.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';

export interface PeerConfigInput {
  deploymentId: string;
  scenario: string;
  instance: number;
  /** Whose configuration: `trainee alice` or `instructor`. */
  who: string;
  privateKey: string;
  address: string;
  routerPublicKey: string;
  /** The router's uplink address. */
  endpointHost: string;
  port: number;
  /** The instance's lab networks. */
  allowedIps: string[];
}

/** wg-quick's file format; `wg-quick strip` leaves what `wg setconf` reads. */
export function renderPeerConfig(c: PeerConfigInput): string {
  return [
    `# Glassdome VPN into deployment ${c.deploymentId} (${c.scenario}), instance ${c.instance}, for the ${c.who}.`,
    '# Only the lab networks of this instance go through the tunnel.',
    '[Interface]',
    `PrivateKey = ${c.privateKey}`,
    `Address = ${c.address}/32`,
    '',
    '[Peer]',
    `PublicKey = ${c.routerPublicKey}`,
    `Endpoint = ${c.endpointHost}:${c.port}`,
    `AllowedIPs = ${c.allowedIps.join(', ')}`,
    // Keeps the NAT mapping of a classroom router open, so the lab can call back (a trainee's listener).
    'PersistentKeepalive = 25',
    '',
  ].join('\n');
}

/** The VPN side of an instance: its router and the peer address of `role`; refuses a deployment without a VPN. */
export function instanceVpn(
  plan: Plan,
  deploymentId: string,
  instance: number,
  role: 'trainee' | 'instructor',
): { router: PlannedMachine; address: string; allowedIps: string[] } {
  if (!plan.vpn)
    throw new AppError('invalid_input', `Deployment ${deploymentId} has no VPN: it was deployed without one`, {
      hint: 'Deploy the scenario again with the VPN option (on Proxmox, ESXi or AWS, where each instance has a range router).',
    });
  if (!Number.isInteger(instance) || instance < 1 || instance > plan.instances)
    throw new AppError('not_found', `Deployment ${deploymentId} has no instance ${instance}`);
  const router = plan.machines.find((m) => m.instance === instance && m.role === 'router');
  const vpn = router?.router?.vpn;
  if (!router || !vpn)
    throw new AppError(
      'internal',
      `Deployment ${deploymentId} has a VPN but instance ${instance} has no router for it`,
    );
  const peer = vpn.peers.find((p) => p.role === role)!;
  // A cloud's router has no NIC on the lab networks; the peers reach them all the same.
  const cloud = router.router!.cloud;
  return { router, address: peer.address, allowedIps: cloud ? cloud.labCidrs : router.router!.lans.map((l) => l.cidr) };
}
