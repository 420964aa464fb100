// What the knowledge base is fed: the inputs a caller passes to ingest(), and their reading into chunks per
// collection (the repository's READMEs and the scenario files are read from disk here; the rest is passed in).
import fs from 'node:fs';
import path from 'node:path';
import {
  chunkDeployment,
  chunkMarkdown,
  chunkModule,
  chunkScenario,
  type Chunk,
  type Collection,
  type DeploymentInput,
  type ModuleInput,
} from './chunking.ts';

export interface KnowledgeSources {
  /** Repository root: its README.md and every README.md under server/, appliance/, packer/ and offline-bundle/. */
  repoRoot?: string;
  /** Scenario YAML files (e.g. the bundled samples); named by their path relative to repoRoot when inside it. */
  scenarioFiles?: string[];
  /** The scenario library's records; `link` is where the appliance shows one (e.g. its library page). */
  scenarios?: Array<{ id: string; name: string; yaml: string; link?: string }>;
  /** The vulnerability module catalogue, as documents. */
  modules?: ModuleInput[];
  /** Deployments worth remembering: their logs and the reasons their steps failed. */
  deployments?: DeploymentInput[];
}

/** The folders whose README.md files are part of the documentation, besides the root README.md. */
export const docFolders = ['server', 'appliance', 'packer', 'offline-bundle'];

/**
 * The chunks of every collection `sources` speaks for. Each returned collection is complete: whatever the index holds
 * in it and is not returned here is removed. docs is given by repoRoot; scenarios by scenarioFiles and scenarios
 * together; modules and deployments by their lists.
 */
export function readSources(s: KnowledgeSources, maxChars?: number): Map<Collection, Chunk[]> {
  const out = new Map<Collection, Chunk[]>();
  if (s.repoRoot !== undefined) {
    const root = s.repoRoot;
    out.set(
      'docs',
      repoReadmes(root).flatMap((rel) =>
        chunkMarkdown({
          source: rel,
          text: fs.readFileSync(path.join(root, rel), 'utf8'),
          ...(maxChars ? { maxChars } : {}),
        }),
      ),
    );
  }
  if (s.scenarioFiles !== undefined || s.scenarios !== undefined) {
    const fromFiles = (s.scenarioFiles ?? []).map((file) => {
      const rel = s.repoRoot ? path.relative(s.repoRoot, file) : '';
      const source =
        rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : path.basename(file);
      return chunkScenario({ source, yaml: fs.readFileSync(file, 'utf8'), ...(maxChars ? { maxChars } : {}) });
    });
    const fromLibrary = (s.scenarios ?? []).map((r) =>
      chunkScenario({
        source: `scenario:${r.name}`,
        yaml: r.yaml,
        link: r.link ?? `scenario:${r.id}`,
        ...(maxChars ? { maxChars } : {}),
      }),
    );
    out.set('scenarios', [...fromFiles, ...fromLibrary].flat());
  }
  if (s.modules !== undefined)
    out.set(
      'modules',
      s.modules.flatMap((m) => chunkModule(m, maxChars)),
    );
  if (s.deployments !== undefined)
    out.set(
      'deployments',
      s.deployments.flatMap((d) => chunkDeployment(d, maxChars)),
    );
  return out;
}

/** README.md of the root and of docFolders (recursively, skipping node_modules and dot folders), sorted. */
export function repoReadmes(root: string): string[] {
  const found: string[] = [];
  if (fs.existsSync(path.join(root, 'README.md'))) found.push('README.md');
  const walk = (rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const child = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else if (e.isFile() && e.name.toLowerCase() === 'readme.md') found.push(child);
    }
  };
  for (const folder of docFolders) walk(folder);
  return found.sort();
}
