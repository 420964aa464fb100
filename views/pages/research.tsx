// Research: CVE search (words, product, vendor, CPE, CWE, CVSS, dates) over the imported data, module suggestions for a
// described machine, a CVE's and a module's page with optional LLM drafts (always marked as drafts), and for admins
// the CVE imports (upload or the appliance's feed folder) and the LLM endpoint (its key is never shown back).
import type { CveImportJob } from '../../server/model/research.ts';
import type {
  CveRowModel,
  CveSearchModel,
  DraftModel,
  LlmSettingsModel,
  ModuleDetailModel,
  ResearchStatusModel,
  SuggestModel,
} from '../props.ts';
import { Card, Csrf, Field, FormMessage } from '../components/form.tsx';
import { StateBadge } from '../components/state.tsx';

export interface ResearchPageProps {
  csrf: string;
  isAdmin: boolean;
  status: ResearchStatusModel;
  search: CveSearchModel;
  suggest?: SuggestModel | undefined;
  modules: Array<{ id: string; title: string; category: string; difficulty?: string | undefined }>;
  jobs?: CveImportJob[] | undefined;
  feeds?: string[] | undefined;
  feedsDir?: string | undefined;
  llm?: LlmSettingsModel | null | undefined;
  llmForm?:
    { values: Record<string, unknown>; errors: Record<string, string>; message?: string | undefined } | undefined;
  importError?: string | undefined;
}

const date = (s: string | null | undefined) => (s ? s.slice(0, 10) : '—');

function Cvss({ c }: { c: CveRowModel['cvss'] }) {
  if (!c) return <span class="muted">—</span>;
  const level = c.score >= 9 ? 'failed' : c.score >= 7 ? 'destroy_failed' : c.score >= 4 ? 'cancelled' : 'ready';
  return (
    <span class={`badge state-${level}`} title={`CVSS ${c.version}`}>
      {c.score.toFixed(1)}
      {c.severity ? ` ${c.severity.toLowerCase()}` : ''}
    </span>
  );
}

