// Shared by the Reaper tests: a one-machine lab on an offline network (where vulnerable machines belong), its
// modules resolved and rendered, and the user-data buildCloudInit makes of them.
import { buildCloudInit } from '../../server/agents/cloud-init.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import type { VulnerabilityInstance, VulnerabilityRequest } from '../../server/model/vulnerability.ts';
import { defaultCatalogue } from '../../server/reaper/catalogue.ts';
import type { Catalogue } from '../../server/reaper/module-schema.ts';
import { renderMachineVulnerabilities } from '../../server/reaper/render.ts';
import type { RenderedVulnerability } from '../../server/model/vulnerability.ts';
import { resolveVulnerabilities, type VulnerabilityRequestInput } from '../../server/reaper/selection.ts';
import { machine, passwordsFor, planOf } from '../agents/lab-plan.ts';

export const secret = 'reaper-test-secret';
export const seed = 'reaper-test-seed';

export function labPlan(os: string): Plan {
  return planOf(`
glassdome: 1
name: reaper-lab
title: Reaper lab
networks: [{ name: lab, cidr: 10.77.0.0/24, vlan: 77 }]
machines:
  - { name: target, os: ${os}, networks: [lab] }
`);
}

export interface AppliedMachine {
  plan: Plan;
  machine: PlannedMachine;
  instances: VulnerabilityInstance[];
  rendered: RenderedVulnerability[];
  userData: string;
}

/** Resolves the requests on the lab's target machine and builds its first-boot user-data with them. */
export function applyTo(
  os: string,
  requests: Array<VulnerabilityRequestInput | VulnerabilityRequest>,
  catalogue: Catalogue = defaultCatalogue(),
): AppliedMachine {
  const plan = labPlan(os);
  const m = machine(plan, 'i1.target');
  const resolution = resolveVulnerabilities(
    requests,
    { key: m.key, name: 'target', os, users: m.users.map((u) => u.name) },
    { seed, catalogue },
  );
  if (resolution.issues.length > 0) throw new Error(resolution.issues.join('\n'));
  const rendered = renderMachineVulnerabilities(resolution.instances, {
    os,
    machineKey: m.key,
    secret,
    seed,
    catalogue,
  });
  const media = buildCloudInit(m, {
    networks: plan.networks,
    passwords: passwordsFor(m),
    instanceId: `iid-${m.key}`,
    secret,
    vulnerabilities: rendered,
  });
  return { plan, machine: m, instances: resolution.instances, rendered, userData: media.userData };
}
