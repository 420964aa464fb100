// Address and VLAN pools in SQLite. Allocation and release run in IMMEDIATE transactions, and every allocated
// subnet and VLAN is unique in the database, so two deployments started at once (even from two processes) never share one.
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { cidrPools, settings, subnetAllocations, vlanAllocations, vlanPools } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { Allocations } from '../model/plan.ts';
import { intToIp, lastAddress, overlaps, parseSubnet, type Subnet } from './cidr.ts';

export interface AllocationRequest {
  deploymentId: string;
  /** Scenario network names that need a subnet from a pool. */
  subnets: string[];
  /** `${instance}/${network}` labels that need a VLAN from a pool. */
  vlans: string[];
  /** VLANs the scenario fixes itself; reserved so no other deployment takes them. */
  fixedVlans?: Array<{ vlan: number; label: string }>;
  /** CIDRs the scenario uses itself; allocated subnets must not overlap them. */
  avoid?: string[];
}

export const defaultPools = { cidr: '10.200.0.0/16', subnetPrefix: 24, vlans: { first: 2000, last: 2999 } };

export function createIpam(db: Db, audit: AuditSink) {
  const sqlite = db.$client;

  function addCidrPool(actor: Actor, cidr: string, subnetPrefix = 24) {
    const sub = parseSubnet(cidr);
    if ('error' in sub)
      throw new AppError('invalid_input', `Unable to add address pool: ${sub.error}`, {
        issues: [{ path: 'cidr', message: sub.error }],
      });
    if (subnetPrefix < sub.prefix || subnetPrefix > 29)
      throw new AppError(
        'invalid_input',
        `Unable to add address pool ${sub.cidr}: subnets of /${subnetPrefix} must lie within it and be /29 or wider`,
        { issues: [{ path: 'subnetPrefix', message: `expected ${sub.prefix}..29` }] },
      );
    return sqlite
      .transaction(() => {
        for (const p of db.select().from(cidrPools).all()) {
          const other = parseSubnet(p.cidr) as Subnet;
          if (overlaps(sub, other))
            throw new AppError('conflict', `Unable to add address pool ${sub.cidr}: it overlaps pool ${p.cidr}`, {
              issues: [{ path: 'cidr', message: `overlaps ${p.cidr}` }],
            });
        }
        const row = db.insert(cidrPools).values({ cidr: sub.cidr, subnetPrefix }).returning().get();
        audit.record(actor, 'pool.create', `cidr:${sub.cidr}`, `/${subnetPrefix} subnets`);
        return row;
      })
      .immediate();
  }

  function addVlanPool(actor: Actor, first: number, last: number) {
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 1 || last > 4094 || first > last)
      throw new AppError(
        'invalid_input',
        `Unable to add VLAN pool ${first}-${last}: expected 1 <= first <= last <= 4094`,
        { issues: [{ path: 'first', message: 'expected 1 <= first <= last <= 4094' }] },
      );
    return sqlite
      .transaction(() => {
        for (const p of db.select().from(vlanPools).all())
          if (first <= p.last && p.first <= last)
            throw new AppError(
              'conflict',
              `Unable to add VLAN pool ${first}-${last}: it overlaps pool ${p.first}-${p.last}`,
            );
        const row = db.insert(vlanPools).values({ first, last }).returning().get();
        audit.record(actor, 'pool.create', `vlan:${first}-${last}`);
        return row;
      })
      .immediate();
  }

  /** Creates the default pools once, on first start, so a fresh appliance can deploy at once. */
  function seedDefaults() {
    sqlite
      .transaction(() => {
        if (db.select().from(settings).where(eq(settings.key, 'ipam.seeded')).get()) return;
        if (db.select().from(cidrPools).all().length === 0)
          db.insert(cidrPools).values({ cidr: defaultPools.cidr, subnetPrefix: defaultPools.subnetPrefix }).run();
        if (db.select().from(vlanPools).all().length === 0) db.insert(vlanPools).values(defaultPools.vlans).run();
        db.insert(settings).values({ key: 'ipam.seeded', value: new Date().toISOString() }).run();
      })
      .immediate();
  }

  function listPools() {
    const cidr = db.select().from(cidrPools).all();
    const vlan = db.select().from(vlanPools).all();
    const subnetsUsed = db.select().from(subnetAllocations).all();
    const vlansUsed = db.select().from(vlanAllocations).all();
    return {
      cidr: cidr.map((p) => {
        const sub = parseSubnet(p.cidr) as Subnet;
        return {
          ...p,
          capacity: 2 ** (p.subnetPrefix - sub.prefix),
          used: subnetsUsed.filter((a) => a.poolId === p.id).length,
        };
      }),
      vlan: vlan.map((p) => ({
        ...p,
        capacity: p.last - p.first + 1,
        used: vlansUsed.filter((a) => a.vlan >= p.first && a.vlan <= p.last).length,
      })),
    };
  }

  /** Allocates everything a deployment needs, all or nothing. Calling it again for the same deployment returns what it has. */
  function allocate(req: AllocationRequest): Allocations {
    return sqlite
      .transaction((): Allocations => {
        const existing = forDeployment(req.deploymentId);
        const subnets: Record<string, string> = { ...existing.subnets };
        const vlans: Record<string, number> = { ...existing.vlans };

        const taken = db
          .select({ cidr: subnetAllocations.cidr })
          .from(subnetAllocations)
          .all()
          .map((a) => parseSubnet(a.cidr) as Subnet);
        const avoid = (req.avoid ?? []).map((c) => parseSubnet(c)).filter((s): s is Subnet => !('error' in s));
        const pools = db.select().from(cidrPools).all();
        for (const network of req.subnets) {
          if (subnets[network]) continue;
          const found = findFreeSubnet(pools, [...taken, ...avoid]);
          if (!found)
            throw new AppError(
              'conflict',
              `Unable to allocate a subnet for network "${network}": every address pool is full`,
              { hint: 'Add an address pool in Settings, or destroy deployments you no longer need.' },
            );
          db.insert(subnetAllocations)
            .values({ poolId: found.poolId, cidr: found.subnet.cidr, deploymentId: req.deploymentId, network })
            .run();
          taken.push(found.subnet);
          subnets[network] = found.subnet.cidr;
        }

        const used = new Set(
          db
            .select({ vlan: vlanAllocations.vlan })
            .from(vlanAllocations)
            .all()
            .map((a) => a.vlan),
        );
        for (const f of req.fixedVlans ?? []) {
          if (Object.values(vlans).includes(f.vlan)) continue;
          if (used.has(f.vlan))
            throw new AppError(
              'conflict',
              `Unable to reserve VLAN ${f.vlan} for network "${f.label}": another deployment uses it`,
              { hint: 'Remove "vlan" from the network to take one from the pool, or destroy the other deployment.' },
            );
          db.insert(vlanAllocations).values({ vlan: f.vlan, deploymentId: req.deploymentId, label: f.label }).run();
          used.add(f.vlan);
        }
        const vlanRanges = db
          .select()
          .from(vlanPools)
          .all()
          .sort((a, b) => a.first - b.first);
        let cursor = 0;
        for (const label of req.vlans) {
          if (vlans[label] !== undefined) continue;
          let vlan: number | undefined;
          for (const p of vlanRanges) {
            for (let v = Math.max(p.first, cursor); v <= p.last; v++)
              if (!used.has(v)) {
                vlan = v;
                break;
              }
            if (vlan !== undefined) break;
          }
          if (vlan === undefined)
            throw new AppError('conflict', `Unable to allocate a VLAN for "${label}": every VLAN pool is full`, {
              hint: 'Add a VLAN pool in Settings, or destroy deployments you no longer need.',
            });
          db.insert(vlanAllocations).values({ vlan, deploymentId: req.deploymentId, label }).run();
          used.add(vlan);
          cursor = vlan + 1;
          vlans[label] = vlan;
        }
        return { subnets, vlans };
      })
      .immediate();
  }

  function forDeployment(deploymentId: string): Allocations {
    const subnets = Object.fromEntries(
      db
        .select()
        .from(subnetAllocations)
        .where(eq(subnetAllocations.deploymentId, deploymentId))
        .all()
        .map((a) => [a.network, a.cidr]),
    );
    const vlans = Object.fromEntries(
      db
        .select()
        .from(vlanAllocations)
        .where(eq(vlanAllocations.deploymentId, deploymentId))
        .all()
        .map((a) => [a.label, a.vlan]),
    );
    return { subnets, vlans };
  }

  /** Returns a deployment's subnets and VLANs to their pools. Releasing twice is harmless. */
  function release(deploymentId: string): void {
    sqlite
      .transaction(() => {
        db.delete(subnetAllocations).where(eq(subnetAllocations.deploymentId, deploymentId)).run();
        db.delete(vlanAllocations).where(eq(vlanAllocations.deploymentId, deploymentId)).run();
      })
      .immediate();
  }

  return { addCidrPool, addVlanPool, seedDefaults, listPools, allocate, forDeployment, release };
}

export type Ipam = ReturnType<typeof createIpam>;

function findFreeSubnet(
  pools: Array<typeof cidrPools.$inferSelect>,
  taken: Subnet[],
): { poolId: number; subnet: Subnet } | undefined {
  for (const pool of pools) {
    const range = parseSubnet(pool.cidr) as Subnet;
    const step = 2 ** (32 - pool.subnetPrefix);
    const inPool = taken.filter((t) => overlaps(t, range));
    for (let base = range.base; base + step - 1 <= lastAddress(range); base += step) {
      const candidate: Subnet = { base, prefix: pool.subnetPrefix, cidr: `${intToIp(base)}/${pool.subnetPrefix}` };
      if (!inPool.some((t) => overlaps(t, candidate))) return { poolId: pool.id, subnet: candidate };
    }
  }
  return undefined;
}
