// The WireGuard keys of a deployment's VPN, made by the appliance when the deployment is created and kept sealed with
// the appliance key: per instance the router's and its trainee seat's, and one instructor key on every router. A
// trainee seat's key is made anew when its instance changes hands.
import crypto from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { vpnKeys } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { RouterVpnKeys } from '../model/vpn.ts';
import type { SecretBox } from '../secret-box.ts';

export type VpnRole = 'router' | 'trainee' | 'instructor';

/** A Curve25519 key pair in WireGuard's form (base64 of the 32 raw bytes), as `wg genkey | wg pubkey` makes. */
export function generateWireguardKeys(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('x25519');
  return {
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32).toString('base64'),
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64'),
  };
}

/** Makes every key of a deployment's VPN (inside the transaction that creates the deployment). */
export function createVpnKeys(db: Db, box: SecretBox, deploymentId: string, instances: number): void {
  const rows: Array<{ instance: number; role: VpnRole }> = [{ instance: 0, role: 'instructor' }];
  for (let i = 1; i <= instances; i++) rows.push({ instance: i, role: 'router' }, { instance: i, role: 'trainee' });
  for (const r of rows) {
    const k = generateWireguardKeys();
    db.insert(vpnKeys)
      .values({ deploymentId, ...r, privateKey: box.seal(k.privateKey), publicKey: k.publicKey })
      .onConflictDoNothing()
      .run();
  }
}

/** One key pair, opened; the instructor's is instance 0. */
export function vpnKey(
  db: Db,
  box: SecretBox,
  deploymentId: string,
  instance: number,
  role: VpnRole,
): { privateKey: string; publicKey: string } {
  const at = role === 'instructor' ? 0 : instance;
  const r = db
    .select()
    .from(vpnKeys)
    .where(and(eq(vpnKeys.deploymentId, deploymentId), eq(vpnKeys.instance, at), eq(vpnKeys.role, role)))
    .get();
  if (!r)
    throw new AppError(
      'not_found',
      `Deployment ${deploymentId} has no VPN key for the ${role} of instance ${instance}`,
      {
        hint: 'Only deployments created with the VPN option have one.',
      },
    );
  return { privateKey: box.open(r.privateKey), publicKey: r.publicKey };
}

/** What a router's first boot needs: its private key and its peers' public keys. */
export function routerVpnKeys(db: Db, box: SecretBox, deploymentId: string, instance: number): RouterVpnKeys {
  return {
    privateKey: vpnKey(db, box, deploymentId, instance, 'router').privateKey,
    peers: {
      trainee: vpnKey(db, box, deploymentId, instance, 'trainee').publicKey,
      instructor: vpnKey(db, box, deploymentId, instance, 'instructor').publicKey,
    },
  };
}

/**
 * Replaces the trainee seat's key of one instance with a new one, sealed like the others; the old one is gone from
 * the appliance (a configuration downloaded before still holds it, which is why the router must drop it). Returns
 * both public keys. Throws not_found when the deployment has no VPN key for that instance.
 */
export function rotateTraineeKey(
  db: Db,
  box: SecretBox,
  deploymentId: string,
  instance: number,
): { previous: string; next: string } {
  const previous = vpnKey(db, box, deploymentId, instance, 'trainee').publicKey;
  const k = generateWireguardKeys();
  db.update(vpnKeys)
    .set({ privateKey: box.seal(k.privateKey), publicKey: k.publicKey, createdAt: new Date().toISOString() })
    .where(and(eq(vpnKeys.deploymentId, deploymentId), eq(vpnKeys.instance, instance), eq(vpnKeys.role, 'trainee')))
    .run();
  return { previous, next: k.publicKey };
}

/** The public keys a router's peers must have (what its WireGuard is checked against); nothing is opened. */
export function peerPublicKeys(db: Db, deploymentId: string, instance: number): RouterVpnKeys['peers'] {
  const rows = db
    .select({ instance: vpnKeys.instance, role: vpnKeys.role, publicKey: vpnKeys.publicKey })
    .from(vpnKeys)
    .where(and(eq(vpnKeys.deploymentId, deploymentId), inArray(vpnKeys.instance, [0, instance])))
    .all();
  const of = (role: VpnRole, at: number) => rows.find((r) => r.role === role && r.instance === at)?.publicKey;
  const trainee = of('trainee', instance);
  const instructor = of('instructor', 0);
  return { ...(trainee ? { trainee } : {}), ...(instructor ? { instructor } : {}) };
}
