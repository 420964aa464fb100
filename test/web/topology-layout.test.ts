// The topology drawing as data: on premises the router sits above every network; a cloud's one-armed router is
// drawn for its edge network, linked only to the networks it serves, and the scenario's firewall is listed on every
// platform (routers enforce it on premises, security groups and NSGs on the clouds).
import { expect, it } from 'vitest';
import type { Plan, PlanInput } from '../../server/model/plan.ts';
import { allocationNeeds, planDeployment } from '../../server/orchestrator/planner.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import { topologyOf } from '../../server/web/topology-layout.ts';
import type { DeploymentModel } from '../../views/props.ts';

const scenario = parseScenario(`glassdome: 1
name: topo
title: Topology
networks:
  - { name: dmz, cidr: 10.0.1.0/24, internet: true }
  - { name: lan, cidr: 10.0.2.0/24 }
firewall:
  default: deny
  rules:
    - { from: dmz, to: lan, protocol: tcp, ports: 5432 }
machines:
  - { name: web, networks: [dmz] }
  - { name: db, networks: [lan] }
`);

function plan(platform: PlanInput['platform'], extra: Partial<PlanInput> = {}): Plan {
  const vlans = Object.fromEntries(allocationNeeds(scenario, platform, 1).vlans.map((k, i) => [k, 100 + i]));
  return planDeployment({
    deploymentId: 'topo',
    scenario,
    platform,
    instances: 1,
    allocations: { subnets: {}, vlans },
    ...extra,
  });
}

/** What the layout reads of a deployment: its plan, and every machine and network still pending. */
function modelOf(p: Plan): DeploymentModel {
  return {
    plan: p,
    machines: p.machines.map((m) => ({
      key: m.key,
      instance: m.instance,
      role: m.role,
      hostname: m.hostname,
      os: m.os,
      state: 'pending',
      addresses: [],
      plannedAddresses: m.nics.flatMap((n) => (n.ip ? [n.ip] : [])),
    })),
    networks: p.networks.filter((n) => n.kind === 'isolated'),
    assigned: new Map(),
  } as unknown as DeploymentModel;
}

const routerLinks = (t: ReturnType<typeof topologyOf>[number]) =>
  t.links.filter((l) => l.kind === 'router').map((l) => t.networks.find((n) => n.x + n.w / 2 === l.x2)!.name);

it('draws the router above every network on premises, with the scenario firewall', () => {
  const [t] = topologyOf(modelOf(plan('proxmox')));
  expect(t!.networks.map((n) => n.name)).toEqual(['dmz', 'lan']);
  expect(routerLinks(t!)).toEqual(['dmz', 'lan']);
  expect(t!.router!.sub).toBeUndefined();
  expect(t!.rules).toEqual([{ from: 'dmz', to: 'lan', protocol: 'tcp', ports: '5432', action: 'allow' }]);
  expect(t!.forwardDefault).toBe('deny');
});

it("draws AWS's one-armed router as the edge, linked to the networks it serves only", () => {
  const [t] = topologyOf(modelOf(plan('aws')));
  expect(t!.networks.map((n) => n.name)).toEqual(['dmz', 'lan']);
  expect(routerLinks(t!)).toEqual(['dmz']);
  expect(t!.router!.sub).toBe('internet egress');
  expect(t!.rules).toHaveLength(1);
  const [v] = topologyOf(modelOf(plan('aws', { vpn: true })));
  expect(routerLinks(v!)).toEqual(['dmz', 'lan']);
  expect(v!.router!.sub).toBe('internet egress, VPN');
});

it('lists the firewall on Azure too, where no router is drawn', () => {
  const [t] = topologyOf(modelOf(plan('azure')));
  expect(t!.router).toBeUndefined();
  expect(t!.rules).toEqual([{ from: 'dmz', to: 'lan', protocol: 'tcp', ports: '5432', action: 'allow' }]);
});
