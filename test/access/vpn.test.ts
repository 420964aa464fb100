// The per-trainee VPN as data and as the tools read it: the plan (a router with an uplink even without internet, a
// tunnel network clear of the scenario's), keys (`wg pubkey` agrees), the router's first boot (wg-quick file, nft
// rules that `nft -c` accepts, self-checks), the configurations a trainee downloads (parsed by `wg`, router side by
// `wg-quick strip`), and the pages, API and CLI that hand them out only to whom they belong.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWireguardKeys } from '../../server/access/vpn-keys.ts';
import { buildRouterFiles, checkRuleset, routerExpectation, routerSetup } from '../../server/agents/lab-router.ts';
import { buildCloudInit } from '../../server/agents/cloud-init.ts';
import { main } from '../../server/cli/commands.ts';
import { AppError } from '../../server/errors.ts';
import { systemActor } from '../../server/model/audit.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import { planDeployment } from '../../server/orchestrator/planner.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import { simulatedGuestCommand } from '../../server/platforms/simulator.ts';
import { passwordsFor, probe, run, tempFile } from '../agents/lab-plan.ts';
import { api, setUpAppliance, webTestApp } from '../web/helpers.ts';
import { serve } from './helpers.ts';

const scenario = `
glassdome: 1
name: vpn-lab
title: VPN lab
networks:
  - { name: lan, cidr: 10.60.1.0/24 }
  - { name: dmz, cidr: 10.60.2.0/24 }
firewall:
  default: deny
  rules:
    - { from: dmz, to: lan, protocol: tcp, ports: [22] }
machines:
  - { name: web, networks: [lan] }
  - { name: kali, os: kali-rolling, networks: [dmz] }
`;

function plan(text: string, platform: Plan['platform'] = 'proxmox', vpn = true, instances = 2): Plan {
  return planDeployment({
    deploymentId: 'v1',
    scenario: parseScenario(text),
    platform,
    instances,
    allocations: { subnets: {}, vlans: { '1/lan': 11, '1/dmz': 12, '2/lan': 21, '2/dmz': 22 } },
    vpn,
  });
}

const router = (p: Plan, i = 1) => p.machines.find((m) => m.key === `i${i}.router`) as PlannedMachine;
const keysFor = () => ({
  privateKey: generateWireguardKeys().privateKey,
  peers: { trainee: generateWireguardKeys().publicKey, instructor: generateWireguardKeys().publicKey },
});

const wg = probe('wg', ['--version'], undefined, 'wireguard-tools');
if (!wg.has) console.warn(`[skip] wg checks: ${wg.why}`);
const nft = probe(
  'nft',
  ['-c', '-f', tempFile('probe.nft', 'table inet glassdome_probe {\n}\n')],
  undefined,
  'nftables',
);
if (!nft.has) console.warn(`[skip] nft -c checks: ${nft.why}`);

/** `wg setconf` on an interface that does not exist: it parses the whole file first and fails only at the device. */
function wgParses(file: string): { ok: boolean; out: string } {
  const r = run('wg', ['setconf', 'gdnoexist0', file]);
  return {
    ok: !/Line unrecognized|parsing error|Invalid/i.test(r.out) && /Unable to modify interface/.test(r.out),
    out: r.out,
  };
}

