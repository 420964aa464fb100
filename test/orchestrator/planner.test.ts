import { describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors.ts';
import { allocationNeeds, planDeployment } from '../../server/orchestrator/planner.ts';
import type { Allocations, Plan, PlanInput } from '../../server/model/plan.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import type { Scenario } from '../../server/model/scenario.ts';
import type { PlatformKind } from '../../server/model/platform-kind.ts';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;
const head = ['glassdome: 1', 'name: lab', 'title: Lab'];

/** dmz (internet) and lan, a web pair, a db depending on it, and a rule from web to db. */
const dmzScenario = () =>
  parseScenario(
    yaml(
      ...head,
      'networks:',
      '  - name: dmz',
      '    cidr: 10.0.1.0/24',
      '    internet: true',
      '  - name: lan',
      '    cidr: 10.0.2.0/24',
      'firewall:',
      '  rules:',
      '    - from: web',
      '      to: db',
      '      ports: 5432',
      '    - from: "*"',
      '      to: lan',
      '      action: deny',
      'machines:',
      '  - name: web',
      '    count: 2',
      '    networks: [dmz, lan]',
      '  - name: db',
      '    networks: [lan]',
      '    dependsOn: [web]',
    ),
  );

/** VLANs for every instance and network the scenario asks for, 100 upward. */
function vlansFor(scenario: Scenario, platform: PlatformKind, instances: number): Allocations['vlans'] {
  return Object.fromEntries(allocationNeeds(scenario, platform, instances).vlans.map((key, i) => [key, 100 + i]));
}

function plan(
  scenario: Scenario,
  platform: PlatformKind = 'simulator',
  instances = 1,
  extra: Partial<PlanInput> = {},
): Plan {
  return planDeployment({
    deploymentId: 'dep1',
    scenario,
    platform,
    instances,
    allocations: { subnets: {}, vlans: vlansFor(scenario, platform, instances) },
    ...extra,
  });
}

const machine = (p: Plan, key: string) => {
  const m = p.machines.find((x) => x.key === key);
  if (!m) throw new Error(`no machine ${key} in ${p.machines.map((x) => x.key).join(', ')}`);
  return m;
};
const ips = (p: Plan, key: string) => machine(p, key).nics.map((n) => n.ip);

function planError(run: () => unknown): AppError {
  try {
    run();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected an AppError');
}

describe('planDeployment', () => {
  it('gives the same plan for the same input', () => {
    const s = dmzScenario();
    const input: PlanInput = {
      deploymentId: 'dep1',
      scenario: s,
      platform: 'proxmox',
      instances: 2,
      allocations: { subnets: {}, vlans: vlansFor(s, 'proxmox', 2) },
    };
    const first = planDeployment(input);
    const second = planDeployment(structuredClone(input));
    expect(second).toEqual(first);
    expect(planDeployment(input)).toEqual(first);
  });

  it('names every resource after the deployment, so two deployments differ', () => {
    const s = dmzScenario();
    const a = plan(s, 'proxmox', 1, { deploymentId: 'aaa' });
    const b = plan(s, 'proxmox', 1, { deploymentId: 'bbb' });
    expect(machine(a, 'i1.web-1').resourceName).toBe('gd-aaa-i1-web-1');
    expect(a.networks.find((n) => n.key === 'i1.dmz')?.resourceName).toBe('gd-aaa-i1-dmz');
    expect(machine(b, 'i1.web-1').resourceName).toBe('gd-bbb-i1-web-1');
    expect(machine(a, 'i1.web-1').nics[0]!.mac).not.toBe(machine(b, 'i1.web-1').nics[0]!.mac);
  });

  describe('router', () => {
    it('adds one router per instance on the simulator, with a NIC at each gateway and an uplink NIC for internet', () => {
      const p = plan(dmzScenario(), 'simulator', 2);
      const routers = p.machines.filter((m) => m.role === 'router');
      expect(routers.map((r) => r.key)).toEqual(['i1.router', 'i2.router']);
      const r2 = machine(p, 'i2.router');
      expect(r2.hostname).toBe('router');
      expect(r2.nics.map((n) => [n.networkKey, n.ip, n.prefix])).toEqual([
        ['i2.dmz', '10.0.1.1', 24],
        ['i2.lan', '10.0.2.1', 24],
        ['uplink', undefined, 0],
      ]);
      expect(r2.router).toMatchObject({ uplinkNic: 2, forwardDefault: 'deny', nat: ['10.0.1.0/24'] });
      expect(r2.router!.lans.map((l) => [l.networkKey, l.address, l.internet])).toEqual([
        ['i2.dmz', '10.0.1.1', true],
        ['i2.lan', '10.0.2.1', false],
      ]);
      // One uplink network for the whole deployment, besides each instance's own two.
      expect(p.networks.map((n) => n.key)).toEqual(['uplink', 'i1.dmz', 'i1.lan', 'i2.dmz', 'i2.lan']);
      expect(p.networks[0]).toMatchObject({ kind: 'uplink', instance: 0 });
    });

    it('gives a router without internet no uplink NIC and the plan no uplink network', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: a',
          '    cidr: 10.0.1.0/24',
          '  - name: b',
          '    cidr: 10.0.2.0/24',
          'machines:',
          '  - name: m',
          '    networks: [a, b]',
        ),
      );
      const p = plan(s, 'proxmox');
      expect(machine(p, 'i1.router').nics.map((n) => n.networkKey)).toEqual(['i1.a', 'i1.b']);
      expect(machine(p, 'i1.router').router).not.toHaveProperty('uplinkNic');
      expect(machine(p, 'i1.router').router!.nat).toEqual([]);
      expect(p.networks.map((n) => n.key)).toEqual(['i1.a', 'i1.b']);
    });

    it('adds no router to a single network without internet', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          '    cidr: 10.0.1.0/24',
          'machines:',
          '  - name: web',
          '    networks: [lan]',
        ),
      );
      const p = plan(s, 'proxmox');
      expect(p.machines.map((m) => m.key)).toEqual(['i1.web']);
      expect(machine(p, 'i1.web').dependsOn).toEqual([]);
    });

    it('adds a router to a single network with internet, for its uplink', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          '    cidr: 10.0.1.0/24',
          '    internet: true',
          'machines:',
          '  - name: web',
          '    networks: [lan]',
        ),
      );
      const p = plan(s, 'esxi');
      expect(machine(p, 'i1.router').nics.map((n) => n.networkKey)).toEqual(['i1.lan', 'uplink']);
    });

    it('adds no router, no uplink and no VLANs on azure', () => {
      const p = plan(dmzScenario(), 'azure', 2);
      expect(p.machines.some((m) => m.role === 'router')).toBe(false);
      expect(p.networks.map((n) => n.key)).toEqual(['i1.dmz', 'i1.lan', 'i2.dmz', 'i2.lan']);
      expect(p.networks.every((n) => n.vlan === undefined)).toBe(true);
      expect(machine(p, 'i2.db').dependsOn).toEqual(['i2.web-1', 'i2.web-2']);
    });
  });

  describe('AWS egress', () => {
    const networksOf = (p: Plan, i = 1) =>
      p.networks
        .filter((n) => n.instance === i)
        .map((n) => ({
          key: n.key,
          cidr: n.cidr,
          egress: n.egress,
          ...(n.natGateway ? { natGateway: true } : {}),
        }));

    it('routes a network with internet through a one-armed range router on an edge /28 outside the lab', () => {
      const p = plan(dmzScenario(), 'aws', 2);
      expect(networksOf(p, 2)).toEqual([
        { key: 'i2.uplink', cidr: '10.0.0.0/28', egress: 'gateway' },
        { key: 'i2.dmz', cidr: '10.0.1.0/24', egress: 'router' },
        { key: 'i2.lan', cidr: '10.0.2.0/24', egress: undefined },
      ]);
      const r = machine(p, 'i2.router');
      expect(r.nics).toEqual([
        { networkKey: 'i2.uplink', mac: expect.any(String), ip: '10.0.0.4', prefix: 28, gateway: '10.0.0.1' },
      ]);
      expect(r.router).toMatchObject({
        lans: [],
        uplinkNic: 0,
        forwardDefault: 'deny',
        nat: ['10.0.1.0/24'],
        cloud: { labCidrs: ['10.0.1.0/24', '10.0.2.0/24'], edgeCidr: '10.0.0.0/28' },
      });
      expect(r.router!.rules).toEqual(p.firewall.rules);
      // It starts once the networks it serves exist: its start points their default route at it.
      expect(p.steps.find((x) => x.key === 'i2.router:start')!.dependsOn).toEqual(['i2.router:create', 'net:i2.dmz']);
      expect(p.steps.find((x) => x.key === 'i2.router:create')!.dependsOn).toEqual(['net:i2.uplink']);
      // Machines on the DMZ wait for the router that carries their egress; db, on lan only, waits for web alone.
      expect(machine(p, 'i2.web-1').dependsOn).toEqual(['i2.router']);
      expect(machine(p, 'i2.db').dependsOn).toEqual(['i2.web-1', 'i2.web-2']);
      expect(p.notes).toEqual([
        'dmz reaches the internet through the range router (an instance per lab instance, source/destination check off), from edge subnet 10.0.0.0/28; their machines get no public address',
      ]);
    });

    it('with egress nat-gateway: a NAT gateway on the edge network, which the routed networks wait for, and no router', () => {
      const p = plan(dmzScenario(), 'aws', 1, { cloudEgress: 'nat-gateway' });
      expect(networksOf(p)).toEqual([
        { key: 'i1.uplink', cidr: '10.0.0.0/28', egress: 'gateway', natGateway: true },
        { key: 'i1.dmz', cidr: '10.0.1.0/24', egress: 'nat-gateway' },
        { key: 'i1.lan', cidr: '10.0.2.0/24', egress: undefined },
      ]);
      expect(p.machines.some((m) => m.role === 'router')).toBe(false);
      expect(p.steps.find((s) => s.key === 'net:i1.dmz')!.dependsOn).toEqual(['net:i1.uplink']);
      expect(machine(p, 'i1.web-1').dependsOn).toEqual([]);
    });

    it('keeps a network a rule opens to the internet on the internet gateway, and then needs no router', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - { name: dmz, cidr: 10.0.1.0/24, internet: true }',
          '  - { name: lan, cidr: 10.0.2.0/24, internet: true }',
          'firewall:',
          '  rules:',
          '    - { from: "*", to: web, protocol: tcp, ports: 443 }',
          'machines:',
          '  - { name: web, networks: [dmz] }',
          '  - { name: app, networks: [lan] }',
        ),
      );
      const p = plan(s, 'aws');
      expect(networksOf(p).map((n) => [n.key, n.egress])).toEqual([
        ['i1.uplink', 'gateway'],
        ['i1.dmz', 'gateway'],
        ['i1.lan', 'router'],
      ]);
      expect(machine(p, 'i1.router').router!.nat).toEqual(['10.0.2.0/24']);
      expect(machine(p, 'i1.web').dependsOn).toEqual([]);
      expect(machine(p, 'i1.app').dependsOn).toEqual(['i1.router']);

      const open = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - { name: dmz, cidr: 10.0.1.0/24, internet: true }',
          'firewall:',
          '  rules:',
          '    - { from: "*", to: dmz, protocol: tcp, ports: 80 }',
          'machines:',
          '  - { name: web, networks: [dmz] }',
        ),
      );
      const q = plan(open, 'aws');
      expect(q.machines.map((m) => m.key)).toEqual(['i1.web']);
      expect(networksOf(q)).toEqual([{ key: 'i1.dmz', cidr: '10.0.1.0/24', egress: 'gateway' }]);
    });

    it('puts the edge /28 in the first free place: inside the lab block, else its /16, else the next /16', () => {
      const edgeOf = (...nets: string[]) =>
        plan(
          parseScenario(
            yaml(
              ...head,
              'networks:',
              ...nets.map((c, i) => `  - { name: n${i}, cidr: ${c}, internet: true }`),
              'machines:',
              '  - { name: m, networks: [n0] }',
            ),
          ),
          'aws',
        ).networks.find((n) => n.name === 'uplink')!.cidr;
      expect(edgeOf('192.168.56.0/24')).toBe('192.168.0.0/28');
      expect(edgeOf('10.0.0.0/24', '10.0.2.0/24')).toBe('10.0.1.0/28');
      expect(edgeOf('10.0.0.0/28', '10.0.0.32/28')).toBe('10.0.0.16/28');
      expect(edgeOf('172.16.0.0/16')).toBe('172.17.0.0/28');
    });

    it('ends the VPN on the AWS range router: one even where no network needs it for egress', () => {
      const lanOnly = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - { name: lan, cidr: 10.0.2.0/24 }',
          'machines:',
          '  - { name: m, networks: [lan] }',
        ),
      );
      const p = plan(lanOnly, 'aws', 1, { vpn: true });
      expect(p.networks.map((n) => [n.key, n.cidr, n.egress])).toEqual([
        ['i1.uplink', '10.0.0.0/28', 'gateway'],
        ['i1.lan', '10.0.2.0/24', undefined],
      ]);
      const r = machine(p, 'i1.router');
      expect(r.router).toMatchObject({
        nat: [],
        cloud: { labCidrs: ['10.0.2.0/24'], edgeCidr: '10.0.0.0/28' },
        vpn: { ifname: 'wg-i1', port: 51820, cidr: '100.64.0.0/24', address: '100.64.0.1' },
      });
      expect(p.vpn).toEqual({
        port: 51820,
        cidr: '100.64.0.0/24',
        endpoint: expect.stringMatching(/public IPv4 address/),
      });
      // Its start waits for every network whose table routes the tunnel to it; the machine does not wait for it.
      expect(p.steps.find((x) => x.key === 'i1.router:start')!.dependsOn).toEqual(['i1.router:create', 'net:i1.lan']);
      expect(machine(p, 'i1.m').dependsOn).toEqual([]);
      expect(p.notes).toBeUndefined();
      // With nat-gateway egress the router is there for the VPN alone.
      const q = plan(dmzScenario(), 'aws', 1, { vpn: true, cloudEgress: 'nat-gateway' });
      expect(machine(q, 'i1.router').router!.nat).toEqual([]);
      expect(q.networks.find((n) => n.key === 'i1.dmz')!.egress).toBe('nat-gateway');
      expect(() => plan(dmzScenario(), 'azure', 1, { vpn: true })).toThrow(/azure deployments have no range router/);
    });

    it('gives an Azure NIC a public address only where a rule lets the internet in to it, on a network with internet', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - { name: dmz, cidr: 10.0.1.0/24, internet: true }',
          '  - { name: lan, cidr: 10.0.2.0/24 }',
          'firewall:',
          '  rules:',
          '    - { from: "*", to: web, protocol: tcp, ports: 443 }',
          '    - { from: "*", to: db, protocol: tcp, ports: 5432 }',
          'machines:',
          '  - { name: web, count: 2, networks: [dmz, lan] }',
          '  - { name: app, networks: [dmz] }',
          '  - { name: db, networks: [lan] }',
        ),
      );
      const p = plan(s, 'azure');
      const pub = (key: string) => machine(p, key).nics.map((n) => n.publicIp === true);
      expect(pub('i1.web-1')).toEqual([true, false]);
      expect(pub('i1.web-2')).toEqual([true, false]);
      expect(pub('i1.app')).toEqual([false]);
      // db is named by a rule from the internet, but lan has no internet: no public address.
      expect(pub('i1.db')).toEqual([false]);
      expect(plan(s, 'aws').machines.every((m) => m.nics.every((n) => n.publicIp === undefined))).toBe(true);
    });

    it('adds nothing where no network has internet', () => {
      const p = plan(
        parseScenario(
          yaml(
            ...head,
            'networks:',
            '  - { name: lan, cidr: 10.0.2.0/24 }',
            'machines:',
            '  - { name: m, networks: [lan] }',
          ),
        ),
        'aws',
      );
      expect(p.machines.map((m) => m.key)).toEqual(['i1.m']);
      expect(p.networks.map((n) => n.key)).toEqual(['i1.lan']);
    });
  });

  describe('addresses', () => {
    it('keeps static IPs and allocates the others from .10 upward, skipping the gateway and taken ones', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          '    cidr: 10.0.0.0/24',
          '    gateway: 10.0.0.11',
          'machines:',
          '  - name: a',
          '    networks:',
          '      - network: lan',
          '        ip: 10.0.0.10',
          '  - name: b',
          '    networks: [lan]',
          '  - name: c',
          '    count: 2',
          '    networks: [lan]',
          '  - name: d',
          '    networks:',
          '      - network: lan',
          '        ip: 10.0.0.12',
        ),
      );
      const p = plan(s, 'simulator');
      expect(['i1.a', 'i1.b', 'i1.c-1', 'i1.c-2', 'i1.d'].map((k) => ips(p, k)[0])).toEqual([
        '10.0.0.10',
        '10.0.0.13',
        '10.0.0.14',
        '10.0.0.15',
        '10.0.0.12',
      ]);
      expect(machine(p, 'i1.b').nics[0]).toMatchObject({ prefix: 24, gateway: '10.0.0.11' });
    });

    it('gives replicas of a static IP the following addresses', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          '    cidr: 10.0.0.0/24',
          'machines:',
          '  - name: web',
          '    count: 3',
          '    networks:',
          '      - network: lan',
          '        ip: 10.0.0.50',
        ),
      );
      const p = plan(s, 'aws');
      expect(['i1.web-1', 'i1.web-2', 'i1.web-3'].map((k) => ips(p, k)[0])).toEqual([
        '10.0.0.50',
        '10.0.0.51',
        '10.0.0.52',
      ]);
    });

    it('allocates from .2 on networks smaller than /26', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          '    cidr: 10.0.0.0/28',
          'machines:',
          '  - name: web',
          '    count: 2',
          '    networks: [lan]',
        ),
      );
      expect([ips(plan(s, 'simulator'), 'i1.web-1')[0], ips(plan(s, 'simulator'), 'i1.web-2')[0]]).toEqual([
        '10.0.0.2',
        '10.0.0.3',
      ]);
      // AWS and Azure keep .0-.3 and the last address of every subnet for themselves.
      const p = plan(s, 'aws');
      expect([ips(p, 'i1.web-1')[0], ips(p, 'i1.web-2')[0]]).toEqual(['10.0.0.4', '10.0.0.5']);
    });

    it('refuses on a cloud a gateway other than the first host, and an address the cloud reserves', () => {
      const withGateway = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - { name: lan, cidr: 10.0.0.0/24, gateway: 10.0.0.11 }',
          'machines:',
          '  - { name: a, networks: [lan] }',
        ),
      );
      expect(planError(() => plan(withGateway, 'azure')).message).toBe(
        'Unable to plan network "lan" on azure: its gateway must be the first host, 10.0.0.1; the cloud routes through it',
      );
      const reserved = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - { name: lan, cidr: 10.0.0.0/24 }',
          'machines:',
          '  - { name: a, networks: [{ network: lan, ip: 10.0.0.3 }] }',
        ),
      );
      expect(planError(() => plan(reserved, 'aws')).message).toBe(
        'Unable to plan machine "a" on aws: 10.0.0.3 is one of the addresses the cloud reserves in 10.0.0.0/24 (the first four and the last)',
      );
      expect(ips(plan(reserved, 'simulator'), 'i1.a')).toEqual(['10.0.0.3']);
    });

    it('uses the allocated subnet of a network without a cidr, the same in every instance', () => {
      const s = parseScenario(
        yaml(...head, 'networks:', '  - name: lan', 'machines:', '  - name: web', '    networks: [lan]'),
      );
      const p = plan(s, 'proxmox', 2, {
        allocations: { subnets: { lan: '172.16.4.0/24' }, vlans: { '1/lan': 10, '2/lan': 11 } },
      });
      expect(p.networks.map((n) => [n.key, n.cidr, n.gateway, n.vlan])).toEqual([
        ['i1.lan', '172.16.4.0/24', '172.16.4.1', 10],
        ['i2.lan', '172.16.4.0/24', '172.16.4.1', 11],
      ]);
      expect([ips(p, 'i1.web')[0], ips(p, 'i2.web')[0]]).toEqual(['172.16.4.10', '172.16.4.10']);
    });

    it('puts the default route and DNS on the first NIC only', () => {
      const p = plan(dmzScenario(), 'simulator');
      const web = machine(p, 'i1.web-1');
      expect(web.nics.map((n) => [n.networkKey, n.ip, n.gateway])).toEqual([
        ['i1.dmz', '10.0.1.10', '10.0.1.1'],
        ['i1.lan', '10.0.2.10', undefined],
      ]);
      expect(web.dns).toEqual(['10.0.1.1']);
    });

    it('refuses a network too small for its machines with an AppError naming the machine', () => {
      // A /29 leaves .2 to .6 once the gateway (.1) is taken: five machines fit, a sixth does not.
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          'machines:',
          '  - name: web',
          '    count: 6',
          '    networks: [lan]',
        ),
      );
      const fits = { subnets: { lan: '10.0.0.0/29' }, vlans: { '1/lan': 100 } };
      const err = planError(() => plan(s, 'simulator', 1, { allocations: fits }));
      expect(err.code).toBe('invalid_input');
      expect(err.message).toBe(
        'Unable to plan machine "web": network "lan" (10.0.0.0/29) has no free address left for replica 6',
      );
      expect(err.hint).toMatch(/wider cidr/);
      const five = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          'machines:',
          '  - name: web',
          '    count: 5',
          '    networks: [lan]',
        ),
      );
      expect(ips(plan(five, 'simulator', 1, { allocations: fits }), 'i1.web-5')).toEqual(['10.0.0.6']);
    });

    it('refuses a network with no CIDR and no allocation', () => {
      const s = parseScenario(
        yaml(...head, 'networks:', '  - name: lan', 'machines:', '  - name: web', '    networks: [lan]'),
      );
      expect(planError(() => plan(s, 'aws')).message).toBe(
        'Unable to plan network "lan": no CIDR given and none allocated',
      );
    });
  });

  describe('machines and steps', () => {
    it("names replicas web-1..web-n and keeps a single machine's name", () => {
      const p = plan(dmzScenario(), 'azure', 2);
      expect(p.machines.map((m) => m.key)).toEqual(['i1.web-1', 'i1.web-2', 'i1.db', 'i2.web-1', 'i2.web-2', 'i2.db']);
      expect(machine(p, 'i2.web-2')).toMatchObject({
        hostname: 'web-2',
        source: 'web',
        instance: 2,
        resourceName: 'gd-dep1-i2-web-2',
      });
      expect(machine(p, 'i1.db')).toMatchObject({ hostname: 'db', source: 'db' });
    });

    it('expands dependsOn to every replica of the dependency, in the same instance, and the router', () => {
      const p = plan(dmzScenario(), 'proxmox', 2);
      expect(machine(p, 'i1.db').dependsOn).toEqual(['i1.router', 'i1.web-1', 'i1.web-2']);
      expect(machine(p, 'i2.db').dependsOn).toEqual(['i2.router', 'i2.web-1', 'i2.web-2']);
      expect(machine(p, 'i2.web-1').dependsOn).toEqual(['i2.router']);
      expect(machine(p, 'i2.router').dependsOn).toEqual([]);
    });

    it('creates a machine once its networks exist and starts it once it is created and its dependencies are ready', () => {
      const p = plan(dmzScenario(), 'proxmox');
      const step = (key: string) => p.steps.find((s) => s.key === key);
      expect(step('net:i1.dmz')).toEqual({ key: 'net:i1.dmz', kind: 'network', target: 'i1.dmz', dependsOn: [] });
      expect(step('i1.db:create')).toEqual({
        key: 'i1.db:create',
        kind: 'create',
        target: 'i1.db',
        dependsOn: ['net:i1.lan'],
      });
      expect(step('i1.db:start')?.dependsOn).toEqual([
        'i1.db:create',
        'i1.router:ready',
        'i1.web-1:ready',
        'i1.web-2:ready',
      ]);
      expect(step('i1.db:address')?.dependsOn).toEqual(['i1.db:start']);
      expect(step('i1.db:ready')?.dependsOn).toEqual(['i1.db:address']);
      expect(step('i1.router:create')?.dependsOn).toEqual(['net:i1.dmz', 'net:i1.lan', 'net:uplink']);
      expect(step('i1.router:start')?.dependsOn).toEqual(['i1.router:create']);
    });

    it('gives a step graph whose dependencies all exist and that can be run to the end', () => {
      const p = plan(dmzScenario(), 'esxi', 3);
      const keys = new Set(p.steps.map((s) => s.key));
      expect(keys.size).toBe(p.steps.length);
      expect(p.steps.length).toBe(p.networks.length + 4 * p.machines.length);
      for (const s of p.steps) for (const d of s.dependsOn) expect(keys.has(d), `${s.key} -> ${d}`).toBe(true);
      // Kahn's algorithm: every step becomes runnable.
      const done = new Set<string>();
      let progressed = true;
      while (progressed) {
        progressed = false;
        for (const s of p.steps)
          if (!done.has(s.key) && s.dependsOn.every((d) => done.has(d))) (done.add(s.key), (progressed = true));
      }
      expect(done.size).toBe(p.steps.length);
    });

    it('gives machines without users the glassdome sudo user with a generated password, and keeps scenario passwords', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          'machines:',
          '  - name: a',
          '    networks: [lan]',
          '  - name: b',
          '    networks: [lan]',
          '    users:',
          '      - name: eve',
          '        password: secret',
        ),
      );
      const p = plan(s, 'aws', 1, { allocations: { subnets: { lan: '10.0.0.0/24' }, vlans: {} } });
      expect(machine(p, 'i1.a').users).toEqual([
        { name: 'glassdome', sudo: true, sshKeys: [], groups: [], shell: '/bin/bash', password: 'generated' },
      ]);
      expect(machine(p, 'i1.b').users).toEqual([
        { name: 'eve', sudo: false, sshKeys: [], groups: [], shell: '/bin/bash', password: 'scenario' },
      ]);
      expect(JSON.stringify(p)).not.toContain('secret');
    });
  });

  describe('firewall rules', () => {
    it('resolves machine names to a /32 per replica and NIC, networks to their CIDR and * to anywhere', () => {
      const p = plan(dmzScenario(), 'proxmox');
      expect(machine(p, 'i1.router').router!.rules).toEqual([
        {
          from: ['10.0.1.10/32', '10.0.2.10/32', '10.0.1.11/32', '10.0.2.11/32'],
          to: ['10.0.2.12/32'],
          protocol: 'tcp',
          ports: [[5432, 5432]],
          action: 'allow',
        },
        { from: ['0.0.0.0/0'], to: ['10.0.2.0/24'], protocol: 'tcp', ports: [], action: 'deny' },
      ]);
    });
  });

  describe('MAC addresses', () => {
    const macs = (p: Plan) => p.machines.flatMap((m) => m.nics.map((n) => n.mac));

    it('are the same for the same deployment and differ per NIC', () => {
      const a = macs(plan(dmzScenario(), 'proxmox', 2));
      expect(macs(plan(dmzScenario(), 'proxmox', 2))).toEqual(a);
      expect(new Set(a).size).toBe(a.length);
    });

    it('are locally administered unicast addresses outside ESXi', () => {
      for (const mac of macs(plan(dmzScenario(), 'proxmox', 2))) expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    });

    it("fall in ESXi's manual range 00:50:56:00:00:00-00:50:56:3f:ff:ff on esxi", () => {
      const all = macs(plan(dmzScenario(), 'esxi', 20));
      for (const mac of all) expect(mac).toMatch(/^00:50:56:[0-3][0-9a-f](:[0-9a-f]{2}){2}$/);
      // The fourth byte still varies: the hash spreads over the range rather than pinning it.
      expect(new Set(all.map((m) => m.slice(9, 10))).size).toBeGreaterThan(1);
    });

    it('are unique across a large ESXi plan, where 22 bits of hash alone would clash', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: dmz',
          '    cidr: 10.0.1.0/24',
          '    internet: true',
          '  - name: lan',
          '    cidr: 10.0.2.0/24',
          'machines:',
          '  - name: web',
          '    count: 10',
          '    networks: [dmz, lan]',
        ),
      );
      // 200 instances x (10 machines x 2 NICs + a router's 3) = 4600 NICs; with deployment id "d1" two pairs clash.
      const all = macs(plan(s, 'esxi', 200, { deploymentId: 'd1' }));
      expect(all).toHaveLength(4600);
      expect(new Set(all).size).toBe(4600);
    });
  });

  describe('VLANs', () => {
    it('uses the allocated VLAN of each instance and network on premises', () => {
      const p = plan(dmzScenario(), 'proxmox', 2, {
        allocations: { subnets: {}, vlans: { '1/dmz': 201, '1/lan': 202, '2/dmz': 203, '2/lan': 204 } },
      });
      expect(p.networks.filter((n) => n.kind === 'isolated').map((n) => [n.key, n.vlan])).toEqual([
        ['i1.dmz', 201],
        ['i1.lan', 202],
        ['i2.dmz', 203],
        ['i2.lan', 204],
      ]);
    });

    it('refuses an on-premises plan missing a VLAN, naming the network and instance', () => {
      const err = planError(() =>
        plan(dmzScenario(), 'proxmox', 2, {
          allocations: { subnets: {}, vlans: { '1/dmz': 201, '1/lan': 202, '2/dmz': 203 } },
        }),
      );
      expect(err.message).toBe('Unable to plan network "lan" of instance 2: no VLAN given and none allocated');
    });

    it('uses a fixed VLAN for a single instance and refuses it for several', () => {
      const s = parseScenario(
        yaml(
          ...head,
          'networks:',
          '  - name: lan',
          '    cidr: 10.0.0.0/24',
          '    vlan: 42',
          'machines:',
          '  - name: web',
          '    networks: [lan]',
        ),
      );
      expect(plan(s, 'proxmox', 1).networks[0]!.vlan).toBe(42);
      const err = planError(() => plan(s, 'proxmox', 3));
      expect(err.message).toBe('Unable to plan network "lan": its fixed VLAN 42 cannot isolate 3 instances');
      // Clouds ignore VLANs, so several instances are fine there.
      expect(plan(s, 'aws', 3).networks.map((n) => n.vlan)).toEqual([undefined, undefined, undefined]);
    });

    it('refuses an instance count below 1', () => {
      expect(planError(() => plan(dmzScenario(), 'aws', 0)).message).toMatch(
        /instances must be a whole number of at least 1, not 0/,
      );
    });
  });
});