export function CveTable({ rows }: { rows: CveRowModel[] }) {
  return (
    <table class="cves">
      <thead>
        <tr>
          <th>CVE</th>
          <th>CVSS</th>
          <th>Published</th>
          <th>Products</th>
          <th>Description</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <tr>
            <td class="mono">
              <a href={`/research/cves/${c.id}`}>{c.id}</a>
            </td>
            <td>
              <Cvss c={c.cvss} />
            </td>
            <td>{date(c.published)}</td>
            <td class="small">{c.products.slice(0, 4).join(', ')}</td>
            <td class="small">{c.description.length > 240 ? `${c.description.slice(0, 240)}…` : c.description}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function pageLink(values: Record<string, string>, offset: number) {
  const q = new URLSearchParams({ ...values, offset: String(offset) });
  return `/research?${q.toString()}`;
}

export function ResearchPage(p: ResearchPageProps) {
  const s = p.search;
  const v = s.values;
  return (
    <div>
      <h1>
        Research <small>{p.status.cves.toLocaleString('en')} CVEs imported</small>
      </h1>
      {p.status.cves === 0 && (
        <p class="notice">
          No CVE data yet.{' '}
          {p.isAdmin
            ? 'Import NVD 2.0 feed files or CVE JSON 5 records below.'
            : 'An admin imports NVD 2.0 feed files or CVE JSON 5 records here.'}{' '}
          Module suggestions work without it.
        </p>
      )}
      <Card title="Search CVEs">
        <form method="get" action="/research" class="stack">
          <div class="grid-3">
            <Field name="keyword" label="Words" values={v} errors={s.errors} placeholder="path traversal" />
            <Field name="product" label="Product (CPE name)" values={v} errors={s.errors} placeholder="http_server" />
            <Field name="vendor" label="Vendor" values={v} errors={s.errors} placeholder="apache" />
            <Field
              name="cpe"
              label="CPE 2.3"
              values={v}
              errors={s.errors}
              placeholder="cpe:2.3:a:openbsd:openssh:8.9"
            />
            <Field name="cwe" label="CWE" values={v} errors={s.errors} placeholder="CWE-22" />
            <Field name="cvssMin" label="CVSS at least" values={v} errors={s.errors} type="number" />
            <Field name="cvssMax" label="CVSS at most" values={v} errors={s.errors} type="number" />
            <Field name="from" label="Published from" values={v} errors={s.errors} placeholder="2021-01-01" />
            <Field name="to" label="Published until" values={v} errors={s.errors} placeholder="2024-12-31" />
          </div>
          <div class="buttons">
            <button type="submit" class="primary">
              Search
            </button>
          </div>
        </form>
        {s.searched && (
          <div class="results">
            <p class="muted">
              {s.total === 0
                ? 'No CVE matches.'
                : `${s.offset + 1}–${s.offset + s.results.length} of ${s.total.toLocaleString('en')}`}
            </p>
            {s.results.length > 0 && <CveTable rows={s.results} />}
            <p class="buttons">
              {s.offset > 0 && <a href={pageLink(v, Math.max(0, s.offset - s.limit))}>← previous</a>}
              {s.offset + s.results.length < s.total && <a href={pageLink(v, s.offset + s.limit)}>next →</a>}
            </p>
          </div>
        )}
      </Card>
      <Card title="Suggest modules for a machine">
        <form method="get" action="/research" class="inline-form">
          <div class="field grow">
            <label for="f-describe">Machine</label>
            <input
              id="f-describe"
              name="describe"
              value={p.suggest?.description ?? ''}
              maxlength={500}
              placeholder="a web server on Ubuntu 22.04 with MySQL"
            />
          </div>
          <button type="submit">Suggest</button>
        </form>
        {p.suggest?.error && <p class="alert">{p.suggest.error}</p>}
        {p.suggest?.machine && <Suggestions s={p.suggest} />}
      </Card>
      <Card title="Modules of the catalogue">
        <ul class="columns">
          {p.modules.map((m) => (
            <li>
              <a href={`/research/modules/${m.id}`}>{m.title}</a>{' '}
              <small class="muted">
                {m.category}
                {m.difficulty ? `, ${m.difficulty}` : ''}
              </small>
            </li>
          ))}
        </ul>
      </Card>
      {p.isAdmin && <ImportsCard {...p} />}
      {p.isAdmin && <LlmCard {...p} />}
    </div>
  );
}

function Suggestions({ s }: { s: SuggestModel }) {
  const m = s.machine!;
  return (
    <div class="suggestions">
      <p class="muted">
        Read as: {m.image ?? m.family ?? 'any OS'}
        {m.roles.length ? `; ${m.roles.join(', ')}` : ''}
        {m.products.length ? `; software ${m.products.join(', ')}` : ''}.
      </p>
      {s.modules.length === 0 ? (
        <p class="muted">No module of the catalogue fits.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Module</th>
              <th>Why</th>
              <th>CVEs</th>
            </tr>
          </thead>
          <tbody>
            {s.modules.map((x) => (
              <tr data-module={x.id}>
                <td>
                  <a href={`/research/modules/${x.id}`}>{x.title}</a>
                  <br />
                  <small class="muted mono">{x.id}</small>
                </td>
                <td class="small">{x.reasons.join('; ')}</td>
                <td class="small mono">
                  {x.cves.map((c) => (
                    <a href={`/research/cves/${c.id}`}>
                      {c.id}
                      {c.score === null ? '' : ` (${c.score})`}{' '}
                    </a>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {s.cves.length > 0 && (
        <>
          <h3>Worst imported CVEs of that software</h3>
          <CveTable rows={s.cves} />
        </>
      )}
    </div>
  );
}

function ImportsCard(p: ResearchPageProps) {
  return (
    <Card title="Import CVE data">
      <p class="hint">
        NVD CVE JSON 2.0 feeds (<span class="mono">nvdcve-2.0-2024.json.gz</span>, gzipped or not) or CVE JSON 5
        records. Imports run in the background; a record that cannot be read is reported with its position and the rest
        is imported. Importing a newer feed again updates what changed.
      </p>
      <FormMessage message={p.importError} />
      <form method="post" action="/research/imports" enctype="multipart/form-data" class="inline-form">
        <Csrf token={p.csrf} />
        <div class="field">
          <label for="f-file">Upload a file (at most 64 MiB)</label>
          <input id="f-file" name="file" type="file" accept=".json,.gz,application/json,application/gzip" />
        </div>
        <button type="submit" class="primary">
          Import
        </button>
      </form>
      <h3>From the appliance's feed folder</h3>
      <p class="hint">
        Larger files (a year of NVD, a cvelistV5 folder): copy them to <span class="mono">{p.feedsDir}</span>, or run{' '}
        <span class="mono">glassdome research import FILE</span> on the appliance.
      </p>
      {(p.feeds ?? []).length === 0 ? (
        <p class="muted">The folder holds no feed files.</p>
      ) : (
        <>
          <form method="post" action="/research/imports" class="inline">
            <Csrf token={p.csrf} />
            <button type="submit" name="all" value="feeds">
              Import all {p.feeds!.length}
            </button>
          </form>
          <table>
            <tbody>
              {p.feeds!.map((f) => (
                <tr>
                  <td class="mono">{f}</td>
                  <td>
                    <form method="post" action="/research/imports" class="inline">
                      <Csrf token={p.csrf} />
                      <button type="submit" name="feed" value={f}>
                        Import
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {(p.jobs ?? []).length > 0 && (
        <>
          <h3>Recent imports</h3>
          <table>
            <thead>
              <tr>
                <th>File</th>
                <th>State</th>
                <th>Records</th>
                <th>Added / updated / unchanged</th>
                <th>Bad</th>
                <th>Started</th>
              </tr>
            </thead>
            <tbody>
              {p.jobs!.map((j) => (
                <tr>
                  <td class="mono">
                    <a href={`/research/imports/${j.id}`}>{j.name}</a>
                  </td>
                  <td>
                    <StateBadge state={j.state} />
                  </td>
                  <td>{j.counts.records.toLocaleString('en')}</td>
                  <td>
                    {j.counts.added} / {j.counts.updated} / {j.counts.unchanged}
                  </td>
                  <td>{j.counts.failed}</td>
                  <td class="small">
                    {j.startedAt.replace('T', ' ').slice(0, 19)} by {j.by}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Card>
  );
}

function LlmCard(p: ResearchPageProps) {
  const f = p.llmForm ?? { values: {}, errors: {} };
  const values = { ...(p.llm ?? {}), ...f.values };
  return (
    <Card title="LLM for drafts (optional)">
      <p class="hint">
        An OpenAI-compatible chat completions endpoint (a local model in an air-gapped room). It only drafts module
        descriptions and CVE explanations, always shown as unreviewed drafts; everything else works without it.
      </p>
      <FormMessage message={f.message} />
      <form method="post" action="/research/llm" class="stack">
        <Csrf token={p.csrf} />
        <Field
          name="baseUrl"
          label="Base URL (up to the API version)"
          values={values}
          errors={f.errors}
          placeholder="http://10.0.0.5:8000/v1"
          type="url"
        />
        <Field name="model" label="Model" values={values} errors={f.errors} placeholder="llama-3.1-8b-instruct" />
        <Field name="timeoutMs" label="Timeout (ms)" values={values} errors={f.errors} type="number" />
        <Field
          name="key"
          label="API key"
          errors={f.errors}
          secret
          type="password"
          autocomplete="off"
          hint={
            p.llm?.hasKey
              ? 'A key is stored (sealed). Leave empty to keep it; type a new one to replace it.'
              : 'Optional; sent as a bearer token, stored sealed, never shown again.'
          }
        />
        {p.llm?.hasKey && (
          <div class="field check">
            <label>
              <input type="checkbox" name="clearKey" value="on" /> Remove the stored key
            </label>
          </div>
        )}
        <div class="buttons">
          <button type="submit" class="primary" name="action" value="save">
            Save
          </button>
          {p.llm && (
            <button type="submit" class="danger" name="action" value="remove">
              Remove the endpoint
            </button>
          )}
        </div>
      </form>
    </Card>
  );
}

/** One import: its state (polled while running), counts and every problem with its position. */
export function ImportJobView({ job: j }: { job: CveImportJob }) {
  const polling = j.state === 'running';
  return (
    <div
      id="import-job"
      data-state={j.state}
      {...(polling ? { 'hx-get': `/research/imports/${j.id}`, 'hx-trigger': 'every 2s', 'hx-swap': 'outerHTML' } : {})}
    >
      <Card title={j.name}>
        <dl class="facts">
          <dt>State</dt>
          <dd>
            <StateBadge state={j.state} />
            {j.error && <p class="error">{j.error}</p>}
          </dd>
          <dt>Records read</dt>
          <dd>{j.counts.records.toLocaleString('en')}</dd>
          <dt>Added</dt>
          <dd>{j.counts.added.toLocaleString('en')}</dd>
          <dt>Updated</dt>
          <dd>{j.counts.updated.toLocaleString('en')}</dd>
          <dt>Unchanged</dt>
          <dd>{j.counts.unchanged.toLocaleString('en')}</dd>
          <dt>Not imported</dt>
          <dd>{j.counts.failed.toLocaleString('en')}</dd>
          <dt>Format</dt>
          <dd>{j.formats.join(', ') || '—'}</dd>
          <dt>Started</dt>
          <dd>
            {j.startedAt.replace('T', ' ').slice(0, 19)} by {j.by} ({j.origin})
          </dd>
          <dt>Finished</dt>
          <dd>
            {j.finishedAt ? `${j.finishedAt.replace('T', ' ').slice(0, 19)} (${(j.ms / 1000).toFixed(1)} s)` : '—'}
          </dd>
        </dl>
        {j.stoppedAt && (
          <p class="alert">
            The file stops being readable at line {j.stoppedAt.line}, column {j.stoppedAt.column}: {j.stoppedAt.message}
            . The records before it were imported.
          </p>
        )}
        {j.problems.length > 0 && (
          <>
            <h3>Records not imported{j.counts.failed > j.problems.length ? ` (first ${j.problems.length})` : ''}</h3>
            <table class="problems">
              <thead>
                <tr>
                  <th>Record</th>
                  <th>Line:column</th>
                  <th>CVE</th>
                  <th>Problem</th>
                </tr>
              </thead>
              <tbody>
                {j.problems.map((x) => (
                  <tr>
                    <td>{x.index === undefined ? '—' : `#${x.index}`}</td>
                    <td class="mono">{x.line === undefined ? '—' : `${x.line}:${x.column ?? 1}`}</td>
                    <td class="mono">{x.id ?? '—'}</td>
                    <td class="small">{x.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Card>
    </div>
  );
}

export function ImportJobPage({ job }: { job: CveImportJob }) {
  return (
    <div>
      <p class="crumbs">
        <a href="/research">Research</a> / import {job.id}
      </p>
      <h1>CVE import</h1>
      <ImportJobView job={job} />
    </div>
  );
}

export function Draft({ draft, error }: { draft?: DraftModel | undefined; error?: string | undefined }) {
  if (error)
    return (
      <p class="alert" role="alert">
        {error}
      </p>
    );
  if (!draft) return null;
  return (
    <section class="card draft" data-draft="true">
      <p class="draft-label">
        <strong>DRAFT</strong> · {draft.label}
      </p>
      <div class="pre">{draft.text}</div>
      <p class="small muted">
        {draft.model}, {draft.createdAt.replace('T', ' ').slice(0, 19)}
      </p>
    </section>
  );
}

export function CvePage(p: {
  cve: CveRowModel;
  modules: Array<{ id: string; title: string; score: number; reasons: string[] }>;
  llm: boolean;
  csrf: string;
  draft?: DraftModel | undefined;
  draftError?: string | undefined;
}) {
  const c = p.cve;
  return (
    <div>
      <p class="crumbs">
        <a href="/research">Research</a> / {c.id}
      </p>
      <h1>
        {c.id} <Cvss c={c.cvss} />
        {c.state !== 'PUBLISHED' && c.state !== 'Published' && <StateBadge state={c.state.toLowerCase()} />}
      </h1>
      <Card>
        <p class="pre">{c.description}</p>
        <dl class="facts">
          <dt>Published</dt>
          <dd>{date(c.published)}</dd>
          <dt>Weakness</dt>
          <dd>{c.cwes.join(', ') || '—'}</dd>
          <dt>Products</dt>
          <dd>{c.products.join(', ') || '—'}</dd>
          <dt>References</dt>
          <dd class="small mono">
            {c.references.slice(0, 12).map((r) => (
              <div>{r}</div>
            ))}
          </dd>
        </dl>
      </Card>
      <Card title="Modules of the catalogue it relates to">
        {p.modules.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <ul>
            {p.modules.map((m) => (
              <li>
                <a href={`/research/modules/${m.id}`}>{m.title}</a> <small class="muted">{m.reasons.join(', ')}</small>
              </li>
            ))}
          </ul>
        )}
      </Card>
      {p.llm && (
        <form method="post" action={`/research/cves/${c.id}/draft`} class="inline">
          <Csrf token={p.csrf} />
          <button type="submit">Draft an explanation for instructors (LLM)</button>
        </form>
      )}
      <Draft draft={p.draft} error={p.draftError} />
    </div>
  );
}

export function ModulePage(p: {
  module: ModuleDetailModel;
  llm: boolean;
  csrf: string;
  draft?: DraftModel | undefined;
  draftError?: string | undefined;
}) {
  const m = p.module;
  return (
    <div>
      <p class="crumbs">
        <a href="/research">Research</a> / {m.id}
      </p>
      <h1>
        {m.title} <small class="mono">{m.id}</small>
      </h1>
      <Card>
        <dl class="facts">
          <dt>Category</dt>
          <dd>
            {m.category}, {m.difficulty}
          </dd>
          <dt>Operating systems</dt>
          <dd>{m.os.join(', ')}</dd>
          <dt>References</dt>
          <dd class="mono small">
            {[...m.cwe, ...m.cve].join(', ') || '—'}
            {m.links.map((l) => (
              <div>{l}</div>
            ))}
          </dd>
        </dl>
        <h3>Summary</h3>
        <p class="pre">{m.summary}</p>
        <h3>What trainees read</h3>
        <p class="pre">{m.challenge}</p>
      </Card>
      <Card title="For instructors">
        <h3>Flag</h3>
        <p>{m.flagLocation}</p>
        {m.hints.length > 0 && (
          <>
            <h3>Hints</h3>
            <ul>
              {m.hints.map((h) => (
                <li>
                  {h.text} {h.cost ? <small class="muted">(costs {h.cost})</small> : null}
                </li>
              ))}
            </ul>
          </>
        )}
        <h3>Marking guide</h3>
        <p class="pre">{m.marking}</p>
      </Card>
      <Card title="Explanation">
        <p class="pre">{m.explanation}</p>
        {m.cves.length > 0 && <CveTable rows={m.cves} />}
      </Card>
      {p.llm && (
        <form method="post" action={`/research/modules/${m.id}/draft`} class="inline">
          <Csrf token={p.csrf} />
          <button type="submit">Draft a trainee description (LLM)</button>
        </form>
      )}
      <Draft draft={p.draft} error={p.draftError} />
    </div>
  );
}
