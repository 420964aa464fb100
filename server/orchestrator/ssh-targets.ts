// How the appliance reaches a lab machine over SSH: the machine's planned address through its range's router (the
// only machine with a NIC on the appliance's side), as the first sudo user of its plan with the password first boot
// set, the host key trusted on first use and kept per machine. What the overseer's fixes and testing mode use where
// the platform has no guest channel.
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, hostKeys, machineHealth, resources } from '../db/schema.ts';
import { ipToInt, parseSubnet, containsIp } from '../ipam/cidr.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';
import type { SecretBox } from '../secret-box.ts';
import type { SshTarget } from '../ssh/connection.ts';
import { machinePasswords } from './passwords.ts';

export type RangeTarget =
  | { ok: true; ssh: SshTarget; sudoPassword: string; user: string }
  /** Why the appliance cannot reach the machine over SSH (no uplink, no sudo user, no address known). */
  | { ok: false; reason: string };

/** The addresses a machine was last seen with: the health sweep's, else what its address step recorded. */
function seenAddresses(db: Db, deploymentId: string, key: string): string[] {
  const health = db
    .select({ addresses: machineHealth.addresses })
    .from(machineHealth)
    .where(and(eq(machineHealth.deploymentId, deploymentId), eq(machineHealth.key, key)))
    .get();
  if (health && health.addresses.length > 0) return health.addresses;
  const r = db
    .select({ addresses: resources.addresses })
    .from(resources)
    .where(and(eq(resources.deploymentId, deploymentId), eq(resources.key, key)))
    .get();
  return r?.addresses ?? [];
}

/** The router's address on the appliance's side: the one it reports outside every lab network of its plan. */
export function uplinkAddress(plan: Plan, router: PlannedMachine, seen: string[]): string | undefined {
  const labs = plan.networks
    .filter((n) => n.instance === router.instance && n.kind === 'isolated')
    .flatMap((n) => {
      const s = parseSubnet(n.cidr);
      return 'error' in s ? [] : [s];
    });
  return seen.find((a) => {
    const ip = ipToInt(a);
    return ip !== undefined && !labs.some((s) => containsIp(s, ip));
  });
}

/**
 * The host keys a machine of a range has shown before (trusted on first use, enforced afterwards): one store for the
 * web terminal, the overseer and testing mode.
 */
export function knownHostKeys(db: Db, deploymentId: string, machineKey: string): SshTarget['hostKey'] {
  const known = db
    .select({ fp: hostKeys.fingerprint })
    .from(hostKeys)
    .where(and(eq(hostKeys.deploymentId, deploymentId), eq(hostKeys.machineKey, machineKey)))
    .all()
    .map((r) => r.fp);
  return {
    mode: 'trust-on-first-use',
    known,
    remember: (fingerprint) =>
      void db.insert(hostKeys).values({ deploymentId, machineKey, fingerprint }).onConflictDoNothing().run(),
  };
}

export function createRangeAccess(deps: { db: Db; box: SecretBox }) {
  const { db, box } = deps;

  const hostKey = (deploymentId: string, key: string) => knownHostKeys(db, deploymentId, key);

  return {
    /** The SSH target of a planned machine, through its router unless it is the router. */
    target(deploymentId: string, machineKey: string): RangeTarget {
      const d = db
        .select({ plan: deployments.plan, secret: deployments.secret, yaml: deployments.scenarioYaml })
        .from(deployments)
        .where(eq(deployments.id, deploymentId))
        .get();
      if (!d) return { ok: false, reason: `deployment ${deploymentId} does not exist` };
      const plan = d.plan as Plan;
      const machine = plan.machines.find((m) => m.key === machineKey);
      if (!machine) return { ok: false, reason: `machine ${machineKey} is not in the plan` };
      const router = plan.machines.find((m) => m.role === 'router' && m.instance === machine.instance);
      if (!router?.router || router.router.uplinkNic === undefined)
        return {
          ok: false,
          reason: `instance ${machine.instance} has no router with an uplink: the appliance has no network path into it`,
        };
      if (router.router.cloud)
        return {
          ok: false,
          reason: `instance ${machine.instance}'s range router on ${plan.platform} takes no SSH from the appliance (its security group lets in only its networks' traffic and the VPN); reach the range through the VPN`,
        };
      const uplink = uplinkAddress(plan, router, seenAddresses(db, deploymentId, router.key));
      if (!uplink)
        return { ok: false, reason: `the router ${router.key} has reported no address on the appliance's side` };
      const secret = box.open(d.secret);
      const login = (m: PlannedMachine) => {
        const user = m.users.find((u) => u.sudo);
        return user ? { user: user.name, password: machinePasswords(m, secret, d.yaml)[user.name]! } : undefined;
      };
      const routerLogin = login(router);
      if (!routerLogin) return { ok: false, reason: `the router ${router.key} has no sudo user in the plan` };
      const routerTarget: SshTarget = {
        name: router.resourceName,
        host: uplink,
        port: 22,
        credentials: { username: routerLogin.user, password: routerLogin.password },
        hostKey: hostKey(deploymentId, router.key),
      };
      if (machine.key === router.key)
        return { ok: true, ssh: routerTarget, sudoPassword: routerLogin.password, user: routerLogin.user };
      const own = login(machine);
      if (!own) return { ok: false, reason: `machine ${machine.key} has no sudo user in the plan` };
      const address = machine.nics.find((n) => n.ip)?.ip;
      if (!address) return { ok: false, reason: `machine ${machine.key} has no planned static address` };
      return {
        ok: true,
        ssh: {
          name: machine.resourceName,
          host: address,
          port: 22,
          credentials: { username: own.user, password: own.password },
          hostKey: hostKey(deploymentId, machine.key),
          via: routerTarget,
        },
        sudoPassword: own.password,
        user: own.user,
      };
    },
  };
}

export type RangeAccess = ReturnType<typeof createRangeAccess>;
