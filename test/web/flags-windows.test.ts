// Reaper's Windows modules through the appliance: an AD lab deployed on the simulator (the executor renders the
// controller's AD modules with its domain into its Windows first boot, or the deployment fails), whose flags API,
// flags page and CTFd export carry those modules per instance.
import { beforeAll, describe, expect, it } from 'vitest';
import { api, setUpAppliance, waitForState, webTestApp, type TestApp } from './helpers.ts';

const scenario = `
glassdome: 1
name: ad-flags
networks:
  - { name: corp, cidr: 10.20.10.0/24 }
machines:
  - name: dc01
    os: windows-server-2022
    size: medium
    networks: [{ network: corp, ip: 10.20.10.5 }]
    users: [{ name: labadmin, password: "Corp-Lab-2024!", sudo: true }]
    windows: { domain: { name: corp.lab, role: dc } }
    vulnerabilities: [dcsync-rights, { select: { category: ad, count: 1 } }]
  - name: kali
    os: kali-rolling
    networks: [corp]
`;

interface Row {
  instance: number;
  machine: string;
  module: string;
  category: string;
  flag: string;
  marking: string;
  challenge: string;
}

let app: TestApp;
let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
let id: string;
let rows: Row[];

beforeAll(async () => {
  ({ app } = webTestApp());
  ctx = await setUpAppliance(app);
  const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
    yaml: scenario,
    platform: 'simulator',
    instances: 2,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  id = created.body.id;
  await waitForState(app, id, ['ready']);
  rows = (await api(app, 'GET', `/api/v1/deployments/${id}/flags`, ctx.tokens.instructor)).body;
});

describe('flags of Windows modules', () => {
  it('lists the AD modules of each instance with their own flags and the domain in the texts', () => {
    expect(rows).toHaveLength(4);
    expect(rows.map((r) => r.instance)).toEqual([1, 1, 2, 2]);
    expect(rows.every((r) => r.category === 'ad' && /^GD\{[0-9a-f]{32}\}$/.test(r.flag))).toBe(true);
    expect(new Set(rows.map((r) => r.flag)).size).toBe(4);
    const dcsync = rows.filter((r) => r.module === 'dcsync-rights');
    expect(dcsync.map((r) => r.machine)).toEqual(['i1.dc01', 'i2.dc01']);
    expect(dcsync[0]!.marking).toContain(dcsync[0]!.flag);
    expect(dcsync[0]!.marking).toContain('CORP/');
    expect(dcsync[0]!.challenge).toContain('corp.lab');
  });

  it('shows them on the flags page and exports them to CTFd under Active Directory', async () => {
    const page = await ctx.clients.instructor.get(`/deployments/${id}/flags`);
    expect(page.status).toBe(200);
    for (const r of rows) expect(page.text).toContain(r.flag);
    const res = await app.request(`/api/v1/deployments/${id}/ctfd.csv?instance=2`, {
      headers: { Authorization: `Bearer ${ctx.tokens.instructor}` },
    });
    const csv = await res.text();
    expect(csv.split('\r\n').filter((l) => l.startsWith('dc01: Active Directory '))).toHaveLength(2);
    for (const r of rows) expect(csv.includes(r.flag)).toBe(r.instance === 2);
    expect(csv).not.toContain('dcsync');
  });
});
