// WireGuard keys as the agents need them for a range router's first boot: its own private key and its peers' public
// keys. Generated and kept sealed by the appliance (server/access/vpn-keys.ts); never in a plan or a log.

export interface RouterVpnKeys {
  privateKey: string;
  /** Public keys of the router's peers, by role (a peer without a key is left out). */
  peers: Partial<Record<'trainee' | 'instructor', string>>;
}
