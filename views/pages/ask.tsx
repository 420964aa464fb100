// Ask: a question in free words, the best passages of the documentation (and, for staff, the scenarios, the module
// catalogue and failed deployments) with their source, heading path, link and scores. Keyword-only search says so.
import type { AskModel, KnowledgeStatusModel } from '../props.ts';
import { ActionButton, Card } from '../components/form.tsx';

const collectionTitles: Record<string, string> = {
  docs: 'documentation',
  scenarios: 'scenarios',
  modules: 'vulnerability modules',
  deployments: 'deployments',
};

const score = (n: number | null, digits = 3) => (n === null ? '—' : n.toFixed(digits));

export function AskPage(p: { ask: AskModel; status?: KnowledgeStatusModel | undefined; csrf: string }) {
  const a = p.ask;
  return (
    <div>
      <h1>Ask</h1>
      <form method="get" action="/ask" class="inline-form ask-form" role="search">
        <div class="field grow">
          <label for="f-q">Question</label>
          <input
            id="f-q"
            name="q"
            type="search"
            value={a.q}
            maxlength={500}
            placeholder="How do I add a Proxmox API token?"
          />
        </div>
        <div class="field">
          <label for="f-k">Passages</label>
          <input id="f-k" name="k" type="number" min={1} max={50} value={String(a.k)} />
        </div>
        <button type="submit" class="primary">
          Ask
        </button>
      </form>
      <p class="hint">Searches the {a.collections.map((c) => collectionTitles[c] ?? c).join(', ')}.</p>
      {a.error && (
        <p class="alert" role="alert">
          {a.error}
        </p>
      )}
      {a.mode === 'keyword' && (
        <p class="notice keyword-only" role="status" data-mode="keyword">
          {a.notice}
        </p>
      )}
      {a.building && a.mode && (
        <p class="muted small">The knowledge base is still being built: some passages may be missing for a minute.</p>
      )}
      {a.mode && a.passages.length === 0 && !a.error && <p class="muted">Nothing found. Try other words.</p>}
      {a.passages.map((x, i) => (
        <Card>
          <article class="passage" data-collection={x.collection}>
            <p class="crumbs">
              <span class="badge">{collectionTitles[x.collection] ?? x.collection}</span>{' '}
              {x.headings.length > 0 ? x.headings.join(' › ') : x.title}
            </p>
            <div class="pre passage-text">{x.text}</div>
            <p class="small muted">
              #{i + 1} · source{' '}
              {x.href ? (
                <a href={x.href} class="mono">
                  {x.link}
                </a>
              ) : (
                <span class="mono">{x.link}</span>
              )}{' '}
              · fused {score(x.scores.fused, 4)} · similarity {score(x.scores.vector)} · keyword{' '}
              {score(x.scores.keyword, 2)}
            </p>
          </article>
        </Card>
      ))}
      {p.status && <KnowledgeStatusCard status={p.status} csrf={p.csrf} />}
    </div>
  );
}

/** For admins: the mode, the model (or why there is none), passages per collection, warnings, the last ingest. */
export function KnowledgeStatusCard({ status: s, csrf }: { status: KnowledgeStatusModel; csrf: string }) {
  return (
    <Card title="Knowledge base" actions={<ActionButton action="/ask/refresh" csrf={csrf} label="Ingest again now" />}>
      <dl class="facts">
        <dt>Search</dt>
        <dd data-mode={s.mode}>
          {s.mode === 'hybrid' ? 'hybrid: meaning (vectors) and words (BM25)' : 'keyword only'}
        </dd>
        <dt>Model</dt>
        <dd>
          {s.model}
          {s.modelReason && <p class="hint">{s.modelReason}</p>}
        </dd>
        <dt>Passages</dt>
        <dd>
          {s.total} ({s.chunks.map((c) => `${collectionTitles[c.collection] ?? c.collection} ${c.count}`).join(', ')})
          {s.unembedded > 0 ? `; ${s.unembedded} without a vector` : ''}; {s.vectors} vectors
        </dd>
        <dt>Last ingest</dt>
        <dd>
          {s.building
            ? 'in progress'
            : s.lastSync
              ? `${s.lastSync.at.replace('T', ' ').slice(0, 19)}: ${s.lastSync.added} added, ${s.lastSync.removed} removed, ${s.lastSync.unchanged} unchanged, ${s.lastSync.embedded} embedded in ${(s.lastSync.ms / 1000).toFixed(1)} s`
              : 'not yet in this process'}
        </dd>
      </dl>
      {s.lastError && (
        <p class="alert" role="alert">
          {s.lastError}
        </p>
      )}
      {s.warnings.map((w) => (
        <p class="alert">{w}</p>
      ))}
    </Card>
  );
}
