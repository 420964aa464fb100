// `glassdome ask`, `research import|search|suggest` and `flags`, on this machine's data folder and on an appliance
// through its API (--server): answers, keyword-only notice, import problems with their position, the CTFd file.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../server/model/audit.ts';
import { api, setUpAppliance, waitForState, webTestApp, type TestApp } from '../web/helpers.ts';
import { run } from './run-cli.ts';

const feed = 'test/fixtures/cve/nvd-2.0-feed.json';
const badLine =
  fs
    .readFileSync(feed, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes('"baseScore": 9.8 "baseSeverity"')) + 1;

const vulnScenario = `
glassdome: 1
name: cli-vuln
networks:
  - { name: lan, cidr: 10.9.3.0/24 }
machines:
  - name: target
    os: debian-12
    networks: [lan]
    vulnerabilities: [weak-ssh-password]
`;

describe('on the local data folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-kbcli-'));
  const saved = { ...process.env };
  beforeAll(() => {
    process.env.GLASSDOME_DATA_DIR = dir;
    process.env.GLASSDOME_SIM_SPEED = '3000';
    delete process.env.GLASSDOME_SERVER;
    delete process.env.GLASSDOME_TOKEN;
  });
  afterAll(() => {
    process.env = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers a question, building the knowledge base the first time, and says it is keyword-only', async () => {
    const first = await run('ask', 'address', 'pool', 'VLAN', '--k', '3');
    expect(first.err).toContain('the knowledge base was empty; it has been built');
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^Keyword search only: No embedding model is installed in /);
    expect(first.out).toMatch(
      /\[1\] (docs|scenarios): .+\n {4}\S+(README\.md|\.yaml)#[A-Za-z0-9-]+ {3}\(fused 0\.\d{4}, similarity -, keyword \d+\.\d\d\)/,
    );
    expect(first.out).not.toContain('[4]');
    const again = await run('ask', 'anonymous FTP marking guide', '--json');
    expect(again.err).toBe('');
    const json = JSON.parse(again.out);
    expect(json.mode).toBe('keyword');
    expect(json.passages.some((p: { collection: string }) => p.collection === 'modules')).toBe(true);
    expect((await run('ask')).code).toBe(2);
    expect((await run('ask', 'x', '--k', 'many')).code).toBe(2);
  });

  it('imports CVE files, listing bad records with their position, then searches and suggests', async () => {
    const imported = await run('research', 'import', feed);
    expect(imported.code).toBe(1);
    expect(imported.out).toContain('done; 9 records read, 7 added, 0 updated, 0 unchanged, 2 not imported');
    expect(imported.out).toContain(`${feed}:${badLine}:`);
    expect(imported.out).toContain('record #6');
    expect(imported.out).toContain('record #7 CVE-BOGUS: cve.id: not a CVE id');
    expect((await run('research', 'import', 'test/fixtures/cve/nvd-2.0-modified.json')).code).toBe(0);
    expect((await run('research', 'import', path.join(dir, 'missing.json'))).code).toBe(2);

    const words = await run('research', 'search', 'path', 'traversal');
    expect(words.code).toBe(0);
    expect(words.out).toMatch(/^CVE-2021-41773 +\d\.\d/m);
    const json = JSON.parse(
      (await run('research', 'search', '--product', 'http_server', '--cvss-min', '7', '--json')).out,
    );
    expect(json.results.map((c: { id: string }) => c.id)).toContain('CVE-2021-41773');
    expect(json.results.every((c: { cvss: { score: number } }) => c.cvss.score >= 7)).toBe(true);
    expect((await run('research', 'search', '--cvss-min', 'lots')).code).toBe(2);
    expect((await run('research', 'search', '--from', '2021/01/01')).err).toContain('--from: expected YYYY-MM-DD');

    const s = await run('research', 'suggest', 'a web server on Ubuntu 22.04');
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/^Read as: ubuntu-22\.04; web server/);
    expect(s.out).toMatch(/^directory-traversal {2}/m);
    expect((await run('research', 'frobnicate')).code).toBe(2);
  });

  it("prints a deployment's flags and writes the CTFd file, private to its owner", async () => {
    const file = path.join(dir, 'vuln.yaml');
    fs.writeFileSync(file, vulnScenario);
    const deployed = await run('deploy', file, '--wait');
    expect(deployed.code).toBe(0);
    const id = /deployment (\w+):/.exec(deployed.out)![1]!;
    const flags = await run('flags', id);
    expect(flags.code).toBe(0);
    expect(flags.out).toMatch(/^i1 {2}target +weak-ssh-password +GD\{[0-9a-f]{32}\}$/m);
    const csv = path.join(dir, 'ctfd.csv');
    const exported = await run('flags', id, '--ctfd', csv);
    expect(exported.out).toContain(`wrote 1 challenge(s) to ${csv}`);
    expect(fs.readFileSync(csv, 'utf8')).toContain(/GD\{[0-9a-f]{32}\}/.exec(flags.out)![0]);
    expect(fs.statSync(csv).mode & 0o777).toBe(0o600);
    expect((await run('flags', 'nosuchid')).code).toBe(2);
    expect((await run('flags', id, '--instance', '2')).code).toBe(2);
  });
});

