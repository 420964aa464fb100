// The Ask, Research and Flags pages' props, built from the domain's answers (no SQL here): passages with a link the
// appliance serves where there is one, CVE rows, suggestions, module details, the knowledge base's status.
import type { AskAnswer, Passage } from '../orchestrator/knowledge-base.ts';
import type { CveSummary, MachineSuggestion, ModuleRef } from '../orchestrator/cve-research.ts';
import type { KnowledgeBaseStatus } from '../orchestrator/knowledge-base.ts';
import type { CveResearch } from '../orchestrator/cve-research.ts';
import type {
  AskModel,
  AskPassageModel,
  CveRowModel,
  KnowledgeStatusModel,
  ModuleDetailModel,
  SuggestModel,
} from '../../views/props.ts';

/** Appliance pages are linked; repository paths (README.md#configuration) are shown as text. */
export function passageModel(p: Passage): AskPassageModel {
  return {
    collection: p.collection,
    source: p.source,
    title: p.title,
    headings: p.headings,
    link: p.link,
    ...(p.link.startsWith('/') && !p.link.startsWith('//') ? { href: p.link } : {}),
    text: p.text,
    scores: { fused: p.scores.fused, vector: p.scores.vector, keyword: p.scores.keyword },
  };
}

export function askModel(q: string, k: number, a: AskAnswer): AskModel {
  return {
    q,
    k,
    mode: a.mode,
    notice: a.notice,
    collections: [...a.collections],
    passages: a.passages.map(passageModel),
    building: a.building,
  };
}

/** The same answer as the API gives it. */
export function askJson(q: string, a: AskAnswer) {
  return {
    question: q,
    mode: a.mode,
    ...(a.notice ? { notice: a.notice } : {}),
    collections: [...a.collections],
    building: a.building,
    passages: a.passages.map((p) => {
      const m = passageModel(p);
      return { ...m, scores: p.scores };
    }),
  };
}

export function knowledgeStatusModel(s: KnowledgeBaseStatus): KnowledgeStatusModel {
  return {
    mode: s.mode,
    model: s.model.ready ? `${s.model.id} (${s.model.dims} dimensions)` : 'none',
    modelReason: s.model.ready ? undefined : s.model.reason,
    chunks: (['docs', 'scenarios', 'modules', 'deployments'] as const).map((c) => ({
      collection: c,
      count: s.chunks[c],
    })),
    total: s.chunks.total,
    unembedded: s.chunks.unembedded,
    vectors: s.vectors.live,
    warnings: s.warnings,
    building: s.building,
    lastSync: s.lastSync
      ? {
          at: s.lastSync.at,
          ms: s.lastSync.ms,
          added: s.lastSync.report.added,
          removed: s.lastSync.report.removed,
          unchanged: s.lastSync.report.unchanged,
          embedded: s.lastSync.report.embedded,
        }
      : undefined,
    lastError: s.lastError ?? undefined,
  };
}

/** The status as the API gives it to admins. */
export function knowledgeStatusJson(s: KnowledgeBaseStatus) {
  return {
    mode: s.mode,
    model: s.model,
    passages: s.chunks,
    vectors: s.vectors,
    warnings: s.warnings,
    building: s.building,
    lastSync: s.lastSync,
    lastError: s.lastError,
  };
}

export function cveRow(c: CveSummary): CveRowModel {
  return {
    id: c.id,
    state: c.state,
    published: c.published,
    cvss: c.cvss ? { version: c.cvss.version, score: c.cvss.score, severity: c.cvss.severity } : null,
    description: c.description,
    products: c.products.map((p) => `${p.vendor} ${p.product}`),
    cwes: c.cwes,
    references: c.references,
  };
}

export function suggestModel(description: string, s: MachineSuggestion<ModuleRef>): SuggestModel {
  return {
    description,
    machine: {
      image: s.machine.image,
      family: s.machine.family,
      roles: s.machine.roles,
      products: s.machine.products,
    },
    modules: s.modules.map((m) => ({
      id: m.module.id,
      title: m.module.title,
      category: m.module.category,
      difficulty: m.module.difficulty,
      score: m.score,
      reasons: m.reasons,
      cves: m.cves.map((c) => ({ id: c.id, score: c.cvss?.score ?? null })),
    })),
    cves: s.cves.map(cveRow),
  };
}

export function moduleDetail(d: ReturnType<CveResearch['module']>): ModuleDetailModel {
  const m = d.module;
  return {
    id: m.id,
    title: m.title,
    category: m.category,
    difficulty: m.difficulty,
    summary: m.summary,
    challenge: m.challenge,
    os: [...(d.ref.os?.families ?? []), ...(d.ref.os?.images ?? [])],
    cwe: m.references.cwe,
    cve: m.references.cve,
    links: m.references.links,
    hints: m.hints.map((h) => ({ text: h.text, cost: h.cost })),
    flagLocation: m.flag.location,
    marking: m.marking,
    explanation: d.explanation,
    cves: d.cves.map(cveRow),
  };
}