describe('allocationNeeds', () => {
  const s = parseScenario(
    yaml(
      ...head,
      'networks:',
      '  - name: dmz',
      '  - name: lan',
      '    cidr: 10.0.2.0/24',
      '  - name: mgmt',
      '    cidr: 10.0.3.0/24',
      '    vlan: 7',
      'machines:',
      '  - name: web',
      '    networks: [dmz]',
    ),
  );

  it.each(['simulator', 'proxmox', 'esxi'] as const)(
    'asks for a VLAN per instance and network without a fixed one on %s',
    (platform) => {
      expect(allocationNeeds(s, platform, 2)).toEqual({
        subnets: ['dmz'],
        vlans: ['1/dmz', '1/lan', '2/dmz', '2/lan'],
      });
    },
  );

  it.each(['aws', 'azure'] as const)('asks for no VLANs on %s, only the missing subnets', (platform) => {
    expect(allocationNeeds(s, platform, 5)).toEqual({ subnets: ['dmz'], vlans: [] });
  });
});

describe('the package cache in a plan', () => {
  const cache = { url: 'http://192.0.2.10:3142', address: '192.0.2.10', port: 3142 };
  /** Two networks without internet: a Debian pair and a db on lan (two NICs on db), Kali and Ubuntu on red. */
  const offline = () =>
    parseScenario(
      yaml(
        ...head,
        'networks:',
        '  - { name: lan, cidr: 10.0.2.0/24 }',
        '  - { name: red, cidr: 10.0.3.0/24 }',
        'machines:',
        '  - { name: web, os: debian-12, count: 2, networks: [lan] }',
        '  - { name: db, os: debian-12, networks: [lan, red] }',
        '  - { name: kali, os: kali-rolling, networks: [red] }',
        '  - { name: ubuntu, os: ubuntu-22.04, networks: [red] }',
      ),
    );

  it('sends the routers and the Debian machines without internet to the cache, through an uplink to it only', () => {
    const p = plan(offline(), 'proxmox', 2, { packageCache: cache });
    expect(p.packageCache).toEqual(cache);
    const uplink = p.networks.find((n) => n.kind === 'uplink');
    expect(uplink).toMatchObject({ key: 'uplink', internet: false });
    const fromCache = p.machines.filter((m) => m.packageCache).map((m) => m.key);
    expect(fromCache).toEqual([
      'i1.router',
      'i1.web-1',
      'i1.web-2',
      'i1.db',
      'i2.router',
      'i2.web-1',
      'i2.web-2',
      'i2.db',
    ]);
    const router = p.machines.find((m) => m.key === 'i2.router')!;
    expect(router.nics.map((n) => n.networkKey)).toEqual(['i2.lan', 'i2.red', 'uplink']);
    expect(router.router).toMatchObject({
      uplinkNic: 2,
      nat: [],
      packageCache: { address: '192.0.2.10', port: 3142, from: ['10.0.2.10', '10.0.2.11', '10.0.2.12', '10.0.3.10'] },
    });
    expect(p.notes).toEqual([
      'router, web, db install packages from the package cache http://192.0.2.10:3142 (no internet on their networks; the range router lets them reach 192.0.2.10:3142 only)',
      'kali installs nothing at first boot (its template must hold its packages): Kali Linux (rolling) is not Debian 12, the release the package cache holds',
      'ubuntu installs nothing at first boot (its template must hold its packages): Ubuntu 22.04 LTS is not Debian 12, the release the package cache holds',
    ]);
  });

  it('keeps machines with internet on their mirrors, and sends only the offline Debian ones to the cache', () => {
    const s = parseScenario(
      yaml(
        ...head,
        'networks:',
        '  - { name: dmz, cidr: 10.0.1.0/24, internet: true }',
        '  - { name: lan, cidr: 10.0.2.0/24 }',
        'machines:',
        '  - { name: web, os: debian-12, count: 2, networks: [dmz, lan] }',
        '  - { name: db, os: debian-12, networks: [lan] }',
      ),
    );
    const p = plan(s, 'proxmox', 1, { packageCache: cache });
    // web has a NIC on dmz (internet); db is on lan only.
    expect(p.machines.filter((m) => m.packageCache).map((m) => m.key)).toEqual(['i1.db']);
    const router = p.machines.find((m) => m.role === 'router')!;
    expect(router.packageCache).toBeUndefined();
    expect(router.router!.packageCache).toEqual({ address: '192.0.2.10', port: 3142, from: ['10.0.2.12'] });
    expect(router.router!.nat).toEqual(['10.0.1.0/24']);
    expect(p.networks.find((n) => n.kind === 'uplink')!.internet).toBe(true);
  });

  it('changes nothing where every machine has internet, or no cache is configured', () => {
    const s = parseScenario(
      yaml(
        ...head,
        'networks:',
        '  - { name: dmz, cidr: 10.0.1.0/24, internet: true }',
        'machines:',
        '  - { name: web, os: debian-12, networks: [dmz] }',
      ),
    );
    expect(plan(s, 'proxmox', 1, { packageCache: cache })).toEqual(plan(s, 'proxmox', 1));
    const without = plan(offline(), 'proxmox', 1);
    expect(without.packageCache).toBeUndefined();
    expect(without.notes).toBeUndefined();
    expect(without.machines.some((m) => m.packageCache !== undefined)).toBe(false);
    expect(without.networks.some((n) => n.kind === 'uplink')).toBe(false);
  });

  it('says why no machine can use the cache: no range router, a cloud, or the cache inside a lab network', () => {
    const single = parseScenario(
      yaml(
        ...head,
        'networks:',
        '  - { name: lan, cidr: 10.0.2.0/24 }',
        'machines:',
        '  - { name: web, os: debian-12, networks: [lan] }',
      ),
    );
    const alone = plan(single, 'proxmox', 1, { packageCache: cache });
    expect(alone.machines.map((m) => [m.key, m.packageCache])).toEqual([['i1.web', undefined]]);
    expect(alone.packageCache).toBeUndefined();
    expect(alone.notes).toEqual([
      'web installs nothing at first boot (its template must hold its packages): the range has no router to reach the package cache through (one network, no internet, no VPN)',
    ]);
    expect(plan(offline(), 'aws', 1, { packageCache: cache }).notes![0]).toBe(
      'web installs nothing at first boot (its template must hold its packages): the range router on aws carries internet egress only, with no uplink to reach the package cache through',
    );
    const inside = plan(offline(), 'proxmox', 1, {
      packageCache: { url: 'http://10.0.3.200:3142', address: '10.0.3.200', port: 3142 },
    });
    expect(inside.machines.some((m) => m.packageCache)).toBe(false);
    expect(inside.networks.some((n) => n.kind === 'uplink')).toBe(false);
    expect(inside.notes).toContain(
      'router installs nothing at first boot: the package cache\'s address 10.0.3.200 is inside network "red" (10.0.3.0/24), so the range cannot reach it',
    );
  });

  it('gives a VPN router without internet the cache too, on the uplink it already has', () => {
    const p = plan(offline(), 'proxmox', 1, { packageCache: cache, vpn: true });
    const router = p.machines.find((m) => m.role === 'router')!;
    expect(router.packageCache).toBe(true);
    expect(router.router!.vpn).toBeDefined();
    // The uplink of a VPN is taken to reach the internet, as before the cache.
    expect(p.networks.find((n) => n.kind === 'uplink')!.internet).toBe(true);
  });
});
