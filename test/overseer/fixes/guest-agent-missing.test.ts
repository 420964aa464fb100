// Where the overseer's guest-agent fix installs from: the package cache the machine's plan names (the one its range
// router lets it reach), its own mirrors with internet, the configured cache otherwise.
import { describe, expect, it } from 'vitest';
import { packageCacheOf } from '../../../server/overseer/fixes/guest-agent-missing.ts';
import { planDeployment } from '../../../server/orchestrator/planner.ts';
import { parseScenario } from '../../../server/orchestrator/scenario/parse.ts';
import type { PackageCache, Plan, PlannedMachine } from '../../../server/model/plan.ts';

const scenario = `
glassdome: 1
name: fix-cache
title: Fix cache
networks:
  - { name: dmz, cidr: 10.0.1.0/24, internet: true }
  - { name: lan, cidr: 10.0.2.0/24 }
machines:
  - { name: web, os: debian-12, networks: [dmz] }
  - { name: db, os: debian-12, networks: [lan] }
  - { name: kali, os: kali-rolling, networks: [lan] }
`;
const planned: PackageCache = { url: 'http://192.0.2.10:3142', address: '192.0.2.10', port: 3142 };
const configuredNow = 'http://198.51.100.7:3142/debian/';

function planWith(packageCache?: PackageCache): Plan {
  return planDeployment({
    deploymentId: 'fx',
    scenario: parseScenario(scenario),
    platform: 'proxmox',
    instances: 1,
    allocations: { subnets: {}, vlans: { '1/dmz': 11, '1/lan': 12 } },
    ...(packageCache ? { packageCache } : {}),
  });
}
const machineOf = (plan: Plan, key: string): PlannedMachine => plan.machines.find((m) => m.key === key)!;

describe("the guest-agent fix's package source", () => {
  it("uses the plan's cache for a machine the plan sent there, whatever the appliance is configured with now", () => {
    const plan = planWith(planned);
    expect(packageCacheOf(plan, machineOf(plan, 'i1.db'), configuredNow)).toEqual({
      packageCacheUrl: 'http://192.0.2.10:3142/debian/',
    });
  });

  it('leaves a machine with internet to its own mirrors', () => {
    const plan = planWith(planned);
    expect(packageCacheOf(plan, machineOf(plan, 'i1.web'), configuredNow)).toEqual({});
    expect(packageCacheOf(plan, machineOf(plan, 'i1.router'), configuredNow)).toEqual({});
  });

  it('tries the configured cache for a machine without internet that its plan did not send to one', () => {
    const plan = planWith(undefined);
    expect(packageCacheOf(plan, machineOf(plan, 'i1.db'), configuredNow)).toEqual({ packageCacheUrl: configuredNow });
    expect(packageCacheOf(plan, machineOf(planWith(planned), 'i1.kali'), configuredNow)).toEqual({
      packageCacheUrl: configuredNow,
    });
    expect(packageCacheOf(plan, machineOf(plan, 'i1.db'), undefined)).toEqual({});
  });
});
