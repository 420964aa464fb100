// Giving an instance to another trainee from every entry point (the range page, the API, the CLI against a running
// appliance), all through the one domain function: the VPN seat's key is made anew and the router changed, the
// previous trainee loses the instance and its configuration, and a change the router could not take is shown as such.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vpnPeersReadback } from '../../server/agents/lab-router.ts';
import { serve } from '../access/helpers.ts';
import { run } from '../cli/run-cli.ts';
import { api, setUpAppliance, webTestApp, type TestApp } from './helpers.ts';

const scenario = `
glassdome: 1
name: vpn-seats
title: VPN seats
networks:
  - { name: lan, cidr: 10.60.1.0/24 }
  - { name: dmz, cidr: 10.60.2.0/24 }
machines:
  - { name: web, networks: [lan] }
`;

describe('giving an instance to another trainee', () => {
  let app: TestApp;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let id: string;
  let server: Awaited<ReturnType<typeof serve>>;

  /** The router's WireGuard peers as the guest channel reads them back. */
  const peers = async (instance: number) => {
    const router = app.web.deployments.get(id).plan.machines.find((m) => m.key === `i${instance}.router`)!;
    const out = await app.web.channel.run(id, router.key, vpnPeersReadback(router), { timeoutMs: 5000 });
    return out.stdout;
  };
  const routerRef = (instance: number) => {
    const r = app.web.deployments.get(id).resources.find((x) => x.key === `i${instance}.router`)!;
    return { id: r.externalId!, name: r.name };
  };

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: scenario,
      platform: 'simulator',
      instances: 2,
      vpn: true,
      assignments: { '1': ctx.users.trainee.id },
    });
    expect(created.status, created.text).toBe(202);
    id = created.body.id;
    expect(await app.web.runner.run(id)).toBe('ready');
    server = await serve(app);
  });
  afterAll(() => server.close());

  it('through the API: staff only, the key made anew, the router changed, the old trainee out', async () => {
    const path = `/api/v1/deployments/${id}/instances/1/assignment`;
    const before = await api(app, 'GET', path, ctx.tokens.instructor);
    expect(before.body).toMatchObject({ trainee: { username: 'alice' }, vpn: { router: 'first-boot' } });
    const aliceConf = await api(app, 'GET', `/api/v1/deployments/${id}/vpn/1`, ctx.tokens.trainee);
    expect(aliceConf.status).toBe(200);
    expect((await api(app, 'GET', path, ctx.tokens.trainee)).status).toBe(403);
    expect((await api(app, 'PUT', path, ctx.tokens.trainee, { trainee: 'alice' })).status).toBe(403);
    const missing = await api(app, 'PUT', path, ctx.tokens.instructor, {});
    expect(missing.status).toBe(400);
    expect(app.web.assignments.ofDeployment(id).get(1)?.username).toBe('alice');

    const r = await api(app, 'PUT', path, ctx.tokens.instructor, { trainee: 'bob' });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({
      changed: true,
      rotated: true,
      previous: { username: 'alice' },
      trainee: { username: 'bob' },
      vpn: { router: 'applied', rotatedBy: 'teacher' },
    });
    expect(r.body.vpn.publicKey).not.toBe(before.body.vpn.publicKey);
    const onRouter = await peers(1);
    expect(onRouter).toContain(`${r.body.vpn.publicKey}\t100.64.0.3/32`);
    expect(onRouter).not.toContain(before.body.vpn.publicKey);
    // Alice no longer sees the instance nor gets a configuration; bob's holds the new key.
    expect((await api(app, 'GET', `/api/v1/deployments/${id}/vpn/1`, ctx.tokens.trainee)).status).toBe(404);
    const bobConf = await api(app, 'GET', `/api/v1/deployments/${id}/vpn/1`, ctx.tokens.other);
    expect(bobConf.status).toBe(200);
    expect(bobConf.body.config).not.toBe(aliceConf.body.config);
    expect(app.web.audit.list(5).find((a) => a.action === 'instance.assign')).toMatchObject({
      username: 'teacher',
      target: `instance:${id}/1`,
    });
    const doc = (await api(app, 'GET', '/api/v1/openapi.json', undefined)).body;
    expect(Object.keys(doc.paths)).toContain('/api/v1/deployments/{id}/instances/{instance}/assignment');
  });

  it("on the range page: a trainee select per instance, and the seat's state, pending with a button to apply it", async () => {
    const teacher = ctx.clients.instructor;
    const page = await teacher.get(`/deployments/${id}/range`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`action="/deployments/${id}/range/instances/2/assignment"`);
    expect(page.text).toContain(`<option value="${ctx.users.other.id}" selected="">bob</option>`);
    expect(page.text).toMatch(/made anew [\d-]+ [\d:]+ by teacher; on the router: WireGuard peers of wg-i1 set/);
    // Trainees see no such form.
    expect((await ctx.clients.other.get(`/deployments/${id}/range`)).text).not.toContain('/assignment"');

    // The router of instance 2 is off: giving the instance away cannot reach it, and the page says so.
    const sim = await app.web.platforms.instance('simulator');
    await sim.stopMachine(routerRef(2), { force: true });
    const posted = await teacher.post(`/deployments/${id}/range/instances/2/assignment`, {
      trainee: ctx.users.trainee.id,
    });
    expect(posted.status).toBe(303);
    expect(app.web.assignments.ofDeployment(id).get(2)?.username).toBe('alice');
    // Nobody held instance 2: no key is made, nothing to apply.
    expect(app.web.deployments.assignment(id, 2).vpn!.router).toBe('first-boot');
    const away = await teacher.post(`/deployments/${id}/range/instances/2/assignment`, { trainee: '' });
    expect(away.status).toBe(303);
    expect(app.web.assignments.ofDeployment(id).get(2)).toBeUndefined();
    const shown = (await teacher.get(`/deployments/${id}/range`)).text;
    expect(shown).toContain('<strong>not on the router yet</strong>: not applied: [simulator] Unable to run a command');
    expect(shown).toContain('Until it is, the key it replaced still works on router &quot;i2.router&quot;');
    expect(shown).toContain(`action="/deployments/${id}/range/instances/2/vpn/apply"`);
    await sim.startMachine(routerRef(2));
    await sim.waitForReady(routerRef(2), { timeoutMs: 5000 });
    expect((await teacher.post(`/deployments/${id}/range/instances/2/vpn/apply`, {})).status).toBe(303);
    expect(app.web.deployments.assignment(id, 2).vpn!.router).toBe('applied');
    expect((await teacher.get(`/deployments/${id}/range`)).text).not.toContain('not on the router yet');
  });

  it('from the command line against the appliance: the same, with exit 1 while the router lacks the key', async () => {
    const remote = ['--server', server.base, '--token', ctx.tokens.instructor];
    const shown = await run('instance', id, '1', 'trainee', ...remote);
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out).toMatch(/^instance 1: given to bob\nVPN seat key \S+… made anew .* by teacher: on the router/);

    const given = await run('instance', id, '1', 'assign', 'alice', ...remote);
    expect(given.code, given.err).toBe(0);
    expect(given.out).toContain('instance 1: given to alice (was bob)');
    const same = await run('instance', id, '1', 'assign', 'alice', ...remote);
    expect(same.out).toContain('instance 1: already given to alice; nothing changed');

    const sim = await app.web.platforms.instance('simulator');
    await sim.stopMachine(routerRef(1), { force: true });
    const off = await run('instance', id, '1', 'unassign', ...remote);
    expect(off.code).toBe(1);
    expect(off.out).toContain('instance 1: given to nobody (was alice)');
    expect(off.out).toMatch(/NOT on the router yet: not applied: \[simulator\] .* it is not running/);
    const again = await run('instance', id, '1', 'vpn-apply', ...remote);
    expect(again.code).toBe(1);
    await sim.startMachine(routerRef(1));
    await sim.waitForReady(routerRef(1), { timeoutMs: 5000 });
    const applied = await run('instance', id, '1', 'vpn-apply', ...remote);
    expect(applied.code, applied.out).toBe(0);
    expect(applied.out).toContain(': on the router (WireGuard peers of wg-i1 set');
    const refused = await run('instance', id, '1', 'assign', 'teacher', ...remote);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('User teacher is not an active trainee');
    expect(
      app.web.audit
        .list(50)
        .filter((a) => a.action === 'instance.assign' || a.action === 'vpn.peers.apply')
        .map((a) => `${a.action} ${a.detail.split(';')[0]!.split(':')[0]}`)
        .slice(0, 4),
    ).toEqual([
      'vpn.peers.apply applied',
      'vpn.peers.apply failed',
      'instance.assign alice -> nobody',
      'instance.assign bob -> alice',
    ]);
  });
});
