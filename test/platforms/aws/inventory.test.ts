// The AWS driver's batched inventory against moto: which instances and launch templates count as Glassdome's (by tag
// or only by name), the deployment filter, DescribeInstances pages, instances that vanish or are not yet known
// between the listing and the status read, and the calls a sweep of 20 machines costs (counted by the proxy).
import * as E from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryMachine, NetworkRef, Platform } from '../../../server/platforms/platform.ts';
import { machineSpec, startAwsTarget, webDmzNetworks, type AwsTarget } from './helpers.ts';

let t: AwsTarget | undefined;

beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    console.warn(`[aws inventory] skipped: ${r.skip}`);
    return;
  }
  t = r;
});
afterAll(async () => t?.stop());

const test = (name: string, fn: (t: AwsTarget) => Promise<void>) =>
  it(name, async (ctx) => {
    if (!t) return ctx.skip();
    try {
      await fn(t);
    } finally {
      t.proxy.options.fault = undefined;
    }
  });

const ubuntu = 'ami-0a1b2c3d4e5f60001';

async function ensureDmz(p: Platform, dep: string, instance = 1): Promise<Record<string, NetworkRef>> {
  const refs = await Promise.all(webDmzNetworks(dep, instance).map((s) => p.ensureNetwork(s)));
  return Object.fromEntries(refs.map((r) => [r.name.split('-').pop()!, r]));
}

/** Launches `count` instances straight in moto (one reservation each), with these tags, in the subnet. */
async function launchRaw(t: AwsTarget, subnetId: string, tags: Record<string, string>, count = 1): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = await t.ec2.send(
      new E.RunInstancesCommand({
        ImageId: ubuntu,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnetId,
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value: Value.replace('{i}', String(i)) })),
          },
        ],
      }),
    );
    ids.push(r.Instances![0]!.InstanceId!);
  }
  return ids;
}

async function subnetOf(t: AwsTarget, network: string): Promise<string> {
  const r = await t.ec2.send(
    new E.DescribeSubnetsCommand({ Filters: [{ Name: 'tag:glassdome:network', Values: [network] }] }),
  );
  return r.Subnets![0]!.SubnetId!;
}

const byName = (list: InventoryMachine[]) => new Map(list.map((m) => [m.name, m]));
const callsSince = (t: AwsTarget, from: number) => {
  const out: Record<string, number> = {};
  for (const c of t.proxy.calls.slice(from)) out[c.action] = (out[c.action] ?? 0) + 1;
  return out;
};

