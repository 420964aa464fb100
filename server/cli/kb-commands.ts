// `glassdome ask`, `glassdome research import|search|suggest` and `glassdome flags`: the knowledge base, CVE research
// and a deployment's flags, on this machine's data folder or, with --server, on an appliance through its API.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../config.ts';
import { AppError, errorMessage, formatIssue, isAppError } from '../errors.ts';
import { cliActor } from '../model/audit.ts';
import type { CveImportJob } from '../model/research.ts';
import type { CveSummary } from '../orchestrator/cve-research.ts';
import type { FlagRow } from '../orchestrator/deployment-flags.ts';
import { readableCollections } from '../orchestrator/knowledge-base.ts';
import { createServices, type Services } from '../services.ts';
import { createRemote } from './remote.ts';

export const kbCommands = ['ask', 'research', 'flags'];

export const kbUsage = `Knowledge and research (locally, or on an appliance with --server)
  ask "QUESTION" [--k N] [--json]           the best passages of the documentation (staff: also the scenarios,
                                            the module catalogue and failed deployments), with source and scores
  research import FILE                      import an NVD CVE JSON 2.0 feed (.json or .json.gz) or a CVE JSON 5
                                            record (locally also a folder of them); bad records are listed with
                                            their position and the rest imported (exit 1 when there were any)
  research search [WORDS] [--product P] [--vendor V] [--cpe CPE] [--cwe CWE] [--cvss-min N] [--cvss-max N]
                  [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--limit N] [--json]
                                            search the imported CVEs
  research suggest "DESCRIPTION" [--json]   catalogue modules and CVEs for a machine ("a web server on Ubuntu 22.04")
  flags ID [--instance N[,N]] [--ctfd FILE] [--json]
                                            a deployment's flags, hints and marking guides (audited); --ctfd writes
                                            CTFd's challenge CSV (Admin > Config > Backup > Import CSV)`;

type Print = (s?: string) => void;

const searchSchema = z.object({
  keyword: z.string().max(200).optional(),
  product: z.string().max(100).optional(),
  vendor: z.string().max(100).optional(),
  cpe: z.string().max(300).optional(),
  cwe: z
    .string()
    .regex(/^(CWE-)?\d{1,5}$/i, 'expected CWE-<number>')
    .optional(),
  cvssMin: z.coerce.number().min(0).max(10).optional(),
  cvssMax: z.coerce.number().min(0).max(10).optional(),
  from: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
    .optional(),
  to: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(25),
});

function parsed<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new AppError(
      'invalid_input',
      r.error.issues
        .map((i) => `--${String(i.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`)
        .join('; '),
    );
  return r.data;
}

function need(v: string | undefined, what: string): string {
  if (!v || v.trim() === '') throw new AppError('invalid_input', `missing ${what}; see glassdome --help`);
  return v;
}

const instancesOf = (s: string | undefined): number[] | undefined => {
  if (s === undefined) return undefined;
  if (!/^\d+(,\d+)*$/.test(s)) throw new AppError('invalid_input', `--instance: expected N or N,M, not "${s}"`);
  return s.split(',').map(Number);
};

