// The knowledge base as the appliance offers it: opened once per process without holding up the web server, fed with
// the docs, the scenario library, the module catalogue and the deployments that failed, kept current by a cheap
// periodic pass (and at once when a deployment fails), and searched within each reader's scope.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from '../db/client.ts';
import { createPrivateFile } from '../db/data-dir.ts';
import { AppError, errorMessage } from '../errors.ts';
import {
  createKnowledge,
  type Collection,
  type DeploymentInput,
  type IngestReport,
  type Knowledge,
  type KnowledgeSources,
  type KnowledgeStatus,
  type ModuleInput,
  type Passage,
} from '../knowledge/index.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { Role } from '../model/user.ts';
import { defaultCatalogue, supportedOs } from '../reaper/catalogue.ts';
import type { VulnerabilityModule } from '../reaper/module-schema.ts';
import type { EventBus } from './event-bus.ts';
import { bundledDir, type Library } from './library.ts';

export type { Collection, Passage } from '../knowledge/index.ts';

/**
 * What each role may read. Trainees get the documentation only: scenarios hold lab passwords and name the modules a
 * range carries, the catalogue holds every challenge's way in (flag locations, marking guides), and deployments hold
 * other trainees' machines and failures. Staff read everything.
 */
export const readableCollections: Record<Role, readonly Collection[]> = {
  admin: ['docs', 'scenarios', 'modules', 'deployments'],
  instructor: ['docs', 'scenarios', 'modules', 'deployments'],
  trainee: ['docs'],
};

/** Said to readers who may not see the model folder when the search is keyword-only (admins get the reason). */
export const keywordOnlyNotice =
  'Keyword search only: no embedding model is installed on this appliance, so passages are found by their words, ' +
  'not by their meaning.';

export interface AskAnswer {
  mode: 'hybrid' | 'keyword';
  /** Present when the search is keyword-only: why, for admins; plainly that it is, for everyone else. */
  notice?: string;
  /** The collections this reader's question was searched in. */
  collections: readonly Collection[];
  passages: Passage[];
  /** True until the first ingest of this process has finished: the answer may lack passages still to come. */
  building: boolean;
}

export interface KnowledgeBaseStatus extends KnowledgeStatus {
  building: boolean;
  lastSync: { at: string; ms: number; report: IngestReport } | null;
  lastError: string | null;
}

export interface KnowledgeBaseDeps {
  /** Where knowledge.db and knowledge.hnsw live (called once, on first use). */
  dataDir: () => string;
  modelDir: string;
  model: string;
  db: Db;
  library: Library;
  events: EventBus;
  audit: AuditSink;
  /** Repository root: README.md and the READMEs under server/, appliance/, packer/, offline-bundle/. */
  repoRoot?: string;
  /** How often the periodic pass looks for ended deployments and changed scenarios. */
  passMs?: number;
  /** Told each warning the index repairs (a damaged file rebuilt). */
  onWarning?: (message: string) => void;
}

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Deployments fed to the knowledge base: the latest ones with a failure, at most this many. */
const deploymentLimit = 200;
const maxQuestion = 500;

