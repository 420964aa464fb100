// A trainee seat's VPN key when its instance changes hands: as data (the router change, the read-back check), in the
// simulator's modelled guest (wg syncconf, wg show), and end to end on the simulator: the key is made anew and sealed,
// the router's peer replaced and read back through the guest channel so the configuration the previous trainee
// downloaded names a key the router no longer has; nothing changes for the same trainee again; a router that cannot
// be changed leaves the change pending (said so, audited), held by the health sweep, which applies it by policy.
import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { generateWireguardKeys } from '../../server/access/vpn-keys.ts';
import {
  checkVpnPeers,
  routerChangeScript,
  routerSetup,
  vpnPeersChange,
  vpnPeersReadback,
} from '../../server/agents/lab-router.ts';
import { buildCloudInit } from '../../server/agents/cloud-init.ts';
import { systemActor } from '../../server/model/audit.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import { planDeployment } from '../../server/orchestrator/planner.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import { runSimulatedGuest } from '../../server/platforms/simulated-guest.ts';
import type { Services } from '../../server/services.ts';
import { passwordsFor } from '../agents/lab-plan.ts';
import { overseerServices, refOf } from '../overseer/helpers.ts';

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

/** The public key of a WireGuard private key (base64 of 32 raw bytes), as `wg pubkey` prints it. */
function publicKeyOf(privateKey: string): string {
  const der = Buffer.concat([
    Buffer.from('302e020100300506032b656e04220420', 'hex'),
    Buffer.from(privateKey, 'base64'),
  ]);
  const pub = crypto.createPublicKey(crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  return pub.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
}

const privateKeyIn = (config: string) => /^PrivateKey = (\S+)$/m.exec(config)![1]!;

const plan: Plan = planDeployment({
  deploymentId: 'v1',
  scenario: parseScenario(scenario),
  platform: 'proxmox',
  instances: 1,
  allocations: { subnets: {}, vlans: { '1/lan': 11, '1/dmz': 12 } },
  vpn: true,
});

describe("a router's VPN peers as data", () => {
  const router = plan.machines.find((m) => m.key === 'i1.router') as PlannedMachine;
  const keys = () => ({
    privateKey: generateWireguardKeys().privateKey,
    peers: { trainee: generateWireguardKeys().publicKey, instructor: generateWireguardKeys().publicKey },
  });

  it('rewrites the wg-quick file owner-only and syncs the running interface from it', () => {
    const k = keys();
    const change = vpnPeersChange(router, k);
    expect(change.files).toEqual([
      {
        path: '/etc/wireguard/wg-i1.conf',
        content: expect.stringContaining(`PrivateKey = ${k.privateKey}`),
        mode: '0600',
      },
    ]);
    expect(change.files[0]!.content).toContain(`PublicKey = ${k.peers.trainee}\nAllowedIPs = 100.64.0.3/32`);
    expect(change.commands).toEqual([
      'wg-quick strip /etc/wireguard/wg-i1.conf > /dev/null',
      'wg-quick strip /etc/wireguard/wg-i1.conf | wg syncconf wg-i1 /dev/stdin',
    ]);
    const script = routerChangeScript(change);
    // The file is made owner-only before the key is written into it.
    expect(script.indexOf("install -m 0600 /dev/null '/etc/wireguard/wg-i1.conf'")).toBeGreaterThan(0);
    expect(script.indexOf('install -m 0600')).toBeLessThan(script.indexOf('base64 -d >'));
    expect(script).not.toContain(k.privateKey); // only as base64 of the whole file
    expect(vpnPeersReadback(router)).toEqual(['wg', 'show', 'wg-i1', 'allowed-ips']);
  });

  it("finds a previous key still on the router, a seat's key missing, and a seat allowed another address", () => {
    const k = keys();
    const old = generateWireguardKeys().publicKey;
    const good = `${k.peers.instructor}\t100.64.0.2/32\n${k.peers.trainee}\t100.64.0.3/32\n`;
    expect(checkVpnPeers(router, k.peers, good)).toEqual([]);
    expect(checkVpnPeers(router, k.peers, `${good}${old}\t(none)\n`)).toEqual([
      `peer ${old.slice(0, 10)}… (no address) is no longer the appliance's key and can still connect`,
    ]);
    expect(checkVpnPeers(router, k.peers, `${k.peers.instructor}\t100.64.0.2/32\n${old}\t100.64.0.3/32\n`)).toEqual([
      `the trainee's key ${k.peers.trainee!.slice(0, 10)}… is not a peer of wg-i1`,
      `peer ${old.slice(0, 10)}… (100.64.0.3/32) is no longer the appliance's key and can still connect`,
    ]);
    expect(
      checkVpnPeers(router, k.peers, `${k.peers.instructor}\t100.64.0.2/32\n${k.peers.trainee}\t100.64.0.0/24\n`),
    ).toEqual(["the trainee's peer is allowed 100.64.0.0/24, not 100.64.0.3/32"]);
  });

  it("is carried out by the simulator's guest: wg show lists the new peers, a power-off boots the file written", () => {
    const first = keys();
    const media = buildCloudInit(router, {
      networks: plan.networks,
      passwords: passwordsFor(router),
      instanceId: 'x',
      secret: 's',
      vpnKeys: first,
    });
    const show = vpnPeersReadback(router);
    const booted = runSimulatedGuest(media.userData, null, show).result;
    expect(booted.exitCode).toBe(0);
    expect(checkVpnPeers(router, first.peers, booted.stdout)).toEqual([]);

    const next = { ...first, peers: { ...first.peers, trainee: generateWireguardKeys().publicKey } };
    const applied = runSimulatedGuest(media.userData, null, [
      'sh',
      '-c',
      routerChangeScript(vpnPeersChange(router, next)),
    ]);
    expect(applied.result).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    const live = runSimulatedGuest(media.userData, applied.guest!, show).result.stdout;
    expect(checkVpnPeers(router, next.peers, live)).toEqual([]);
    expect(live).not.toContain(first.peers.trainee);
    // After a power-off the interface comes up from the file on disk: the change stays.
    const rebooted = { ...applied.guest!, loaded: [], wireguard: {} };
    expect(checkVpnPeers(router, next.peers, runSimulatedGuest(media.userData, rebooted, show).result.stdout)).toEqual(
      [],
    );
    // A guest without that interface refuses to sync it, as wg does.
    const wrong = routerChangeScript(
      vpnPeersChange(
        { ...router, router: { ...router.router!, vpn: { ...router.router!.vpn!, ifname: 'wg-i9' } } },
        next,
      ),
    );
    const refused = runSimulatedGuest(media.userData, null, ['sh', '-c', wrong]).result;
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe('Unable to access interface: No such device\n');
  });

  it('keeps the first-boot setup it changes: the same file the router booted with, for the same keys', () => {
    const k = keys();
    const boot = routerSetup(router, k).files!.find((f) => f.path === '/etc/wireguard/wg-i1.conf')!;
    expect(vpnPeersChange(router, k).files[0]!.content).toBe(boot.content);
  });
});

// ------------------------------------------------------------------------------------------------ on the simulator

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const teacher = { userId: null, username: 'teacher', ip: '10.0.0.2' };

async function vpnRange(opts: { vpn?: boolean } = {}) {
  const { services: s, clock } = overseerServices();
  cleanups.push(() => s.close());
  const password = 'correct horse battery';
  const alice = await s.users.create(systemActor, { username: 'alice', password, role: 'trainee' });
  const bob = await s.users.create(systemActor, { username: 'bob', password, role: 'trainee' });
  const carol = await s.users.create(systemActor, { username: 'carol', password, role: 'trainee' });
  const { id } = s.deployments.create(systemActor, {
    yaml: scenario,
    file: 'vpn-seats.yaml',
    platform: 'simulator',
    instances: 2,
    vpn: opts.vpn ?? true,
    assignments: { '1': alice.id, '2': bob.id },
  });
  expect(await s.runner.run(id)).toBe('ready');
  return { s, id, clock, users: { alice, bob, carol } };
}

/** The router's WireGuard peers, read through the guest channel as the health sweep does: key -> allowed addresses. */
async function routerPeers(s: Services, id: string, instance: number): Promise<Map<string, string>> {
  const router = s.deployments.get(id).plan.machines.find((m) => m.key === `i${instance}.router`)!;
  const out = await s.channel.run(id, router.key, vpnPeersReadback(router), { timeoutMs: 5000 });
  expect(out.exitCode, out.stderr).toBe(0);
  return new Map(
    out.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t') as [string, string]),
  );
}

const sealedTraineeKey = (s: Services, id: string, instance: number) =>
  (
    s.db.$client
      .prepare("SELECT private_key AS k FROM vpn_keys WHERE deployment_id = ? AND instance = ? AND role = 'trainee'")
      .get(id, instance) as { k: string }
  ).k;

async function sweep(s: Services) {
  const r = await s.overseer.run(systemActor, 'health');
  expect(r.state).toBe('ran');
  await s.overseer.settled();
}

describe('giving an instance to another trainee', () => {
  it("makes the seat's key anew and replaces the router's peer, so the previous trainee's configuration is refused", async () => {
    const { s, id, users } = await vpnRange();
    const aliceConf = await s.access.vpnConfig({ ...teacher, username: 'alice' }, 'trainee', id, 1);
    const aliceKey = publicKeyOf(privateKeyIn(aliceConf.config));
    const instructorKey = s.vpnPeers.expectedPeers(id, 1).instructor!;
    const bobKey = s.vpnPeers.expectedPeers(id, 2).trainee!;
    expect((await routerPeers(s, id, 1)).get(aliceKey)).toBe('100.64.0.3/32');
    expect(s.deployments.assignment(id, 1).vpn).toMatchObject({ router: 'first-boot', publicKey: aliceKey });
    const sealedBefore = sealedTraineeKey(s, id, 1);

    const r = await s.deployments.reassign(teacher, id, 1, 'carol');
    expect(r).toMatchObject({
      changed: true,
      rotated: true,
      previous: { id: users.alice.id, username: 'alice' },
      trainee: { id: users.carol.id, username: 'carol' },
      vpn: {
        router: 'applied',
        rotatedBy: 'teacher',
        detail:
          "WireGuard peers of wg-i1 set to the appliance's keys; peers read back through the guest agent and match",
      },
    });
    const newKey = r.vpn!.publicKey;
    expect(newKey).not.toBe(aliceKey);
    // Sealed at rest like the first key, and not the same sealed value.
    expect(sealedTraineeKey(s, id, 1)).toMatch(/^v1\./);
    expect(sealedTraineeKey(s, id, 1)).not.toBe(sealedBefore);

    // On the router: the new key has the seat's tunnel address; alice's key is no peer at all; the instructor stays.
    const peers = await routerPeers(s, id, 1);
    expect(peers.get(newKey)).toBe('100.64.0.3/32');
    expect(peers.has(aliceKey)).toBe(false);
    expect(peers.get(instructorKey)).toBe('100.64.0.2/32');
    expect(peers.size).toBe(2);
    // Instance 2 keeps bob and his key.
    expect((await routerPeers(s, id, 2)).get(bobKey)).toBe('100.64.0.3/32');
    expect(s.assignments.ofDeployment(id).get(2)?.username).toBe('bob');

    // Carol's configuration holds the new key, the same tunnel address; alice may no longer download one.
    const carolConf = await s.access.vpnConfig({ ...teacher, username: 'carol' }, 'trainee', id, 1);
    expect(publicKeyOf(privateKeyIn(carolConf.config))).toBe(newKey);
    expect(carolConf.config).toContain('Address = 100.64.0.3/32');
    expect(s.assignments.instancesOf(users.alice.id, id)).toEqual([]);

    const audit = s.audit.list().find((a) => a.action === 'instance.assign')!;
    expect(audit).toMatchObject({ username: 'teacher', ip: '10.0.0.2', target: `instance:${id}/1` });
    expect(audit.detail).toBe(
      `alice -> carol; VPN key ${aliceKey.slice(0, 10)}… replaced by ${newKey.slice(0, 10)}…: router applied (WireGuard peers of wg-i1 set to the appliance's keys; peers read back through the guest agent and match)`,
    );
    expect(audit.detail).not.toContain(privateKeyIn(carolConf.config));
    expect(s.events.history(id).map((e) => e.message)).toContain(
      'instance 1: given to carol by teacher (was alice); VPN key made anew, router applied',
    );
  });

  it('changes nothing when the instance is given to the trainee who has it', async () => {
    const { s, id, users } = await vpnRange();
    const before = s.vpnPeers.expectedPeers(id, 1).trainee;
    const sealed = sealedTraineeKey(s, id, 1);
    const audits = s.audit.list().length;
    for (const who of ['alice', users.alice.id]) {
      const r = await s.deployments.reassign(teacher, id, 1, who);
      expect(r).toMatchObject({ changed: false, rotated: false, trainee: { username: 'alice' } });
      expect(r.vpn).toMatchObject({ router: 'first-boot', publicKey: before });
    }
    expect(sealedTraineeKey(s, id, 1)).toBe(sealed);
    expect((await routerPeers(s, id, 1)).has(before!)).toBe(true);
    expect(s.audit.list().length).toBe(audits);
  });

  it('makes the key anew when the instance goes to nobody, not again when someone gets it after', async () => {
    const { s, id } = await vpnRange();
    const aliceKey = s.vpnPeers.expectedPeers(id, 1).trainee!;
    const off = await s.deployments.reassign(teacher, id, 1, null);
    expect(off).toMatchObject({ changed: true, rotated: true, trainee: null, vpn: { router: 'applied' } });
    expect((await routerPeers(s, id, 1)).has(aliceKey)).toBe(false);
    const unassignedKey = off.vpn!.publicKey;
    const on = await s.deployments.reassign(teacher, id, 1, 'carol');
    expect(on).toMatchObject({ changed: true, rotated: false, trainee: { username: 'carol' } });
    // Nobody held the key made when alice left: carol gets it.
    expect(on.vpn!.publicKey).toBe(unassignedKey);
    expect(
      s.audit
        .list()
        .filter((a) => a.action === 'instance.assign')
        .map((a) => a.detail.split(';')[0]),
    ).toEqual(['nobody -> carol', 'alice -> nobody']);
  });

  it('refuses a user who is not an active trainee, an instance that does not exist, and a destroyed deployment', async () => {
    const { s, id } = await vpnRange();
    await s.users.create(systemActor, { username: 'ian', password: 'correct horse battery', role: 'instructor' });
    await expect(s.deployments.reassign(teacher, id, 1, 'ian')).rejects.toThrow('User ian is not an active trainee');
    await expect(s.deployments.reassign(teacher, id, 1, 'zed')).rejects.toThrow('User "zed" is not an active trainee');
    await expect(s.deployments.reassign(teacher, id, 3, 'carol')).rejects.toThrow(`Deployment ${id} has no instance 3`);
    expect(s.assignments.ofDeployment(id).get(1)?.username).toBe('alice');
    expect(await s.deployments.destroy(systemActor, id, { confirm: true })).toBe('destroyed');
    await expect(s.deployments.reassign(teacher, id, 1, 'carol')).rejects.toThrow(
      `Deployment ${id} is destroyed; its instances can no longer be given to anyone`,
    );
  });

  it('reassigns a deployment without a VPN with no key to change', async () => {
    const { s, id } = await vpnRange({ vpn: false });
    const r = await s.deployments.reassign(teacher, id, 1, 'carol');
    expect(r).toMatchObject({ changed: true, rotated: false, vpn: null, trainee: { username: 'carol' } });
    expect(s.audit.list().find((a) => a.action === 'instance.assign')!.detail).toBe('alice -> carol');
  });
});

describe('a key change the router cannot take now', () => {
  it('is recorded pending with why, flagged by the health sweep, and applied by the fix policy once the router runs', async () => {
    const { s, id, clock } = await vpnRange();
    const aliceKey = s.vpnPeers.expectedPeers(id, 1).trainee!;
    const sim = await s.platforms.instance('simulator');
    await sim.stopMachine(refOf(s, id, 'i1.router'), { force: true });

    const r = await s.deployments.reassign(teacher, id, 1, 'carol');
    expect(r).toMatchObject({ changed: true, rotated: true, vpn: { router: 'pending' } });
    expect(r.vpn!.detail).toMatch(
      /^not applied: \[simulator\] Unable to run a command in VM "gd-\w+-i1-router": it is not running\. Until it is, the key it replaced still works on router "i1\.router"$/,
    );
    const newKey = r.vpn!.publicKey;
    const audit = s.audit.list().find((a) => a.action === 'instance.assign')!;
    expect(audit.detail).toContain(': router pending (not applied: [simulator] Unable to run a command in VM');
    // It reads the same from the domain later (the page and the API show this).
    expect(s.deployments.assignment(id, 1).vpn).toMatchObject({ router: 'pending', publicKey: newKey });

    // The router comes back from its disk: alice's key, since nothing reached it. Report policy: flagged, not fixed.
    await sim.startMachine(refOf(s, id, 'i1.router'));
    await sim.waitForReady(refOf(s, id, 'i1.router'), { timeoutMs: 5000 });
    expect((await routerPeers(s, id, 1)).has(aliceKey)).toBe(true);
    await sweep(s); // the router is back: running again, within the grace period
    clock.advance(3 * 60_000);
    await sweep(s);
    const [finding] = s.overseer.findings.list({ state: 'open', deploymentId: id });
    expect(finding).toMatchObject({ kind: 'vpn-peers-stale', machineKey: 'i1.router', fix: { state: 'none' } });
    expect(finding!.message).toContain(`the trainee's key ${newKey.slice(0, 10)}… is not a peer of wg-i1`);
    expect(finding!.message).toContain(
      `peer ${aliceKey.slice(0, 10)}… (100.64.0.3/32) is no longer the appliance's key and can still connect`,
    );
    expect(s.deployments.assignment(id, 1).vpn!.detail).toMatch(/^the health sweep read back: /);

    // Fix policy: the next sweep applies it, read back; the one after finds nothing.
    s.overseer.setPolicy(systemActor, 'simulator', { mode: 'fix', orphanGraceMinutes: 60 });
    clock.advance(60_000);
    await sweep(s);
    const fix = s.audit.list().find((a) => a.action === 'overseer.fix.vpn-peers-stale')!;
    expect(fix.detail).toMatch(/-> fixed: WireGuard peers of wg-i1 set to the appliance's keys; peers read back/);
    const peers = await routerPeers(s, id, 1);
    expect(peers.has(aliceKey)).toBe(false);
    expect(peers.get(newKey)).toBe('100.64.0.3/32');
    expect(s.deployments.assignment(id, 1).vpn).toMatchObject({ router: 'applied', publicKey: newKey });
    clock.advance(60_000);
    await sweep(s);
    expect(s.overseer.findings.list({ state: 'open', deploymentId: id })).toEqual([]);
  });

  it("is taken by the router's first boot when the router is not created yet, and confirmed by the health sweep", async () => {
    const { services: s, clock } = overseerServices();
    cleanups.push(() => s.close());
    const password = 'correct horse battery';
    const alice = await s.users.create(systemActor, { username: 'alice', password, role: 'trainee' });
    await s.users.create(systemActor, { username: 'bob', password, role: 'trainee' });
    const { id } = s.deployments.create(systemActor, {
      yaml: scenario,
      file: 'vpn-seats.yaml',
      platform: 'simulator',
      instances: 1,
      vpn: true,
      assignments: { '1': alice.id },
    });
    const aliceKey = s.vpnPeers.expectedPeers(id, 1).trainee!;
    const r = await s.deployments.reassign(teacher, id, 1, 'bob');
    expect(r.vpn).toMatchObject({
      router: 'pending',
      detail: 'router "i1.router" is not created yet: its first boot takes the new key',
    });
    expect(await s.runner.run(id)).toBe('ready');
    const peers = await routerPeers(s, id, 1);
    expect(peers.get(r.vpn!.publicKey)).toBe('100.64.0.3/32');
    expect(peers.has(aliceKey)).toBe(false);
    await sweep(s);
    clock.advance(3 * 60_000);
    await sweep(s);
    expect(s.deployments.assignment(id, 1).vpn).toMatchObject({
      router: 'applied',
      detail: 'peers read back by the health sweep and match',
    });
    expect(s.overseer.findings.list({ state: 'open', deploymentId: id })).toEqual([]);
  });

  it('is applied by hand when asked, audited', async () => {
    const { s, id } = await vpnRange();
    const sim = await s.platforms.instance('simulator');
    await sim.stopMachine(refOf(s, id, 'i1.router'), { force: true });
    const r = await s.deployments.reassign(teacher, id, 1, 'bob');
    expect(r.vpn!.router).toBe('pending');
    const still = await s.vpnPeers.reapply(teacher, id, 1);
    expect(still.router).toBe('pending');
    await sim.startMachine(refOf(s, id, 'i1.router'));
    await sim.waitForReady(refOf(s, id, 'i1.router'), { timeoutMs: 5000 });
    const done = await s.vpnPeers.reapply(teacher, id, 1);
    expect(done).toMatchObject({ router: 'applied', publicKey: r.vpn!.publicKey });
    expect((await routerPeers(s, id, 1)).get(r.vpn!.publicKey)).toBe('100.64.0.3/32');
    expect(
      s.audit
        .list()
        .filter((a) => a.action === 'vpn.peers.apply')
        .map((a) => a.detail.split(':')[0]),
    ).toEqual(['applied', 'failed']);
  });

  it("is caught again when an instance reset brings back a router disk with the previous trainee's key", async () => {
    const { s, id, clock } = await vpnRange();
    const aliceKey = s.vpnPeers.expectedPeers(id, 1).trainee!;
    await s.snapshots.take(teacher, id, 1, 'before');
    const r = await s.deployments.reassign(teacher, id, 1, 'carol');
    expect(r.vpn!.router).toBe('applied');
    await s.snapshots.reset(teacher, id, 1, 'before');
    await (await s.platforms.instance('simulator')).waitForReady(refOf(s, id, 'i1.router'), { timeoutMs: 5000 });
    expect((await routerPeers(s, id, 1)).has(aliceKey)).toBe(true);
    await sweep(s);
    clock.advance(3 * 60_000);
    await sweep(s);
    expect(s.overseer.findings.list({ state: 'open', deploymentId: id }).map((f) => f.kind)).toEqual([
      'vpn-peers-stale',
    ]);
    expect(s.deployments.assignment(id, 1).vpn).toMatchObject({ router: 'pending', publicKey: r.vpn!.publicKey });
  });
});