/** Runs one of kbCommands; returns the exit code (0 success, 1 failure, 2 invalid input). */
export async function runKbCommand(
  command: string,
  argv: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const print: Print = (s = '') => out.write(`${s}\n`);
  let services: Services | undefined;
  try {
    const { values: o, positionals: args } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        server: { type: 'string' },
        token: { type: 'string' },
        ca: { type: 'string' },
        json: { type: 'boolean', default: false },
        k: { type: 'string' },
        instance: { type: 'string' },
        ctfd: { type: 'string' },
        product: { type: 'string' },
        vendor: { type: 'string' },
        cpe: { type: 'string' },
        cwe: { type: 'string' },
        'cvss-min': { type: 'string' },
        'cvss-max': { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        limit: { type: 'string' },
      },
    });
    const config = loadConfig();
    const server = o.server ?? config.remote.server;
    const token = o.token ?? config.remote.token;
    if (server && !token)
      throw new AppError(
        'invalid_input',
        '--server needs --token (or GLASSDOME_TOKEN): create one in Settings > API tokens',
      );
    const remote = server ? createRemote({ server, token: token!, ...(o.ca ? { ca: o.ca } : {}) }) : undefined;
    const local = () => (services ??= createServices({ config, runner: {} }));
    const sub = command === 'research' ? args[0] : undefined;
    const rest = command === 'research' ? args.slice(1) : args;

    if (command === 'ask') {
      const question = need(rest.join(' '), '"QUESTION"');
      const k = o.k === undefined ? 8 : parsed(z.coerce.number().int().min(1).max(50), o.k);
      let answer: AskJson;
      if (remote) {
        answer = await remote.call<AskJson>(
          'GET',
          `/knowledge/search?${new URLSearchParams({ q: question, k: String(k) })}`,
        );
      } else {
        const s = local();
        if (await s.knowledge.ensureBuilt().then((r) => r !== undefined))
          err.write(
            'glassdome: the knowledge base was empty; it has been built from the docs, scenarios and modules\n',
          );
        const a = await s.knowledge.search({ role: 'admin' }, question, k);
        answer = {
          question,
          mode: a.mode,
          ...(a.notice ? { notice: a.notice } : {}),
          collections: [...a.collections],
          passages: a.passages,
        };
      }
      if (o.json) print(JSON.stringify(answer, null, 2));
      else printAnswer(answer, print);
      return 0;
    }

    if (command === 'research' && sub === 'import') {
      const file = need(rest[0], 'FILE');
      let job: CveImportJob;
      if (remote) {
        if (!fs.existsSync(file)) throw new AppError('not_found', `${file} does not exist`);
        if (fs.statSync(file).isDirectory())
          throw new AppError(
            'invalid_input',
            `${file} is a folder: send its files one at a time, or import it on the appliance`,
          );
        const gz = fs.readFileSync(file).subarray(0, 2);
        const type = gz[0] === 0x1f && gz[1] === 0x8b ? 'application/gzip' : 'application/json';
        const name = file.split('/').at(-1)!;
        job = await remote.upload<CveImportJob>(`/research/cve-imports?${new URLSearchParams({ name })}`, file, type);
        print(`import ${job.id}: ${job.name} sent (${job.bytes} bytes); importing on ${remote.origin}`);
        let last = '';
        for (let polls = 0; job.state === 'running' && polls < 24 * 3600; polls++) {
          await new Promise((r) => setTimeout(r, 1000));
          job = await remote.call<CveImportJob>('GET', `/research/cve-imports/${job.id}`);
          const line = `${job.counts.records} records read`;
          if (line !== last && job.state === 'running') print(line);
          last = line;
        }
      } else {
        job = await local().research.importPath(cliActor(), file);
      }
      return printJob(job, o.json, print);
    }

    if (command === 'research' && sub === 'search') {
      const q = parsed(searchSchema, {
        ...(rest.length ? { keyword: rest.join(' ') } : {}),
        ...(o.product ? { product: o.product } : {}),
        ...(o.vendor ? { vendor: o.vendor } : {}),
        ...(o.cpe ? { cpe: o.cpe } : {}),
        ...(o.cwe ? { cwe: o.cwe } : {}),
        ...(o['cvss-min'] ? { cvssMin: o['cvss-min'] } : {}),
        ...(o['cvss-max'] ? { cvssMax: o['cvss-max'] } : {}),
        ...(o.from ? { from: o.from } : {}),
        ...(o.to ? { to: o.to } : {}),
        ...(o.limit ? { limit: o.limit } : {}),
      });
      let r: { total: number; results: CveSummary[] };
      if (remote) {
        const query = new URLSearchParams(
          Object.entries(q).flatMap(([key, v]): Array<[string, string]> => (v === undefined ? [] : [[key, String(v)]])),
        );
        r = await remote.call('GET', `/research/cves?${query}`);
      } else {
        r = local().research.search({
          ...(q.keyword ? { keyword: q.keyword } : {}),
          ...(q.product ? { product: q.product } : {}),
          ...(q.vendor ? { vendor: q.vendor } : {}),
          ...(q.cpe ? { cpe: q.cpe } : {}),
          ...(q.cwe ? { cwe: q.cwe } : {}),
          ...(q.cvssMin !== undefined ? { cvssMin: q.cvssMin } : {}),
          ...(q.cvssMax !== undefined ? { cvssMax: q.cvssMax } : {}),
          ...(q.from ? { publishedFrom: q.from } : {}),
          ...(q.to ? { publishedTo: q.to } : {}),
          limit: q.limit,
        });
      }
      if (o.json) print(JSON.stringify(r, null, 2));
      else {
        print(`${r.total} CVE(s)${r.total > r.results.length ? `, the first ${r.results.length}` : ''}`);
        for (const c of r.results)
          print(
            `${c.id.padEnd(16)} ${(c.cvss ? `${c.cvss.score.toFixed(1)} ${c.cvss.severity ?? ''}` : '-').padEnd(14)} ${(c.published ?? '').slice(0, 10).padEnd(10)}  ${c.products
              .slice(0, 2)
              .map((p) => `${p.vendor}:${p.product}`)
              .join(' ')
              .padEnd(28)} ${c.description.replace(/\s+/g, ' ').slice(0, 100)}`,
          );
      }
      return 0;
    }

    if (command === 'research' && sub === 'suggest') {
      const description = need(rest.join(' '), '"DESCRIPTION"');
      type Suggestion = {
        machine: { image?: string; family?: string; roles: string[]; products: string[] };
        modules: Array<{
          id: string;
          title: string;
          reasons: string[];
          cves: Array<{ id: string; cvss: number | null }>;
        }>;
        cves: CveSummary[];
      };
      let s: Suggestion;
      if (remote) {
        s = await remote.call<Suggestion>('GET', `/research/suggestions?${new URLSearchParams({ description })}`);
      } else {
        const r = local().research.suggest(description);
        s = {
          machine: r.machine,
          modules: r.modules.map((m) => ({
            id: m.module.id,
            title: m.module.title,
            reasons: m.reasons,
            cves: m.cves.map((c) => ({ id: c.id, cvss: c.cvss?.score ?? null })),
          })),
          cves: r.cves,
        };
      }
      if (o.json) print(JSON.stringify(s, null, 2));
      else {
        const m = s.machine;
        print(
          `Read as: ${m.image ?? m.family ?? 'any OS'}${m.roles.length ? `; ${m.roles.join(', ')}` : ''}${m.products.length ? `; software ${m.products.join(', ')}` : ''}`,
        );
        if (s.modules.length === 0) print('No module of the catalogue fits.');
        for (const x of s.modules) {
          print(`\n${x.id}  ${x.title}`);
          for (const r of x.reasons) print(`  - ${r}`);
          if (x.cves.length)
            print(`  CVEs: ${x.cves.map((c) => `${c.id}${c.cvss === null ? '' : ` (${c.cvss})`}`).join(', ')}`);
        }
        if (s.cves.length) {
          print('\nWorst imported CVEs of that software:');
          for (const c of s.cves) print(`  ${c.id}  ${c.cvss?.score ?? '-'}  ${c.description.slice(0, 100)}`);
        }
      }
      return 0;
    }

    if (command === 'flags') {
      const id = need(rest[0], 'ID');
      const instances = instancesOf(o.instance);
      const query = instances ? `?${new URLSearchParams({ instance: instances.join(',') })}` : '';
      if (o.ctfd) {
        const csv = remote
          ? await remote.text(`/deployments/${encodeURIComponent(id)}/ctfd.csv${query}`)
          : local().flags.ctfdCsv(cliActor(), id, instances ? { instances } : {});
        // The file holds every flag: private to whoever exported it.
        fs.writeFileSync(o.ctfd, csv, { mode: 0o600 });
        fs.chmodSync(o.ctfd, 0o600);
        print(
          `wrote ${Math.max(0, csv.trimEnd().split('\r\n').length - 1)} challenge(s) to ${o.ctfd} (CTFd: Admin > Config > Backup > Import CSV, type Challenges)`,
        );
        return 0;
      }
      const rows = remote
        ? await remote.call<FlagRow[]>('GET', `/deployments/${encodeURIComponent(id)}/flags${query}`)
        : local().flags.list(cliActor(), id, instances ? { instances } : {});
      if (o.json) print(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) print(`Deployment ${id} has no vulnerability modules.`);
      else
        for (const r of rows) {
          print(`i${r.instance}  ${r.hostname.padEnd(14)} ${r.module.padEnd(28)} ${r.flag}`);
          print(`    ${r.location}`);
          for (const a of r.accounts) print(`    account ${a.user} / ${a.password}${a.foothold ? ' (foothold)' : ''}`);
        }
      return 0;
    }

    throw new AppError('invalid_input', `unknown research command "${sub ?? ''}"; expected import, search or suggest`);
  } catch (e) {
    if (isAppError(e)) {
      err.write(
        `glassdome: ${e.message}\n${e.issues?.length ? `${e.issues.map(formatIssue).join('\n')}\n` : ''}${e.hint ? `hint: ${e.hint}\n` : ''}`,
      );
      return e.code === 'invalid_input' || e.code === 'not_found' ? 2 : 1;
    }
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err.write(`glassdome: ${errorMessage(e)}\n`);
      return 2;
    }
    err.write(`glassdome: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await services?.close();
  }
}

interface AskJson {
  question: string;
  mode: 'hybrid' | 'keyword';
  notice?: string;
  collections: string[];
  passages: Array<{
    collection: string;
    title: string;
    headings: string[];
    link: string;
    text: string;
    scores: { fused: number; vector: number | null; keyword: number | null };
  }>;
}

function printAnswer(a: AskJson, print: Print) {
  if (a.mode === 'keyword') print(`${a.notice}\n`);
  if (a.passages.length === 0) print('Nothing found. Try other words.');
  a.passages.forEach((p, i) => {
    const f = (n: number | null, d: number) => (n === null ? '-' : n.toFixed(d));
    print(`[${i + 1}] ${p.collection}: ${p.headings.length ? p.headings.join(' > ') : p.title}`);
    print(
      `    ${p.link}   (fused ${f(p.scores.fused, 4)}, similarity ${f(p.scores.vector, 3)}, keyword ${f(p.scores.keyword, 2)})`,
    );
    const text = p.text.length > 700 ? `${p.text.slice(0, 700)}…` : p.text;
    for (const line of text.split('\n')) print(`    ${line}`);
    print();
  });
  if (a.collections.length < readableCollections.admin.length) print(`(searched: ${a.collections.join(', ')})`);
}

function printJob(job: CveImportJob, json: boolean, print: Print): number {
  if (json) print(JSON.stringify(job, null, 2));
  else {
    const c = job.counts;
    print(
      `${job.name}: ${job.state}; ${c.records} records read, ${c.added} added, ${c.updated} updated, ${c.unchanged} unchanged, ${c.failed} not imported${job.skipped ? `, ${job.skipped} file(s) skipped` : ''} (${(job.ms / 1000).toFixed(1)} s)`,
    );
    if (job.error) print(`  ${job.error}`);
    for (const p of job.problems)
      print(
        `  ${p.file}${p.line !== undefined ? `:${p.line}:${p.column ?? 1}` : ''}${p.index !== undefined ? ` record #${p.index}` : ''}${p.id ? ` ${p.id}` : ''}: ${p.message}`,
      );
    if (job.counts.failed > job.problems.length) print(`  ... and ${job.counts.failed - job.problems.length} more`);
  }
  return job.state === 'done' && job.counts.failed === 0 ? 0 : 1;
}