describe('AWS inventory', () => {
  test("reports tagged machines as owner 'tag', those only named gd-<deployment>- as 'name', no other", async (t) => {
    const p = t.platform();
    const nets = await ensureDmz(p, 'own1');
    const web = await p.createMachine(machineSpec('own1', 1, 'web-1', [{ network: nets.dmz!, ip: '10.30.1.20' }]));
    await p.startMachine(web);
    await p.waitForAddress(web, { timeoutMs: 10_000 });
    // Created, not started: only its launch template exists.
    const db = await p.createMachine(machineSpec('own1', 1, 'db', [{ network: nets.internal!, ip: '10.30.2.10' }]));
    const subnet = await subnetOf(t, nets.dmz!.name);
    // Someone's copy, named like ours but without our tags; someone's own VM whose tag value happens to start with gd-.
    const [stray] = await launchRaw(t, subnet, { Name: 'gd-own1-i1-stray' });
    await launchRaw(t, subnet, { Name: 'mail-server', Project: 'gd-notes' });

    const all = byName(await p.inventory!({ guest: true, config: true }));
    expect([...all.keys()].filter((n) => n.includes('own1') || n === 'mail-server').sort()).toEqual([
      'gd-own1-i1-db',
      'gd-own1-i1-stray',
      'gd-own1-i1-web-1',
    ]);
    expect(all.get('gd-own1-i1-web-1')).toEqual({
      id: web.id,
      name: 'gd-own1-i1-web-1',
      deploymentId: 'own1',
      owner: 'tag',
      power: 'running',
      // 1 vCPU and 2 GiB planned: t3.small, the smallest candidate that holds them.
      cpus: 2,
      memoryMb: 2048,
      size: 't3.small',
      addresses: ['10.30.1.20'],
      agent: true,
      nics: [{ network: nets.dmz!.id, mac: expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/) }],
    });
    expect(all.get('gd-own1-i1-db')).toEqual({
      id: db.id,
      name: 'gd-own1-i1-db',
      deploymentId: 'own1',
      owner: 'tag',
      power: 'stopped',
      addresses: [],
      agent: false,
      nics: [{ network: nets.internal!.id }],
    });
    expect(all.get('gd-own1-i1-stray')).toMatchObject({
      id: stray,
      deploymentId: 'own1',
      owner: 'name',
      power: 'running',
      agent: true,
      nics: [{ network: nets.dmz!.id }],
    });

    // Renamed in the console: its tags still say whose it is and which machine.
    const webInstance = (
      await t.ec2.send(
        new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: [web.name] }] }),
      )
    ).Reservations![0]!.Instances![0]!.InstanceId!;
    await t.ec2.send(
      new E.CreateTagsCommand({ Resources: [webInstance], Tags: [{ Key: 'Name', Value: 'web-server' }] }),
    );
    expect(byName(await p.inventory!({ deploymentIds: ['own1'] })).get(web.name)).toMatchObject({
      owner: 'tag',
      power: 'running',
    });

    // Stopped outside the appliance: still listed, with no addresses and no guest answering.
    await p.stopMachine(web, { force: true });
    const after = byName(await p.inventory!({ deploymentIds: ['own1'], guest: true }));
    expect(after.get('gd-own1-i1-web-1')).toMatchObject({ power: 'stopped', addresses: [], agent: false });
    expect(after.get('gd-own1-i1-web-1')!.nics).toBeUndefined();
    // The orphan fix destroys what the inventory reported: the one only its name marks goes too, by its id.
    await p.destroyMachine({ id: stray!, name: 'gd-own1-i1-stray' });
    const strayState = (await t.ec2.send(new E.DescribeInstancesCommand({ InstanceIds: [stray!] }))).Reservations![0]!
      .Instances![0]!.State!.Name;
    expect(strayState).toBe('terminated');
    expect(byName(await p.inventory!({ deploymentIds: ['own1'] })).has('gd-own1-i1-stray')).toBe(false);
  });

  test('lists only the deployments asked for, and asks EC2 nothing for an empty list', async (t) => {
    const p = t.platform();
    for (const dep of ['fla', 'flb']) {
      const nets = await ensureDmz(p, dep);
      await p.startMachine(
        await p.createMachine(machineSpec(dep, 1, 'web-1', [{ network: nets.dmz!, ip: '10.30.1.20' }])),
      );
    }
    const names = async (ids?: string[]) =>
      (await p.inventory!(ids ? { deploymentIds: ids } : {}))
        .map((m) => m.name)
        .filter((n) => /-(fla|flb)-/.test(n))
        .sort();
    expect(await names(['fla'])).toEqual(['gd-fla-i1-web-1']);
    expect(await names(['flb', 'fla'])).toEqual(['gd-fla-i1-web-1', 'gd-flb-i1-web-1']);
    const from = t.proxy.calls.length;
    expect(await names(['fl'])).toEqual([]);
    // The filter goes to EC2: the listings ask for that deployment's tag and names only.
    const filters = t.proxy.calls
      .slice(from)
      .filter((c) => c.action === 'DescribeInstances' || c.action === 'DescribeLaunchTemplates')
      .map((c) => [c.action, c.params.get('Filter.1.Name'), c.params.get('Filter.1.Value.1')])
      .sort();
    expect(filters).toEqual([
      ['DescribeInstances', 'tag:Name', 'gd-fl-*'],
      ['DescribeInstances', 'tag:glassdome:deployment', 'fl'],
      ['DescribeLaunchTemplates', 'launch-template-name', 'gd-fl-*'],
    ]);
    expect(await names()).toEqual(['gd-fla-i1-web-1', 'gd-flb-i1-web-1']);
    const before = t.proxy.calls.length;
    expect(await p.inventory!({ deploymentIds: [] })).toEqual([]);
    expect(t.proxy.calls.length).toBe(before);
  });

  test('follows DescribeInstances pages until the last', async (t) => {
    const asked: number[] = [];
    // EC2 may answer with fewer items than MaxResults: this client asks for pages of 5 whatever the driver wants.
    const p = t.platform(
      {},
      {
        onClient: (c) =>
          c.middlewareStack.add(
            (next) => async (args) => {
              const input = args.input as { MaxResults?: number };
              if ((args as { input: object }).input && 'Filters' in input && input.MaxResults === 1000) {
                asked.push(input.MaxResults);
                input.MaxResults = 5;
              }
              return next(args);
            },
            { step: 'initialize', name: 'smallPages' },
          ),
      },
    );
    const nets = await ensureDmz(p, 'pag1');
    const subnet = await subnetOf(t, nets.dmz!.name);
    const ids = await launchRaw(
      t,
      subnet,
      { Name: 'gd-pag1-i1-m{i}', 'glassdome:deployment': 'pag1', 'glassdome:machine': 'gd-pag1-i1-m{i}' },
      12,
    );
    const from = t.proxy.calls.length;
    const list = await p.inventory!({ deploymentIds: ['pag1'] });
    expect(list.map((m) => m.id).sort()).toEqual([...ids].sort());
    expect(list.every((m) => m.owner === 'tag' && m.power === 'running')).toBe(true);
    // Two listings (by tag, by name) of the 12, each in 3 pages.
    expect(asked).toEqual([1000, 1000, 1000, 1000, 1000, 1000]);
    expect(callsSince(t, from).DescribeInstances).toBe(6);
  });

  test('a machine terminated between the listing and its status read is reported, its guest unknown', async (t) => {
    const p = t.platform();
    const nets = await ensureDmz(p, 'gone1');
    const refs = await Promise.all(
      ['a', 'b'].map(async (h, i) => {
        const ref = await p.createMachine(
          machineSpec('gone1', 1, h, [{ network: nets.dmz!, ip: `10.30.1.${20 + i}` }]),
        );
        await p.startMachine(ref);
        await p.waitForAddress(ref, { timeoutMs: 10_000 });
        return ref;
      }),
    );
    const instanceOf = async (name: string) =>
      (
        await t.ec2.send(
          new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: [name] }] }),
        )
      ).Reservations![0]!.Instances![0]!.InstanceId!;
    const doomed = await instanceOf(refs[0]!.name);
    t.proxy.options.fault = async ({ action }) => {
      if (action === 'DescribeInstanceStatus')
        await t.ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [doomed] }));
      return undefined;
    };
    const list = byName(await p.inventory!({ deploymentIds: ['gone1'], guest: true, config: true }));
    expect(list.get(refs[0]!.name)).toMatchObject({ power: 'running', addresses: ['10.30.1.20'] });
    expect(list.get(refs[0]!.name)!.agent).toBeUndefined();
    expect(list.get(refs[1]!.name)).toMatchObject({ power: 'running', agent: true });
    t.proxy.options.fault = undefined;
    // Once gone, it is its launch template alone: stopped, as getMachineState says.
    expect(byName(await p.inventory!({ deploymentIds: ['gone1'] })).get(refs[0]!.name)).toMatchObject({
      id: refs[0]!.id,
      power: 'stopped',
    });
    expect((await p.getMachineState(refs[0]!)).power).toBe('stopped');
  });

  test('an instance the status read does not know yet is left unknown, and the others are asked again', async (t) => {
    const p = t.platform();
    const nets = await ensureDmz(p, 'new1');
    const refs = await Promise.all(
      ['a', 'b', 'c'].map(async (h, i) => {
        const ref = await p.createMachine(machineSpec('new1', 1, h, [{ network: nets.dmz!, ip: `10.30.1.${20 + i}` }]));
        await p.startMachine(ref);
        await p.waitForAddress(ref, { timeoutMs: 10_000 });
        return ref;
      }),
    );
    const fresh = (
      await t.ec2.send(
        new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: [refs[1]!.name] }] }),
      )
    ).Reservations![0]!.Instances![0]!.InstanceId!;
    // EC2 is eventually consistent: a just-launched instance can be unknown to DescribeInstanceStatus.
    t.proxy.options.fault = ({ action, params }) =>
      action === 'DescribeInstanceStatus' && [...params.values()].includes(fresh)
        ? {
            status: 400,
            code: 'InvalidInstanceID.NotFound',
            message: `The instance ID '${fresh}' does not exist`,
          }
        : undefined;
    const from = t.proxy.calls.length;
    const list = byName(await p.inventory!({ deploymentIds: ['new1'], guest: true }));
    expect([...list.keys()].sort()).toEqual(refs.map((r) => r.name).sort());
    expect(list.get(refs[1]!.name)!.agent).toBeUndefined();
    expect(list.get(refs[0]!.name)!.agent).toBe(true);
    expect(list.get(refs[2]!.name)!.agent).toBe(true);
    expect(callsSince(t, from).DescribeInstanceStatus).toBe(2);
  });

  test('an impaired instance status check means the guest does not answer', async (t) => {
    let impaired = '';
    // moto reports every running instance's checks as ok: this client sees EC2's answer for a hung guest instead.
    const p = t.platform(
      {},
      {
        onClient: (c) =>
          c.middlewareStack.add(
            (next, context) => async (args) => {
              const r = await next(args);
              if (context.commandName === 'DescribeInstanceStatusCommand')
                for (const s of (r.output as E.DescribeInstanceStatusResult).InstanceStatuses ?? [])
                  if (s.InstanceId === impaired) s.InstanceStatus = { Status: 'impaired' };
              return r;
            },
            { step: 'initialize', name: 'hungGuest' },
          ),
      },
    );
    const nets = await ensureDmz(p, 'imp1');
    const refs = await Promise.all(
      ['a', 'b'].map(async (h, i) => {
        const ref = await p.createMachine(machineSpec('imp1', 1, h, [{ network: nets.dmz!, ip: `10.30.1.${20 + i}` }]));
        await p.startMachine(ref);
        await p.waitForAddress(ref, { timeoutMs: 10_000 });
        return ref;
      }),
    );
    impaired = (
      await t.ec2.send(
        new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: [refs[0]!.name] }] }),
      )
    ).Reservations![0]!.Instances![0]!.InstanceId!;
    const list = byName(await p.inventory!({ deploymentIds: ['imp1'], guest: true }));
    expect(list.get(refs[0]!.name)).toMatchObject({ power: 'running', agent: false, addresses: ['10.30.1.20'] });
    expect(list.get(refs[1]!.name)).toMatchObject({ power: 'running', agent: true, addresses: ['10.30.1.21'] });
  });

  test('a sweep of 20 machines costs a handful of calls, whatever the number of machines', async (t) => {
    const builder = t.platform();
    const nets = await ensureDmz(builder, 'cnt1');
    const hosts = Array.from({ length: 20 }, (_, i) => i);
    await Promise.all(
      hosts.map(async (i) => {
        const net = i % 2 === 0 ? nets.dmz! : nets.internal!;
        const ip = `10.30.${i % 2 === 0 ? 1 : 2}.${20 + i}`;
        await builder.startMachine(
          await builder.createMachine(machineSpec('cnt1', 1, `m${i}`, [{ network: net, ip }])),
        );
      }),
    );
    // As the overseer asks: the health sweep (guest) every minute, the drift sweep (config) every 5; each series on
    // a fresh driver, as after a restart, with nothing cached yet.
    const series = async (o: { guest?: boolean; config?: boolean }) => {
      const p = t.platform();
      const sweeps: Array<Record<string, number>> = [];
      for (let i = 0; i < 3; i++) {
        const from = t.proxy.calls.length;
        const list = await p.inventory!({ deploymentIds: ['cnt1'], ...o });
        expect(list).toHaveLength(20);
        expect(list.every((m) => m.power === 'running' && m.addresses?.length === 1)).toBe(true);
        if (o.guest) expect(list.every((m) => m.agent === true)).toBe(true);
        if (o.config) expect(list.every((m) => m.nics?.length === 1)).toBe(true);
        sweeps.push(callsSince(t, from));
      }
      console.log(
        `[aws inventory] API calls per sweep of 20 machines, ${JSON.stringify(o)}: ${JSON.stringify(sweeps)}`,
      );
      expect(sweeps[2]).toEqual(sweeps[1]);
      return sweeps;
    };
    const listings = { DescribeInstances: 2, DescribeLaunchTemplates: 1 };
    const health = await series({ guest: true });
    expect(health[0]).toEqual({ ...listings, DescribeInstanceTypes: 1, DescribeInstanceStatus: 1 });
    expect(health[1]).toEqual({ ...listings, DescribeInstanceStatus: 1 });
    const drift = await series({ config: true });
    expect(drift[0]).toEqual({ ...listings, DescribeInstanceTypes: 1, DescribeSubnets: 1 });
    expect(drift[1]).toEqual(listings);
    const both = await series({ guest: true, config: true });
    expect(both[0]).toEqual({ ...listings, DescribeInstanceTypes: 1, DescribeInstanceStatus: 1, DescribeSubnets: 1 });
    expect(both[1]).toEqual({ ...listings, DescribeInstanceStatus: 1 });
  });

  test('an aborted sweep stops with the signal’s reason', async (t) => {
    const p = t.platform();
    const ac = new AbortController();
    t.proxy.options.latencyMs = 300;
    try {
      const sweep = p.inventory!({ signal: ac.signal });
      setTimeout(() => ac.abort(new Error('sweep cancelled')), 50);
      await expect(sweep).rejects.toThrow('sweep cancelled');
    } finally {
      t.proxy.options.latencyMs = 0;
    }
  });
});
