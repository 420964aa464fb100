// npm run bench:research — importing a large NVD 2.0 feed file streams it: it writes a generated feed of
// BENCH_CVES records (default 50,000, about 110 MB pretty-printed like NVD's), imports it, imports it again (all
// unchanged), and prints time, records/s and the process's peak RSS, then the peak RSS of reading the same file into
// one string and JSON.parse-ing it, for comparison. Then search latencies over the imported data.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createResearch } from '../../server/research/index.ts';

const n = Number(process.env.BENCH_CVES ?? 50_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-cve-bench-'));
const file = path.join(dir, 'nvdcve-2.0-bench.json');
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const peak = () => process.resourceUsage().maxRSS * 1024;
const row = (label: string, value: string) => console.log(`${label.padEnd(44)} ${value}`);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const vendors = [
  'apache',
  'openbsd',
  'redis',
  'vsftpd_project',
  'sudo_project',
  'nginx',
  'mysql',
  'postgresql',
  'samba',
  'php',
];
const products = ['http_server', 'openssh', 'redis', 'vsftpd', 'sudo', 'nginx', 'mysql', 'postgresql', 'samba', 'php'];
const words =
  'buffer overflow injection traversal bypass authentication remote attacker crafted request allows execution denial service memory corruption privilege escalation cross site scripting'.split(
    ' ',
  );

function record(i: number): string {
  const v = i % vendors.length;
  const year = 2000 + (i % 25);
  const text = Array.from({ length: 40 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ');
  const score = ((i * 37) % 100) / 10;
  const item = {
    cve: {
      id: `CVE-${year}-${String(10000 + i)}`,
      sourceIdentifier: 'cve@mitre.org',
      published: `${year}-0${1 + (i % 9)}-1${i % 10}T10:15:00.000`,
      lastModified: `2024-0${1 + (i % 9)}-1${i % 10}T10:15:00.000`,
      vulnStatus: 'Analyzed',
      descriptions: [{ lang: 'en', value: `In ${products[v]} ${text}.` }],
      metrics: {
        cvssMetricV31: [
          {
            source: 'nvd@nist.gov',
            type: 'Primary',
            cvssData: {
              version: '3.1',
              vectorString: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
              attackVector: 'NETWORK',
              attackComplexity: 'LOW',
              privilegesRequired: 'NONE',
              userInteraction: 'NONE',
              scope: 'UNCHANGED',
              confidentialityImpact: 'HIGH',
              integrityImpact: 'HIGH',
              availabilityImpact: 'HIGH',
              baseScore: score,
              baseSeverity: score >= 9 ? 'CRITICAL' : score >= 7 ? 'HIGH' : score >= 4 ? 'MEDIUM' : 'LOW',
            },
            exploitabilityScore: 3.9,
            impactScore: 5.9,
          },
        ],
      },
      weaknesses: [
        { source: 'nvd@nist.gov', type: 'Primary', description: [{ lang: 'en', value: `CWE-${20 + (i % 60)}` }] },
      ],
      configurations: [
        {
          nodes: [
            {
              operator: 'OR',
              negate: false,
              cpeMatch: [
                {
                  vulnerable: true,
                  criteria: `cpe:2.3:a:${vendors[v]}:${products[v]}:*:*:*:*:*:*:*:*`,
                  versionStartIncluding: `${1 + (i % 3)}.0`,
                  versionEndExcluding: `${1 + (i % 3)}.${i % 20}.${i % 7}`,
                  matchCriteriaId: '00000000-0000-4000-8000-000000000000',
                },
                {
                  vulnerable: false,
                  criteria: 'cpe:2.3:o:debian:debian_linux:11.0:*:*:*:*:*:*:*',
                  matchCriteriaId: '00000000-0000-4000-8000-000000000001',
                },
              ],
            },
          ],
        },
      ],
      references: [
        { url: `https://example.org/advisories/${i}`, source: 'cve@mitre.org', tags: ['Third Party Advisory'] },
        { url: `https://example.org/patch/${i}`, source: 'cve@mitre.org', tags: ['Patch'] },
      ],
    },
  };
  return JSON.stringify(item, null, 2).replace(/^/gm, '    ');
}

// Written in pieces: the generator never holds the file either.
const out = fs.openSync(file, 'w');
fs.writeSync(
  out,
  `{\n  "resultsPerPage": ${n},\n  "startIndex": 0,\n  "totalResults": ${n},\n  "format": "NVD_CVE",\n  "version": "2.0",\n  "timestamp": "2024-08-01T00:00:00.000",\n  "vulnerabilities": [\n`,
);
for (let i = 0; i < n; i++) fs.writeSync(out, `${record(i)}${i + 1 < n ? ',' : ''}\n`);
fs.writeSync(out, '  ]\n}\n');
fs.closeSync(out);
const size = fs.statSync(file).size;

console.log(`bench:research  NVD 2.0 feed of ${n} records, ${mb(size)}; ${os.cpus().length} cores`);
row('peak RSS before importing', mb(peak()));
const research = createResearch({ dataDir: dir });
let t0 = performance.now();
const first = await research.importFeed(file);
const firstS = (performance.now() - t0) / 1000;
row(
  'import (stream, parse, store)',
  `${firstS.toFixed(1)} s, ${Math.round(first.records / firstS)} records/s, ${(size / 1024 / 1024 / firstS).toFixed(1)} MiB/s, ${first.added} added, ${first.failed} failed`,
);
row('peak RSS after importing', mb(peak()));
t0 = performance.now();
const again = await research.importFeed(file);
const againS = (performance.now() - t0) / 1000;
row('import again (every record unchanged)', `${againS.toFixed(1)} s, ${again.unchanged} unchanged`);

const time = (label: string, f: () => unknown, runs = 200) => {
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    f();
    ts.push(performance.now() - s);
  }
  row(label, `p50 ${pct(ts, 50).toFixed(2)} ms, p95 ${pct(ts, 95).toFixed(2)} ms`);
};
let q = 0;
time('search by product (50 newest)', () => research.search({ product: products[q++ % products.length]! }));
time('search by words (50 best)', () =>
  research.search({ keyword: `${words[q++ % words.length]} ${words[(q * 3) % words.length]}` }),
);
time(
  'search by CPE with version',
  () => research.search({ cpe: `cpe:2.3:a:${vendors[q % vendors.length]}:${products[q++ % products.length]}:1.5.0` }),
  20,
);
time('search by CVSS range and date', () =>
  research.search({ cvssMin: 9, publishedFrom: '2010-01-01', publishedTo: '2015-12-31', sort: 'cvss' }),
);
const dbSize = fs.statSync(path.join(dir, 'cve.db')).size;
row('cve.db', mb(dbSize));
await research.close();

// For comparison: the file read into one string and parsed at once.
const before = peak();
t0 = performance.now();
const whole = JSON.parse(fs.readFileSync(file, 'utf8')) as { vulnerabilities: unknown[] };
row(
  'whole file: readFileSync + JSON.parse',
  `${((performance.now() - t0) / 1000).toFixed(1)} s, ${whole.vulnerabilities.length} records, peak RSS ${mb(before)} -> ${mb(peak())}`,
);
fs.rmSync(dir, { recursive: true, force: true });
