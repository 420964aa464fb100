// The research agent: CVE data imported offline from feed files into <data>/cve.db, searched by product, CPE, words,
// CVSS and date, related to the vulnerability catalogue, and an optional LLM for drafts. cve.db is its own file, not
// knowledge.db: the knowledge index is derived and may be thrown away and rebuilt, the CVE data is not (its feed files
// need not be kept), and the two grow and are replaced on their own schedules.
import path from 'node:path';
import { AppError } from '../errors.ts';
import { importCvePath, type ImportOptions, type ImportReport } from './cve-import.ts';
import { openCveStore, type CveFilters, type CveSummary } from './cve-store.ts';
import { createLlm, type Draft, type LlmConfig } from './llm.ts';
import {
  describeMachine,
  explainModule,
  modulesForCve,
  suggestModules,
  type MachineProfile,
  type ModuleMatch,
  type ModuleRef,
  type ModuleSuggestion,
} from './modules.ts';

export type { CveFilters, CveSummary } from './cve-store.ts';
export type { ImportProblem, ImportReport } from './cve-import.ts';
export type { Draft, LlmConfig } from './llm.ts';
export type { CatalogueModuleLike, MachineProfile, ModuleMatch, ModuleRef, ModuleSuggestion } from './modules.ts';
export { describeMachine, explainModule, fromCatalogueModule, modulesForCve, suggestModules } from './modules.ts';

export interface ResearchConfig {
  dataDir: string;
  /** The admin's OpenAI-compatible endpoint, if any: drafts only. */
  llm?: LlmConfig;
}

export interface ResearchDeps {
  /** The LLM endpoint's API key, unsealed by the caller. */
  llmKey?: string;
  fetch?: typeof fetch;
}

export interface MachineSuggestion<M extends ModuleRef> {
  machine: MachineProfile;
  modules: Array<ModuleSuggestion<M> & { cves: CveSummary[] }>;
  /** Imported CVEs of the software the machine runs, worst first. */
  cves: CveSummary[];
}

export function createResearch(config: ResearchConfig, deps: ResearchDeps = {}) {
  const store = openCveStore(path.join(config.dataDir, 'cve.db'));
  const llmOf = (c: LlmConfig | undefined, key: string | undefined) =>
    c
      ? createLlm(c, {
          ...(key ? { secret: key } : {}),
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        })
      : undefined;
  let llm = llmOf(config.llm, deps.llmKey);
  let importing: Promise<unknown> = Promise.resolve();

  const cvesOfModule = (m: ModuleRef, limit: number): CveSummary[] => {
    const named = store.getMany(m.cve ?? []);
    const seen = new Set(named.map((c) => c.id));
    const byProduct = (m.products ?? [])
      .flatMap((product) => store.search({ product, sort: 'cvss', limit }).results)
      .filter((c) => !seen.has(c.id) && seen.add(c.id));
    return [...named, ...byProduct].slice(0, Math.max(limit, named.length));
  };

  const requireLlm = () => {
    if (!llm) {
      throw new AppError('not_found', 'No LLM endpoint is configured, so there is no draft', {
        hint: 'An admin can set an OpenAI-compatible endpoint in Settings; the explanation without it is always there.',
      });
    }
    return llm;
  };

  return {
    /**
     * Imports an NVD 2.0 feed file (.json or .json.gz), a CVE JSON 5 record, or a folder of them. Records already held
     * with the same or a later modification time are left as they are. Damaged records are reported with their
     * position and skipped. Imports run one at a time.
     */
    importFeed(file: string, opts: ImportOptions = {}): Promise<ImportReport> {
      const run = importing.then(async () => {
        const startedAt = new Date().toISOString();
        const report = await importCvePath(store, file, opts);
        store.recordImport(file, report.formats.join(',') || 'none', startedAt, {
          ...report,
          problems: report.problems.slice(0, 20),
        });
        return report;
      });
      importing = run.catch(() => undefined);
      return run;
    },

    search: (filters: CveFilters) => store.search(filters),

    get: (id: string) => store.get(id),

    /** The catalogue modules a CVE relates to (by CVE id, product, CWE), best first; undefined for an unknown CVE. */
    modulesFor<M extends ModuleRef>(cveId: string, catalogue: M[]): Array<ModuleMatch<M>> | undefined {
      const cve = store.get(cveId);
      return cve && modulesForCve(cve, catalogue);
    },

    /** The CVEs a module names, then imported CVEs of the software it uses (worst first). */
    cvesFor: (m: ModuleRef, limit = 10) => cvesOfModule(m, limit),

    /** Modules for a described machine ("a web server on Ubuntu 22.04"), each with its CVEs, and the machine's CVEs. */
    suggest<M extends ModuleRef>(
      description: string,
      catalogue: M[],
      opts: { limit?: number; cvesPerModule?: number } = {},
    ): MachineSuggestion<M> {
      const machine = describeMachine(description);
      const modules = suggestModules(machine, catalogue, opts.limit ?? 10).map((s) => ({
        ...s,
        cves: cvesOfModule(s.module, opts.cvesPerModule ?? 3),
      }));
      const cves = machine.products
        .flatMap((product) => store.search({ product, sort: 'cvss', limit: 5 }).results)
        .filter((c, i, all) => all.findIndex((x) => x.id === c.id) === i)
        .sort((a, b) => (b.cvss?.score ?? -1) - (a.cvss?.score ?? -1) || a.id.localeCompare(b.id))
        .slice(0, 10);
      return { machine, modules, cves };
    },

    /** A deterministic explanation of a module from its facts and CVEs: no model involved. */
    explain: (m: ModuleRef) => explainModule(m, cvesOfModule(m, 3)),

    /** Whether drafts can be asked for. */
    llmEnabled: () => llm !== undefined,

    /**
     * Replaces the LLM endpoint (an admin changed it), or removes it. Throws invalid_input for bad settings, keeping
     * the endpoint there was. Drafts already asked for finish on the old one.
     */
    configureLlm(c: LlmConfig | undefined, key?: string): void {
      llm = llmOf(c, key);
    },

    /** An LLM draft of a module's trainee-facing description, marked as a draft. Throws when no LLM is configured. */
    async draftDescription(m: ModuleRef, signal?: AbortSignal): Promise<Draft> {
      return requireLlm().draftModuleDescription(explainModule(m, cvesOfModule(m, 3)), m.id, signal);
    },

    /** An LLM draft explaining a CVE for an instructor, marked as a draft. */
    async draftExplanation(cveId: string, signal?: AbortSignal): Promise<Draft> {
      const model = requireLlm();
      const c = store.get(cveId);
      if (!c)
        throw new AppError('not_found', `CVE ${cveId} is not in the imported data`, {
          hint: 'Import the NVD or CVE 5 file that holds it.',
        });
      const facts = [
        `${c.id}${c.cvss ? ` (CVSS ${c.cvss.version} ${c.cvss.score}${c.cvss.severity ? ` ${c.cvss.severity}` : ''})` : ''}`,
        c.description,
        c.cwes.length > 0 ? `Weakness: ${c.cwes.join(', ')}` : '',
        c.products.length > 0 ? `Affected: ${c.products.map((p) => `${p.vendor} ${p.product}`).join(', ')}` : '',
      ].filter(Boolean);
      return model.draftExplanation(facts.join('\n'), c.id, signal);
    },

    status() {
      return {
        ...store.counts(),
        lastImport: store.lastImport(),
        llm: llm ? { model: llm.model } : null,
        file: store.file,
      };
    },

    async close() {
      await importing;
      store.close();
    },
  };
}

export type Research = ReturnType<typeof createResearch>;
