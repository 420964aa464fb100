// WireGuard keys as the agents need them for a range router's first boot: its own private key and its peers' public
// keys. Generated and kept sealed by the appliance (server/access/vpn-keys.ts); never in a plan or a log. Also the
// state of a trainee seat whose key was made anew, as the pages, API and CLI show it.

export interface RouterVpnKeys {
  privateKey: string;
  /** Public keys of the router's peers, by role (a peer without a key is left out). */
  peers: Partial<Record<'trainee' | 'instructor', string>>;
}

/**
 * The trainee seat of one instance's VPN: its current public key, and whether the instance's router holds it. A seat
 * never rotated has the key its router got at first boot (`router: 'first-boot'`); after a rotation the router is
 * `applied` once its peers were read back with the new key, and `pending` until then (the previous trainee's
 * configuration still connects).
 */
export interface TraineeVpnState {
  deploymentId: string;
  instance: number;
  publicKey: string;
  router: 'first-boot' | 'applied' | 'pending';
  /** How the router was read back, or why the change is not on it yet. */
  detail: string;
  rotatedAt: string | null;
  rotatedBy: string | null;
  checkedAt: string | null;
}

/** Who works in one instance of a deployment, and its VPN seat (null: the deployment has no VPN). */
export interface InstanceAssignment {
  deploymentId: string;
  instance: number;
  trainee: { id: string; username: string } | null;
  vpn: TraineeVpnState | null;
}

/** What giving an instance to someone else did: `changed` false when it already was theirs (nothing was done). */
export interface ReassignResult extends InstanceAssignment {
  changed: boolean;
  previous: { id: string; username: string } | null;
  /** The seat's key was made anew (it left a trainee, on a deployment with a VPN). */
  rotated: boolean;
}