describe('the VPN in the plan', () => {
  it('gives every router an uplink and a WireGuard interface of its own, even without internet', () => {
    const p = plan(scenario);
    expect(p.vpn).toEqual({ port: 51820, cidr: '100.64.0.0/24', endpoint: expect.stringContaining('uplink.bridge') });
    expect(p.networks.find((n) => n.key === 'uplink')).toBeDefined();
    const r1 = router(p);
    expect(r1.router!.uplinkNic).toBe(2);
    expect(r1.router!.nat).toEqual([]);
    expect(r1.router!.vpn).toEqual({
      ifname: 'wg-i1',
      port: 51820,
      cidr: '100.64.0.0/24',
      address: '100.64.0.1',
      peers: [
        { role: 'instructor', address: '100.64.0.2' },
        { role: 'trainee', address: '100.64.0.3' },
      ],
    });
    expect(router(p, 2).router!.vpn!.ifname).toBe('wg-i2');
    // Without the VPN the same scenario's router has no uplink at all.
    expect(router(plan(scenario, 'proxmox', false)).router!.uplinkNic).toBeUndefined();
  });

  it('keeps the tunnel clear of the scenario networks', () => {
    const p = plan(scenario.replace('10.60.2.0/24', '100.64.0.0/16'));
    expect(p.vpn!.cidr).toBe('100.65.0.0/24');
  });

  it('adds a router to a one-network scenario, and refuses the VPN where there is no range router, naming the settings', () => {
    const single = `glassdome: 1\nname: one\ntitle: One\nnetworks:\n  - { name: lan, cidr: 10.9.0.0/24 }\nmachines:\n  - { name: web, networks: [lan] }\n`;
    expect(plan(single, 'proxmox', false, 1).machines.some((m) => m.role === 'router')).toBe(false);
    expect(router(plan(single, 'proxmox', true, 1)).router!.vpn).toBeDefined();
    let e: unknown;
    try {
      plan(scenario, 'azure');
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).message).toBe(
      'Unable to plan a VPN for "vpn-lab" on azure: the VPN ends on a range router with an uplink the classroom reaches, and azure deployments have no range router',
    );
    expect((e as AppError).hint).toContain('uplinkPortGroup');
    expect(plan(scenario, 'esxi').vpn!.endpoint).toContain('uplinkPortGroup');
    expect(plan(scenario, 'aws').vpn!.endpoint).toContain("the range router's public IPv4 address");
  });
});

