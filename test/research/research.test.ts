// The research agent over the CVE fixture (written in the real NVD 2.0 feed and CVE JSON 5 formats): import with a
// damaged record in the middle, incremental re-import, search by every filter, merge of the two sources, and the
// mapping to catalogue modules.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResearch, type ModuleRef, type Research } from '../../server/research/index.ts';

const fixtures = path.resolve('test/fixtures/cve');
const feed = path.join(fixtures, 'nvd-2.0-feed.json');
const feedText = fs.readFileSync(feed, 'utf8');
const feedLines = feedText.split('\n');

/** 1-based line and column of the first occurrence of `s` in the feed. */
function positionOf(s: string): { line: number; column: number } {
  const line = feedLines.findIndex((l) => l.includes(s));
  return { line: line + 1, column: feedLines[line]!.indexOf(s) + 1 };
}

const catalogue: ModuleRef[] = [
  {
    id: 'apache-path-traversal',
    title: 'Apache 2.4.49 path traversal',
    category: 'web',
    cve: ['CVE-2021-41773'],
    cwe: ['CWE-22'],
    products: ['http_server'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'web-dir-traversal',
    title: 'Directory traversal in a PHP download script',
    category: 'web',
    cwe: ['CWE-22'],
    products: ['php'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'web-sqli',
    title: 'SQL injection in a login form',
    category: 'web',
    cwe: ['CWE-89'],
    products: ['php', 'mysql'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'tomcat-default-creds',
    title: 'Tomcat manager with default credentials',
    category: 'credentials',
    cwe: ['CWE-1392'],
    products: ['tomcat'],
    os: { images: ['ubuntu-22.04'] },
  },
  {
    id: 'vsftpd-backdoor',
    title: 'vsftpd 2.3.4 backdoor',
    category: 'network-service',
    cve: ['CVE-2011-2523'],
    products: ['vsftpd'],
    os: { families: ['debian'] },
  },
  {
    id: 'redis-noauth',
    title: 'Redis without authentication',
    category: 'network-service',
    cwe: ['CWE-306'],
    products: ['redis'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'sudo-nopasswd',
    title: 'sudo NOPASSWD on a GTFOBins binary',
    category: 'privilege-escalation',
    cwe: ['CWE-269'],
    products: ['sudo'],
    os: { families: ['ubuntu', 'debian', 'kali'] },
  },
  {
    id: 'weak-ssh',
    title: 'Weak SSH password',
    category: 'credentials',
    cwe: ['CWE-521'],
    products: ['openssh'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'ad-kerberoast',
    title: 'Kerberoastable service account',
    category: 'ad',
    cwe: ['CWE-521'],
    os: { families: ['windows'] },
  },
];

let tmp: string;
let research: Research;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-research-'));
  research = createResearch({ dataDir: tmp });
});
afterAll(async () => {
  await research.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('importing CVE files', () => {
  it('imports an NVD 2.0 feed, reporting the damaged records with their position and importing the rest', async () => {
    const r = await research.importFeed(feed);
    expect(r).toMatchObject({
      files: 1,
      formats: ['nvd-2.0'],
      records: 9,
      added: 7,
      updated: 0,
      unchanged: 0,
      failed: 2,
    });
    expect(r.stoppedAt).toBeUndefined();
    expect(r.problems).toEqual([
      {
        file: feed,
        index: 6,
        line: positionOf('9.8 "baseSeverity"').line,
        column: positionOf('9.8 "baseSeverity"').column + 4,
        message: expect.stringMatching(/^record #6 is not valid JSON: /),
      },
      {
        file: feed,
        index: 7,
        line: positionOf('"id": "CVE-BOGUS"').line - 2,
        column: 5,
        id: 'CVE-BOGUS',
        message: 'cve.id: not a CVE id (CVE-YYYY-NNNN)',
      },
    ]);
    expect(research.status()).toMatchObject({ cves: 7, records: { nvd: 7, cve5: 0 } });
  });

  it('points at the exact character of a JSON error', async () => {
    const r = await research.importFeed(feed);
    const p = r.problems[0]!;
    // The missing comma: the parser stops at the next property name.
    expect(feedLines[p.line! - 1]!.slice(p.column! - 1)).toMatch(/^"baseSeverity": "CRITICAL" \}/);
    expect(feedLines[p.line! - 1]).toContain('"baseScore": 9.8 "baseSeverity"');
  });

  it('imports again only what is newer: a later lastModified replaces, the same one is left alone', async () => {
    const again = await research.importFeed(feed);
    expect(again).toMatchObject({ added: 0, updated: 0, unchanged: 7, failed: 2 });
    const modified = await research.importFeed(path.join(fixtures, 'nvd-2.0-modified.json'));
    expect(modified).toMatchObject({ records: 3, added: 1, updated: 1, unchanged: 1, failed: 0 });
    expect(research.get('CVE-2021-41773')).toMatchObject({
      lastModified: '2024-07-31T12:00:00.000Z',
      cvss: { score: 9.8, severity: 'CRITICAL', version: '3.1' },
    });
    expect(research.get('CVE-2021-41773')!.description).toContain('(REVISED)');
    expect(research.get('CVE-2011-2523')!.description).toContain('backdoor');
    // The old description is no longer found by its words, the new one is.
    expect(research.search({ keyword: 'alias-like directives apache' }).results.map((c) => c.id)).toEqual([
      'CVE-2021-41773',
    ]);
    expect(research.search({ keyword: 'REVISED' }).results.map((c) => c.id)).toEqual(['CVE-2021-41773']);
    expect(research.search({ keyword: 'SHOULD-NOT-REPLACE' }).total).toBe(0);
  });

  it('imports a folder of CVE JSON 5 records, skipping other files and reporting a damaged one', async () => {
    const r = await research.importFeed(path.join(fixtures, 'cve5'));
    expect(r).toMatchObject({ files: 4, formats: ['cve-5'], records: 3, added: 2, failed: 1, skipped: 1 });
    expect(r.problems).toEqual([
      {
        file: path.join(fixtures, 'cve5/2024/CVE-2024-0002.json'),
        line: 6,
        column: 1,
        message: expect.stringMatching(/^not valid JSON: /),
      },
    ]);
    expect(research.get('CVE-2024-6387')).toMatchObject({
      state: 'PUBLISHED',
      published: '2024-07-01T12:37:25.431Z',
      cvss: { version: '3.1', score: 8.1, severity: 'HIGH' },
      cwes: ['CWE-362'],
      products: [
        {
          vendor: 'openbsd',
          product: 'openssh',
          versions: [{ startIncluding: '8.5p1', endExcluding: '9.8p1' }, { endExcluding: '4.4p1' }],
        },
      ],
      sources: ['cve5'],
    });
  });

  it('merges a CVE held from both sources: fields from the most recently modified, products and CWEs together', () => {
    const c = research.get('CVE-2021-41773')!;
    expect(c.sources).toEqual(['nvd', 'cve5']);
    expect(c.description).toContain('(REVISED)');
    expect(c.published).toBe('2021-10-05T08:50:10.000Z');
    expect(c.cwes).toEqual(['CWE-22']);
    expect(c.products).toEqual([
      {
        vendor: 'apache',
        product: 'http_server',
        cpe: 'cpe:2.3:a:apache:http_server',
        versions: [{ exact: '2.4.49' }, { exact: '2.4.49' }],
      },
    ]);
  });

  it('reads a gzipped feed as NVD publishes it', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'gz-'));
    const gz = path.join(dir, 'nvdcve-2.0-2021.json.gz');
    fs.writeFileSync(gz, gzipSync(feedText));
    const other = createResearch({ dataDir: dir });
    expect(await other.importFeed(gz)).toMatchObject({ records: 9, added: 7, failed: 2 });
    await other.close();
  });

  it('keeps what precedes a truncation and says where the file stopped', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cut-'));
    const cut = path.join(dir, 'cut.json');
    fs.writeFileSync(cut, feedText.slice(0, feedText.indexOf('"id": "CVE-2011-2523"')));
    const other = createResearch({ dataDir: dir });
    const r = await other.importFeed(cut);
    expect(r).toMatchObject({ records: 4, added: 4, failed: 1 });
    expect(r.stoppedAt).toMatchObject({
      index: 4,
      message: `the input ends inside record #4, which starts at line ${positionOf('"id": "CVE-2011-2523"').line - 2}, column 5`,
    });
    expect(other.status().cves).toBe(4);
    await other.close();
  });

  it('refuses a path that does not exist, and reports a file in neither format', async () => {
    await expect(research.importFeed(path.join(tmp, 'nope.json'))).rejects.toMatchObject({
      code: 'not_found',
      message: `[research] Unable to import CVE file "${path.join(tmp, 'nope.json')}": it does not exist`,
    });
    const other = path.join(tmp, 'other.json');
    fs.writeFileSync(other, '{"hello": "world"}');
    expect((await research.importFeed(other)).problems[0]!.message).toMatch(/^neither an NVD 2.0 feed/);
  });
});

describe('searching CVEs', () => {
  const ids = (r: { results: Array<{ id: string }> }) => r.results.map((c) => c.id);

  it('by product and vendor, newest first, rejected records left out unless asked for', () => {
    expect(ids(research.search({ product: 'http_server' }))).toEqual([
      'CVE-2023-25690',
      'CVE-2021-42013',
      'CVE-2021-41773',
    ]);
    expect(ids(research.search({ vendor: 'openbsd' }))).toEqual(['CVE-2024-6387', 'CVE-2023-38408']);
    expect(ids(research.search({ product: 'OpenSSH' }))).toEqual(['CVE-2024-6387', 'CVE-2023-38408']);
    expect(research.search({ keyword: 'duplicate openssh' }).total).toBe(0);
    expect(ids(research.search({ keyword: 'duplicate openssh', includeRejected: true }))).toEqual(['CVE-2020-99999']);
  });

  it('by CPE, with the version checked against exact versions and ranges', () => {
    expect(ids(research.search({ cpe: 'cpe:2.3:a:apache:http_server:2.4.49' }))).toEqual([
      'CVE-2023-25690',
      'CVE-2021-42013',
      'CVE-2021-41773',
    ]);
    expect(ids(research.search({ cpe: 'cpe:2.3:a:apache:http_server:2.4.50:*:*:*:*:*:*:*' }))).toEqual([
      'CVE-2023-25690',
      'CVE-2021-42013',
    ]);
    expect(ids(research.search({ cpe: 'cpe:2.3:a:apache:http_server:2.4.56' }))).toEqual([]);
    expect(ids(research.search({ cpe: 'cpe:2.3:a:openbsd:openssh:9.3p1' }))).toEqual([
      'CVE-2024-6387',
      'CVE-2023-38408',
    ]);
    expect(ids(research.search({ cpe: 'cpe:2.3:a:openbsd:openssh:9.3p2' }))).toEqual(['CVE-2024-6387']);
    expect(ids(research.search({ cpe: 'cpe:2.3:a:openbsd:openssh:8.4p1' }))).toEqual(['CVE-2023-38408']);
    expect(ids(research.search({ cpe: 'cpe:2.3:a:sudo_project:sudo:1.8.27' }))).toEqual(['CVE-2019-14287']);
    expect(ids(research.search({ cpe: 'cpe:2.3:a:redis:redis:6.0.16' }))).toEqual(['CVE-2022-0543']);
    expect(() => research.search({ cpe: 'apache httpd' })).toThrow('"apache httpd" is not a CPE 2.3 name');
  });

  it('by words (all of them), ranked by BM25', () => {
    expect(ids(research.search({ keyword: 'apache path traversal' })).sort()).toEqual([
      'CVE-2021-41773',
      'CVE-2021-42013',
    ]);
    expect(ids(research.search({ keyword: 'smuggling mod_proxy' }))).toEqual(['CVE-2023-25690']);
    expect(ids(research.search({ keyword: 'openssh' })).sort()).toEqual(['CVE-2023-38408', 'CVE-2024-6387']);
    expect(ids(research.search({ keyword: 'backdoor shell' }))).toEqual(['CVE-2011-2523']);
    expect(ids(research.search({ keyword: 'remote code execution', product: 'openssh' }))).toEqual([
      'CVE-2024-6387',
      'CVE-2023-38408',
    ]);
    expect(research.search({ keyword: '"; DROP TABLE cves; --' }).total).toBe(0);
  });

  it('by CVSS range, CWE and publication date', () => {
    expect(ids(research.search({ cvssMin: 9.9 }))).toEqual(['CVE-2022-0543']);
    expect(ids(research.search({ cvssMin: 8, cvssMax: 9, sort: 'cvss' }))).toEqual(['CVE-2019-14287', 'CVE-2024-6387']);
    expect(ids(research.search({ cwe: 'CWE-22' }))).toEqual(['CVE-2021-42013', 'CVE-2021-41773']);
    expect(ids(research.search({ cwe: '78' }))).toEqual(['CVE-2011-2523']);
    expect(ids(research.search({ publishedFrom: '2021-10-05', publishedTo: '2021-10-07' }))).toEqual([
      'CVE-2021-42013',
      'CVE-2021-41773',
    ]);
    expect(ids(research.search({ publishedFrom: '2024-01-01' }))).toEqual(['CVE-2024-6387']);
  });

  it('pages with a total', () => {
    const all = research.search({ sort: 'published' });
    expect(all.total).toBe(8);
    const page = research.search({ sort: 'published', limit: 3, offset: 3 });
    expect(page.total).toBe(8);
    expect(ids(page)).toEqual(ids(all).slice(3, 6));
  });
});

describe('CVEs and catalogue modules', () => {
  it('maps a CVE to modules by its id first, then product, then CWE', () => {
    const m = research.modulesFor('CVE-2021-41773', catalogue)!;
    expect(m.map((x) => [x.module.id, x.score])).toEqual([
      ['apache-path-traversal', 6],
      ['web-dir-traversal', 1],
    ]);
    expect(m[0]!.reasons).toEqual([
      { kind: 'cve', cve: 'CVE-2021-41773' },
      { kind: 'product', product: 'http_server' },
      { kind: 'cwe', cwe: 'CWE-22' },
    ]);
    expect(research.modulesFor('CVE-2023-38408', catalogue)!.map((x) => x.module.id)).toEqual(['weak-ssh']);
    expect(research.modulesFor('CVE-2000-0000', catalogue)).toBeUndefined();
  });

  it('gives a module the CVEs it names, then those of its software, worst first', () => {
    expect(research.cvesFor(catalogue[0]!).map((c) => c.id)).toEqual([
      'CVE-2021-41773',
      'CVE-2021-42013',
      'CVE-2023-25690',
    ]);
    expect(research.cvesFor(catalogue.find((m) => m.id === 'weak-ssh')!).map((c) => c.id)).toEqual([
      'CVE-2023-38408',
      'CVE-2024-6387',
    ]);
  });

  it('suggests modules and CVEs for a described machine', () => {
    const s = research.suggest('a web server on Ubuntu 22.04', catalogue, { limit: 4 });
    expect(s.machine).toMatchObject({ image: 'ubuntu-22.04', family: 'ubuntu', roles: ['web server'] });
    expect(s.modules.map((m) => m.module.id)).toEqual([
      'apache-path-traversal',
      'web-dir-traversal',
      'web-sqli',
      'tomcat-default-creds',
    ]);
    expect(s.modules[0]!.cves.map((c) => c.id)).toEqual(['CVE-2021-41773', 'CVE-2021-42013', 'CVE-2023-25690']);
    expect(s.modules.every((m) => !m.module.os?.families?.includes('windows'))).toBe(true);
    // Worst first, equal scores by id.
    expect(s.cves.map((c) => c.id)).toEqual(['CVE-2021-41773', 'CVE-2021-42013', 'CVE-2023-25690']);
  });

  it('explains a module from its facts, the same every time', () => {
    const text = research.explain(catalogue.find((m) => m.id === 'vsftpd-backdoor')!);
    expect(text).toBe(
      [
        'vsftpd 2.3.4 backdoor (vsftpd-backdoor) is a network-service module.',
        'It applies to debian.',
        'CVE-2011-2523 (CVSS 9.8 CRITICAL): vsftpd 2.3.4 downloaded between 20110630 and 20110703 contains a backdoor which opens a shell on port 6200/tcp.',
      ].join('\n'),
    );
    expect(research.explain(catalogue.find((m) => m.id === 'vsftpd-backdoor')!)).toBe(text);
  });

  it('without an LLM endpoint, says that there is no draft and why', async () => {
    expect(research.llmEnabled()).toBe(false);
    await expect(research.draftDescription(catalogue[0]!)).rejects.toMatchObject({
      code: 'not_found',
      message: 'No LLM endpoint is configured, so there is no draft',
    });
  });
});