describe('on an appliance (--server)', () => {
  let app: TestApp;
  let server: http.Server;
  let url: string;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-kbcli-remote-'));

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
    await app.web.knowledge.refresh(systemActor);
    server = http.createServer(getRequestListener(app.fetch));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await app.web.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("asks within the token user's scope", async () => {
    const trainee = await run('ask', 'anonymous FTP marking guide', '--server', url, '--token', ctx.tokens.trainee);
    expect(trainee.code).toBe(0);
    expect(trainee.out).toContain('Keyword search only: no embedding model is installed on this appliance');
    expect(trainee.out).toContain('(searched: docs)');
    expect(trainee.out).not.toMatch(/^\[\d+\] (modules|scenarios|deployments):/m);
    const staff = await run('ask', 'anonymous FTP marking guide', '--server', url, '--token', ctx.tokens.instructor);
    expect(staff.out).toMatch(/^\[\d+\] modules: /m);
    expect((await run('ask', 'x', '--server', url)).code).toBe(2);
  });

  it('sends a CVE file to the appliance and follows its import; searches and suggests there', async () => {
    const r = await run('research', 'import', feed, '--server', url, '--token', ctx.tokens.admin);
    expect(r.out).toMatch(/^import [0-9a-f]{12}: nvd-2\.0-feed\.json sent \(\d+ bytes\)/);
    expect(r.out).toContain('nvd-2.0-feed.json: done; 9 records read, 7 added');
    expect(r.out).toContain(`nvd-2.0-feed.json:${badLine}:`);
    expect(r.code).toBe(1);
    const gz = path.join(dir, 'modified.json.gz');
    fs.writeFileSync(
      gz,
      (await import('node:zlib')).gzipSync(fs.readFileSync('test/fixtures/cve/nvd-2.0-modified.json')),
    );
    expect((await run('research', 'import', gz, '--server', url, '--token', ctx.tokens.admin)).code).toBe(0);
    expect(app.web.audit.list().find((e) => e.action === 'research.cve_import')?.username).toBe('admin');
    const refused = await run('research', 'import', feed, '--server', url, '--token', ctx.tokens.instructor);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('may not do this');

    const search = await run(
      'research',
      'search',
      '--cpe',
      'cpe:2.3:a:apache:http_server:2.4.49',
      '--server',
      url,
      '--token',
      ctx.tokens.instructor,
    );
    expect(search.code).toBe(0);
    expect(search.out).toMatch(/^CVE-2021-41773 /m);
    const suggest = await run(
      'research',
      'suggest',
      'a web server on Ubuntu 22.04',
      '--json',
      '--server',
      url,
      '--token',
      ctx.tokens.instructor,
    );
    expect(JSON.parse(suggest.out).modules.length).toBeGreaterThan(0);
  });

  it('prints flags and writes the CTFd file for instructors, and refuses trainees', async () => {
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: vulnScenario,
      platform: 'simulator',
      instances: 2,
    });
    const id = created.body.id as string;
    await waitForState(app, id, ['ready']);
    const flags = await run('flags', id, '--json', '--server', url, '--token', ctx.tokens.instructor);
    expect(flags.code).toBe(0);
    const rows = JSON.parse(flags.out) as Array<{ instance: number; flag: string }>;
    expect(rows.map((r) => r.instance)).toEqual([1, 2]);
    const csv = path.join(dir, 'remote.csv');
    const exported = await run(
      'flags',
      id,
      '--instance',
      '2',
      '--ctfd',
      csv,
      '--server',
      url,
      '--token',
      ctx.tokens.instructor,
    );
    expect(exported.out).toContain('wrote 1 challenge(s)');
    const text = fs.readFileSync(csv, 'utf8');
    expect(text).toContain(rows[1]!.flag);
    expect(text).not.toContain(rows[0]!.flag);
    const trainee = await run('flags', id, '--server', url, '--token', ctx.tokens.trainee);
    expect(trainee.code).toBe(1);
    expect(trainee.out).toBe('');
    expect(app.web.audit.list().find((e) => e.action === 'deployment.flags.export')?.username).toBe('teacher');
  });
});