export function createKnowledgeBase(deps: KnowledgeBaseDeps) {
  const c = deps.db.$client;
  const q = {
    // Changes when a deployment comes to rest or the library changes: the only times the fed collections change.
    fingerprint: c
      .prepare(
        "SELECT (SELECT count(*) || '/' || coalesce(max(updated_at), '') FROM deployments WHERE state IN ('ready', 'failed', 'destroy_failed', 'cancelled', 'destroyed')) || '|' || (SELECT count(*) || '/' || coalesce(max(updated_at), '') FROM scenarios)",
      )
      .pluck(),
    failedDeployments: c.prepare<
      [number],
      { id: string; name: string; state: string; error: string | null; platform: string | null }
    >(
      `SELECT d.id, d.scenario_name AS name, d.state, d.error, p.name AS platform
         FROM (SELECT * FROM deployments ORDER BY created_at DESC LIMIT 500) d LEFT JOIN platforms p ON p.id = d.platform_id
        WHERE d.error IS NOT NULL OR d.state IN ('failed', 'destroy_failed')
           OR EXISTS (SELECT 1 FROM events e WHERE e.deployment_id = d.id AND e.type = 'step.failed')
        ORDER BY d.created_at DESC LIMIT ?`,
    ),
    failures: c.prepare<
      [string],
      { step: string | null; reason: string; target: string | null; state: string | null; attempts: number | null }
    >(
      `SELECT e.step_key AS step, e.message AS reason, s.target, s.state, s.attempts
         FROM events e LEFT JOIN steps s ON s.deployment_id = e.deployment_id AND s.key = e.step_key
        WHERE e.deployment_id = ? AND e.type = 'step.failed' ORDER BY e.id`,
    ),
    log: c.prepare<[string], { at: string; type: string; step: string | null; message: string }>(
      `SELECT at, type, step_key AS step, message FROM events
        WHERE deployment_id = ? AND type IN ('deployment', 'step.failed', 'log') ORDER BY id DESC LIMIT 200`,
    ),
  };

  let opening: Promise<Knowledge> | undefined;
  let syncing: Promise<IngestReport> | undefined;
  let again: 'all' | 'live' | undefined;
  let lastSync: KnowledgeBaseStatus['lastSync'] = null;
  let lastError: string | null = null;
  let fingerprint = '';
  let timer: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let closed = false;
  // Closing stops an ingest between batches of passages instead of waiting for a whole model run.
  const stopping = new AbortController();

  function open(): Promise<Knowledge> {
    if (closed) return Promise.reject(new AppError('conflict', 'The knowledge base is closed'));
    if (opening) return opening;
    const p = (async () => {
      const dir = deps.dataDir();
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      createPrivateFile(path.join(dir, 'knowledge.db'));
      return createKnowledge({
        dataDir: dir,
        modelDir: deps.modelDir,
        model: deps.model,
        ...(deps.onWarning ? { onWarning: deps.onWarning } : {}),
      });
    })();
    opening = p;
    // A failure to open (an unreadable folder) is tried again next time, not remembered for the process's life.
    p.catch((e: unknown) => {
      lastError = errorMessage(e);
      if (opening === p) opening = undefined;
    });
    return p;
  }

  function moduleInput(m: VulnerabilityModule): ModuleInput {
    const text = [
      `Challenge: ${m.challenge.trim()}`,
      `Flag: ${m.flag.location}${m.flag.answer ? ` (the answer is ${m.flag.answer})` : ''}`,
      ...m.hints.map((h) => `Hint${h.cost ? ` (costs ${h.cost})` : ''}: ${h.text}`),
      `Marking guide: ${m.marking.trim()}`,
      m.apply.packages.length > 0 ? `Packages: ${m.apply.packages.join(', ')}` : '',
      m.references.links.length > 0 ? `References: ${m.references.links.join(' ')}` : '',
    ].filter(Boolean);
    return {
      id: m.id,
      title: m.title,
      category: m.category,
      difficulty: m.difficulty,
      description: m.summary,
      cwe: m.references.cwe,
      cve: m.references.cve,
      os: { images: supportedOs(m) },
      text: text.join('\n\n'),
      link: `/research/modules/${m.id}`,
    };
  }

  function deploymentInputs(): DeploymentInput[] {
    return q.failedDeployments.all(deploymentLimit).map((d) => {
      const seen = new Set<string>();
      const failures: NonNullable<DeploymentInput['failures']> = [];
      for (const f of q.failures.all(d.id)) {
        const step = f.step ?? d.id;
        if (seen.has(`${step}\0${f.reason}`)) continue;
        seen.add(`${step}\0${f.reason}`);
        failures.push({
          step,
          ...(f.target ? { target: f.target } : {}),
          reason: f.reason,
          ...(f.state === 'done' ? { fix: `The step succeeded when run again (attempt ${f.attempts ?? '?'}).` } : {}),
        });
      }
      return {
        id: d.id,
        name: d.name,
        state: d.state,
        ...(d.platform ? { platform: d.platform } : {}),
        ...(d.error ? { error: d.error } : {}),
        link: `/deployments/${d.id}`,
        failures,
        events: q.log
          .all(d.id)
          .reverse()
          .map((e) => ({ at: e.at, type: e.type, ...(e.step ? { step: e.step } : {}), message: e.message })),
      };
    });
  }

  /** The library's scenarios (linked to their pages), and the bundled samples the library no longer holds. */
  function scenarioSources(): Pick<KnowledgeSources, 'scenarios' | 'scenarioFiles'> {
    const records = deps.library.list().map((r) => deps.library.get(r.id));
    const held = new Set(records.map((r) => r.yaml));
    const files = fs.existsSync(bundledDir)
      ? fs
          .readdirSync(bundledDir)
          .filter((f) => f.endsWith('.yaml'))
          .sort()
          .map((f) => path.join(bundledDir, f))
          .filter((f) => !held.has(fs.readFileSync(f, 'utf8')))
      : [];
    return {
      scenarios: records.map((r) => ({ id: r.id, name: r.name, yaml: r.yaml, link: `/scenarios/${r.id}` })),
      scenarioFiles: files,
    };
  }

  /** One ingest: every collection (`all`), or only those that change while the appliance runs (`live`). */
  function sync(what: 'all' | 'live'): Promise<IngestReport> {
    if (syncing) {
      again = again === 'all' || what === 'all' ? 'all' : 'live';
      return syncing;
    }
    const run = (async () => {
      const kb = await open();
      const started = Date.now();
      fingerprint = String(q.fingerprint.get());
      const sources: KnowledgeSources = {
        ...scenarioSources(),
        deployments: deploymentInputs(),
        ...(what === 'all'
          ? {
              repoRoot: deps.repoRoot ?? repoRoot,
              modules: [...defaultCatalogue().modules.values()].map(moduleInput),
            }
          : {}),
      };
      const report = await kb.ingest(sources, { signal: stopping.signal });
      lastSync = { at: new Date().toISOString(), ms: Date.now() - started, report };
      lastError = null;
      return report;
    })();
    syncing = run;
    void run
      .catch((e: unknown) => {
        lastError = errorMessage(e);
      })
      .finally(() => {
        syncing = undefined;
        const next = again;
        again = undefined;
        if (next && !closed) void sync(next).catch(() => undefined);
      });
    return run;
  }

  const schedule = (ms: number) => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void sync('live').catch(() => undefined), ms);
    debounce.unref();
  };

  return {
    /** Opens the index (loading the model) once; later calls share it. */
    open,

    /**
     * Opens the index and brings every collection up to date, then keeps the live ones current: a pass every
     * `passMs` (60 s) that re-ingests only when a deployment came to rest or the library changed, and soon after a
     * deployment of this process fails. Resolves with one line for the log (counts and mode, never a secret).
     */
    async start(): Promise<string> {
      unsubscribe ??= deps.events.subscribe('*', (e) => {
        if (e.type === 'deployment' && /^(failed|destroy_failed)\b/.test(e.message)) schedule(2000);
      });
      if (!timer) {
        timer = setInterval(() => {
          if (!syncing && String(q.fingerprint.get()) !== fingerprint) schedule(0);
        }, deps.passMs ?? 60_000);
        timer.unref();
      }
      await sync('all');
      return summary((await open()).status());
    },

    /** Ingests everything again now (an admin asked); audited. */
    async refresh(actor: Actor): Promise<IngestReport> {
      deps.audit.record(actor, 'knowledge.refresh', 'knowledge');
      return sync('all');
    },

    /** Ingests every collection if the index holds nothing yet (the command line's first question). */
    async ensureBuilt(): Promise<IngestReport | undefined> {
      const kb = await open();
      return kb.status().chunks.total === 0 ? sync('all') : undefined;
    },

    /** The `k` best passages for a question, from the collections the reader's role may read. */
    async search(reader: { role: Role }, question: string, k = 8): Promise<AskAnswer> {
      const text = question.trim();
      if (text === '')
        throw new AppError('invalid_input', 'Ask a question', { issues: [{ path: 'q', message: 'required' }] });
      if (text.length > maxQuestion)
        throw new AppError('invalid_input', `A question may be at most ${maxQuestion} characters`, {
          issues: [{ path: 'q', message: `at most ${maxQuestion} characters` }],
        });
      const collections = readableCollections[reader.role];
      const kb = await open();
      const r = await kb.search(text, { k: Math.max(1, Math.min(k, 50)), collections: [...collections] });
      // The index filters by collection already; nothing outside the reader's scope may pass even if it did not.
      const passages = r.passages.filter((p) => collections.includes(p.collection));
      return {
        mode: r.mode,
        ...(r.mode === 'keyword'
          ? {
              notice:
                reader.role === 'admin' && r.notice
                  ? `Keyword search only: ${r.notice.replace(/:? ?keyword search only\.?$/, '')}.`
                  : keywordOnlyNotice,
            }
          : {}),
        collections,
        passages,
        building: lastSync === null,
      };
    },

    /**
     * Earlier failures like `reason` (for the overseer's "seen before"): deployment failure passages that share its
     * words or come close in meaning, never merely the best of unrelated ones.
     */
    async similarFailures(reason: string, k = 3): Promise<Passage[]> {
      if (reason.trim() === '') return [];
      const r = await (await open()).search(reason.slice(0, maxQuestion), { k: k * 3, collections: ['deployments'] });
      // A keyword hit on a common word ("the", "failed") is no repeat: half of the reason's words must be there.
      const words = (t: string) => new Set(t.toLowerCase().match(/[a-z][a-z0-9_]{3,}/g) ?? []);
      const asked = words(reason);
      const needed = Math.max(2, Math.ceil(asked.size / 2));
      const shared = (text: string) => [...words(text)].filter((w) => asked.has(w)).length;
      return r.passages
        .filter((p) => p.headings.includes('Failures'))
        .filter((p) => (p.scores.vector ?? 0) >= 0.8 || (p.scores.keywordRank !== null && shared(p.text) >= needed))
        .slice(0, k);
    },

    async status(): Promise<KnowledgeBaseStatus> {
      const s = (await open()).status();
      return { ...s, building: syncing !== undefined || lastSync === null, lastSync, lastError };
    },

    /** Stops the periodic pass, waits for an ingest in progress, closes the files. */
    async close(): Promise<void> {
      closed = true;
      stopping.abort();
      clearInterval(timer);
      clearTimeout(debounce);
      unsubscribe?.();
      await syncing?.catch(() => undefined);
      const kb = await opening?.catch(() => undefined);
      await kb?.close();
    },
  };
}

export type KnowledgeBase = ReturnType<typeof createKnowledgeBase>;

function summary(s: KnowledgeStatus): string {
  const counts = (['docs', 'scenarios', 'modules', 'deployments'] as const).map((k) => `${k} ${s.chunks[k]}`);
  const mode = s.model.ready
    ? `hybrid search with ${s.model.id} (${s.model.dims} dimensions)`
    : `keyword search only (${s.model.reason.replace(/: keyword search only\.?$/, '')})`;
  return `knowledge base: ${s.chunks.total} passages (${counts.join(', ')}), ${mode}${s.warnings.length ? `; ${s.warnings.length} warning(s)` : ''}`;
}