describe("the router's VPN at first boot", () => {
  const p = plan(scenario);
  const r1 = router(p);
  const keys = keysFor();

  it('writes the wg-quick file (owner-only) with one peer per seat, installs wireguard-tools and starts wg-quick', () => {
    const setup = routerSetup(r1, keys);
    const file = setup.files.find((f) => f.path === '/etc/wireguard/wg-i1.conf')!;
    expect(file.mode).toBe('0600');
    expect(file.content).toContain(`PrivateKey = ${keys.privateKey}`);
    expect(file.content).toContain('Address = 100.64.0.1/24');
    expect(file.content).toContain(`PublicKey = ${keys.peers.trainee}\nAllowedIPs = 100.64.0.3/32`);
    expect(file.content).toContain(`PublicKey = ${keys.peers.instructor}\nAllowedIPs = 100.64.0.2/32`);
    expect(setup.packages).toContain('wireguard-tools');
    expect(setup.run).toEqual(
      expect.arrayContaining(['systemctl enable wg-quick@wg-i1', 'systemctl restart wg-quick@wg-i1']),
    );
    expect(() => routerSetup(r1)).toThrow('no keys were given');
  });

  it('lets peers in on the uplink and forwards them only into the instance, checked at first boot and on read-back', () => {
    const nftText = buildRouterFiles(r1).nftables;
    expect(nftText).toContain('iifname "nic2" udp dport 51820 accept comment "gd:vpn-listen"');
    expect(nftText).toContain(
      'iifname "wg-i1" ip saddr 100.64.0.0/24 oifname { "nic0", "nic1" } ip daddr { 10.60.1.0/24, 10.60.2.0/24 } accept comment "gd:vpn-in"',
    );
    expect(nftText).toContain('iifname "wg-i1" drop comment "gd:vpn-guard"');
    // The VPN rules come before the scenario's, after the uplink guards.
    expect(nftText.indexOf('gd:uplink-out')).toBeLessThan(nftText.indexOf('gd:vpn-in'));
    expect(nftText.indexOf('gd:vpn-out')).toBeLessThan(nftText.indexOf('gd:rule:1'));
    expect(routerExpectation(r1).forward).toEqual([
      'gd:uplink-in',
      'gd:uplink-out',
      'gd:vpn-in',
      'gd:vpn-guard',
      'gd:vpn-out',
      'gd:rule:1',
    ]);
    const media = buildCloudInit(r1, {
      networks: p.networks,
      passwords: passwordsFor(r1),
      instanceId: 'x',
      secret: 's',
      vpnKeys: keys,
    });
    expect(media.userData).toContain("wg show wg-i1 listen-port | grep -qx '51820'");
    // The simulator's guest reads the same rules back from the user-data, so verification sees them.
    const readBack = simulatedGuestCommand(media.userData, ['nft', '-j', 'list', 'ruleset']).stdout;
    expect(checkRuleset(r1, readBack)).toEqual([]);
    const withoutVpn = simulatedGuestCommand(media.userData.replaceAll('comment "gd:vpn-in"', ''), [
      'nft',
      '-j',
      'list',
      'ruleset',
    ]).stdout;
    expect(checkRuleset(r1, withoutVpn)).toEqual(['forward rules missing: gd:vpn-in']);
  });

  it.skipIf(!nft.has)('nft -c accepts the ruleset with the WireGuard rules', () => {
    const r = run('nft', ['-c', '-f', tempFile('nftables.conf', buildRouterFiles(r1).nftables)]);
    expect(r.status, r.out).toBe(0);
  });

  it.skipIf(!wg.has)('the router side passes wg-quick strip, and what it leaves parses with wg', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-wgq-'));
    const file = path.join(dir, 'wg-i1.conf');
    fs.writeFileSync(file, routerSetup(r1, keys).files.find((f) => f.path === '/etc/wireguard/wg-i1.conf')!.content, {
      mode: 0o600,
    });
    const stripped = run('wg-quick', ['strip', file]);
    expect(stripped.status, stripped.out).toBe(0);
    expect(stripped.out).not.toContain('Address');
    expect(stripped.out).toContain('ListenPort = 51820');
    const out = path.join(dir, 'stripped.conf');
    fs.writeFileSync(out, stripped.out.replace(/^Warning.*\n/gm, ''), { mode: 0o600 });
    expect(wgParses(out)).toMatchObject({ ok: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!wg.has)('makes keys as wg does: wg pubkey of the private key is the public key', () => {
    const k = generateWireguardKeys();
    const r = run('sh', ['-c', `printf '%s' '${k.privateKey}' | wg pubkey`]);
    expect(r.out.trim()).toBe(k.publicKey);
  });
});

describe('VPN configurations from the appliance', () => {
  const { app } = webTestApp();
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let id: string;
  let plain: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-vpn-cli-'));

  beforeAll(async () => {
    ctx = await setUpAppliance(app);
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: scenario,
      platform: 'simulator',
      instances: 2,
      vpn: true,
      assignments: { '1': ctx.users.trainee.id, '2': ctx.users.other.id },
    });
    expect(created.status, created.text).toBe(202);
    id = created.body.id;
    ({ id: plain } = app.web.deployments.create(systemActor, {
      yaml: scenario,
      file: 'x.yaml',
      platform: 'simulator',
    }));
    expect(await app.web.runner.run(id)).toBe('ready');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("gives the trainee their own instance's configuration, with the router's uplink as endpoint, audited", async () => {
    const r = await api(app, 'GET', `/api/v1/deployments/${id}/vpn/1`, ctx.tokens.trainee);
    expect(r.status, r.text).toBe(200);
    expect(r.body.filename).toBe(`${id}-i1-trainee.conf`);
    const uplink = app.web.deployments
      .get(id)
      .resources.find((x) => x.key === 'i1.router')!
      .addresses!.find((a) => a.startsWith('203.0.113.'));
    expect(r.body.endpoint).toBe(`${uplink}:51820`);
    expect(r.body.config).toMatch(/^\[Interface\]$/m);
    expect(r.body.config).toContain('Address = 100.64.0.3/32');
    expect(r.body.config).toContain(`Endpoint = ${uplink}:51820`);
    expect(r.body.config).toContain('AllowedIPs = 10.60.1.0/24, 10.60.2.0/24');
    const keyRow = app.web.db.$client
      .prepare("SELECT private_key AS k FROM vpn_keys WHERE deployment_id = ? AND instance = 1 AND role = 'trainee'")
      .get(id) as { k: string };
    expect(keyRow.k).toMatch(/^v1\./); // sealed at rest
    expect(r.body.config).toContain(`PrivateKey = ${app.web.box.open(keyRow.k)}`);
    if (wg.has) {
      const f = tempFile('wgc1.conf', r.body.config);
      const stripped = run('wg-quick', ['strip', f]);
      expect(stripped.status, stripped.out).toBe(0);
      expect(wgParses(tempFile('wgc1s.conf', stripped.out.replace(/^Warning.*\n/gm, ''))).ok).toBe(true);
    }
    const audit = app.web.audit.list(20).find((e) => e.action === 'vpn.config')!;
    expect(audit).toMatchObject({ username: 'alice', target: `deployment:${id}/i1` });
    expect(audit.detail).not.toContain('PrivateKey');
  });

  it("refuses another trainee's instance, and gives staff the instructor's configuration", async () => {
    expect((await api(app, 'GET', `/api/v1/deployments/${id}/vpn/2`, ctx.tokens.trainee)).status).toBe(404);
    expect((await ctx.clients.trainee.get(`/deployments/${id}/vpn/2`)).status).toBe(404);
    const teacher = await api(app, 'GET', `/api/v1/deployments/${id}/vpn/2`, ctx.tokens.instructor);
    expect(teacher.body.config).toContain('Address = 100.64.0.2/32');
    expect(teacher.body.filename).toBe(`${id}-i2-instructor.conf`);
  });

  it('shows the trainee a QR code and a download on their range page, and nothing for a deployment without a VPN', async () => {
    const alice = ctx.clients.trainee;
    expect((await alice.get(`/deployments/${id}`)).text).toContain(`href="/deployments/${id}/vpn"`);
    const list = await alice.get(`/deployments/${id}/vpn`);
    expect(list.status).toBe(303);
    expect(list.location).toBe(`/deployments/${id}/vpn/1`);
    const page = await alice.get(`/deployments/${id}/vpn/1`);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<img class="vpn-qr" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
    expect(page.text).not.toContain('PrivateKey');
    const conf = await alice.get(`/deployments/${id}/vpn/1/conf`);
    expect(conf.headers.get('Content-Disposition')).toBe(`attachment; filename="${id}-i1-trainee.conf"`);
    expect(conf.headers.get('Cache-Control')).toBe('no-store');
    expect(conf.text).toContain('Address = 100.64.0.3/32');
    const none = await api(app, 'GET', `/api/v1/deployments/${plain}/vpn/1`, ctx.tokens.instructor);
    expect(none.status).toBe(400);
    expect(none.body.error.message).toBe(`Deployment ${plain} has no VPN: it was deployed without one`);
  });

  it("previews the VPN with where this platform's endpoints are, creating nothing", async () => {
    const before = app.web.deployments.list().length;
    const r = await api(app, 'POST', '/api/v1/plan', ctx.tokens.instructor, {
      yaml: scenario.replace('name: vpn-lab', 'name: vpn-lab'),
      platform: 'simulator',
      vpn: true,
    });
    expect(r.status).toBe(200);
    expect(r.body.vpn.endpoint).toContain('TEST-NET-3');
    expect(app.web.deployments.list().length).toBe(before);
  });

  it('writes the configuration from the command line, owner-only', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const sink = (a: string[]) => ({ write: (s: string) => (a.push(s), true) }) as unknown as NodeJS.WritableStream;
    // The CLI's remote mode, against this in-memory appliance served on a port.
    const file = path.join(dir, 'alice.conf');
    const server = await serve(app);
    try {
      const code = await main(
        ['access', 'vpn', `${id}/i1`, '--out', file, '--server', server.base, '--token', ctx.tokens.trainee],
        sink(out),
        sink(err),
      );
      expect(code, err.join('')).toBe(0);
      expect(out.join('')).toContain(`wrote ${file}`);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(file, 'utf8')).toContain('Address = 100.64.0.3/32');
      const bad = await main(
        ['access', 'vpn', `${plain}/1`, '--server', server.base, '--token', ctx.tokens.instructor],
        sink(out),
        sink(err),
      );
      expect(bad).toBe(2);
      expect(err.join('')).toContain(`Deployment ${plain} has no VPN: it was deployed without one`);
      const url = await main(
        ['access', 'terminal', `${id}/i1.web`, '--server', server.base, '--token', ctx.tokens.trainee],
        sink(out),
        sink(err),
      );
      expect(url).toBe(0);
      expect(out.at(-1)).toBe(`${server.base}/deployments/${id}/machines/i1.web/terminal\n`);
      const noConsole = await main(
        ['access', 'console', `${id}/i1.web`, '--server', server.base, '--token', ctx.tokens.trainee],
        sink(out),
        sink(err),
      );
      expect(noConsole).toBe(2);
      expect(err.join('')).toContain('simulator platforms have no browser console here');
    } finally {
      await server.close();
    }
  });
});
