// The knowledge base end to end with a real (tiny) model: transformers.js loads the generated ONNX graph and WordPiece
// tokenizer from a local folder, passages are embedded, indexed in HNSW and FTS5, and searched with fusion.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEmbedder, type Embedder } from '../../server/knowledge/embed.ts';
import { createKnowledge, type Knowledge, type KnowledgeConfig } from '../../server/knowledge/index.ts';
import { idsOf, referenceEmbedding, writeTinyModel, type TinyModel } from './tiny-model.ts';

const docs: Record<string, string> = {
  'README.md': [
    '# Glassdome test',
    '',
    'The appliance turns a scenario into isolated ranges.',
    '',
    '## Quick start',
    '',
    'Run the appliance with npm start.',
    '',
    '```sh',
    '# not a heading',
    'npm start',
    '```',
    '',
    '## Platforms',
    '',
    '### Proxmox',
    '',
    'Create an api token for the proxmox node with least privilege.',
    '',
    '### ESXi',
    '',
    'Pin the host certificate fingerprint of the esxi server.',
  ].join('\n'),
  'server/ipam/README.md':
    '# Address pools\n\n## VLAN pools\n\nEach instance takes one vlan per network from the pool.\n',
  'appliance/README.md':
    '# Appliance image\n\n## Offline bundle\n\nThe bundle carries the embedding model and the packages.\n',
  'server/node_modules/x/README.md': '# Not documentation\n\nzebra\n',
};

const synonyms = [
  ['proxmox', 'hypervisor'],
  ['token', 'credential'],
  ['template', 'golden'],
];

let tmp: string;
let model: TinyModel;
let repo: string;

function writeRepo(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-knowledge-'));
  const words = Object.values(docs)
    .join(' ')
    .toLowerCase()
    .match(/[a-z]+/g)!;
  model = writeTinyModel(path.join(tmp, 'models'), 'test/tiny-bert', {
    words: [...words, 'failed', 'step', 'not', 'found', 'import'],
    synonyms,
  });
  repo = path.join(tmp, 'repo');
  writeRepo(repo, docs);
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function config(dataDir: string, extra: Partial<KnowledgeConfig> = {}): KnowledgeConfig {
  return { dataDir, modelDir: model.root, model: model.name, ...extra };
}

/** The real embedder, counting the texts it is given. */
async function countingEmbedder(): Promise<{ embedder: Embedder; count: () => number }> {
  const s = await loadEmbedder({ modelDir: model.root, model: model.name, quantized: true });
  if (!s.ready) throw new Error(s.reason);
  let n = 0;
  const e = s.embedder;
  return { embedder: { id: e.id, dims: e.dims, embed: (t) => ((n += t.length), e.embed(t)) }, count: () => n };
}

describe('the local embedding model', () => {
  it('computes what the ONNX graph, mean pooling and normalisation give, padded batches included', async () => {
    const s = await loadEmbedder({ modelDir: model.root, model: model.name, quantized: true });
    expect(s.ready).toBe(true);
    if (!s.ready) return;
    expect(s.embedder.dims).toBe(model.hidden);
    const texts = ['proxmox api token', 'each instance takes one vlan per network from the pool'];
    const got = await s.embedder.embed(texts);
    for (const [i, t] of texts.entries()) {
      const want = referenceEmbedding(model, idsOf(model, t));
      expect(got[i]!.length).toBe(model.hidden);
      got[i]!.forEach((v, j) => expect(v).toBeCloseTo(want[j]!, 5));
    }
  });

  it('reports a model that is not in the folder, naming what is missing, and loads nothing', async () => {
    const s = await loadEmbedder({ modelDir: model.root, model: 'Xenova/all-MiniLM-L6-v2', quantized: true });
    expect(s).toEqual({
      ready: false,
      reason: `No embedding model is installed in ${path.join(model.root, 'Xenova/all-MiniLM-L6-v2')} (missing config.json, tokenizer.json, tokenizer_config.json, onnx/model_quantized.onnx): keyword search only.`,
    });
  });

  it('reports a model file that does not load', async () => {
    const root = path.join(tmp, 'broken-models');
    const m = writeTinyModel(root, 'broken', { words: ['a'] });
    fs.writeFileSync(path.join(root, m.name, 'onnx', 'model_quantized.onnx'), 'not an onnx graph');
    const s = await loadEmbedder({ modelDir: root, model: 'broken', quantized: true });
    expect(s.ready).toBe(false);
    if (!s.ready)
      expect(s.reason).toMatch(/^The embedding model in .*broken could not be loaded \(.+\): keyword search only\.$/);
  });
});

describe('knowledge base', () => {
  let kb: Knowledge;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(tmp, 'data-'));
    kb = await createKnowledge(config(dataDir));
  });
  afterAll(() => kb.close());

  it('ingests the READMEs of the repository (not those of node_modules) and embeds every passage', async () => {
    const r = await kb.ingest({ repoRoot: repo });
    expect(r).toMatchObject({ collections: ['docs'], removed: 0, unchanged: 0, unembedded: 0 });
    expect(r.added).toBe(r.embedded);
    const s = kb.status();
    expect(s.mode).toBe('hybrid');
    expect(s.chunks.docs).toBe(r.added);
    expect(s.vectors.live).toBe(r.added);
    const zebra = await kb.search('zebra', { k: 20 });
    expect(zebra.passages.map((p) => p.source)).not.toContain('server/node_modules/x/README.md');
    expect(zebra.passages.every((p) => p.scores.keyword === null)).toBe(true);
  });

  it('returns passages with their source, heading path, link and both scores', async () => {
    const { mode, passages } = await kb.search('vlan pool for each instance', { k: 3 });
    expect(mode).toBe('hybrid');
    expect(passages[0]).toMatchObject({
      collection: 'docs',
      source: 'server/ipam/README.md',
      title: 'Address pools',
      headings: ['Address pools', 'VLAN pools'],
      link: 'server/ipam/README.md#vlan-pools',
      text: 'Each instance takes one vlan per network from the pool.',
    });
    const s = passages[0]!.scores;
    expect(s.keywordRank).toBe(1);
    expect(s.vectorRank).toBe(1);
    expect(s.vector!).toBeGreaterThan(passages[1]!.scores.vector ?? -1);
    expect(s.keyword!).toBeGreaterThan(0);
    expect(s.fused).toBeCloseTo(2 / 61);
  });

  it('finds a passage by meaning when none of its words is in the question', async () => {
    const { passages } = await kb.search('hypervisor credential', { k: 3 });
    expect(passages[0]).toMatchObject({
      source: 'README.md',
      headings: ['Glassdome test', 'Platforms', 'Proxmox'],
      link: 'README.md#proxmox',
    });
    expect(passages[0]!.scores.keyword).toBeNull();
    expect(passages[0]!.scores.vectorRank).toBe(1);
  });

  it('ingesting unchanged sources again changes and embeds nothing; a changed section and a removed file are followed', async () => {
    const { embedder, count } = await countingEmbedder();
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const root = fs.mkdtempSync(path.join(tmp, 'repo-'));
    writeRepo(root, docs);
    const k = await createKnowledge(config(dir), { embedder });
    const first = await k.ingest({ repoRoot: root });
    expect(count()).toBe(first.added);
    expect(await k.ingest({ repoRoot: root })).toMatchObject({
      added: 0,
      removed: 0,
      unchanged: first.added,
      embedded: 0,
    });
    expect(count()).toBe(first.added);

    fs.writeFileSync(
      path.join(root, 'server/ipam/README.md'),
      '# Address pools\n\n## VLAN pools\n\nEach instance takes two vlan per network from the pool.\n',
    );
    fs.rmSync(path.join(root, 'appliance'), { recursive: true });
    const third = await k.ingest({ repoRoot: root });
    expect(third).toMatchObject({ added: 1, removed: 2, unchanged: first.added - 2, embedded: 1 });
    expect(count()).toBe(first.added + 1);
    // The new passage took the slot of one of the two removed.
    expect(k.status().vectors).toEqual({ live: first.added - 1, deleted: 1 });
    // Gone from both indexes: neither its words nor its meaning find it.
    const gone = await k.search('offline bundle embedding model packages', { k: 20 });
    expect(gone.passages.map((p) => p.source)).not.toContain('appliance/README.md');
    expect((await k.search('two vlan')).passages[0]!.text).toContain('two vlan');
    await k.close();
  });

  it('leaves the collections an ingest does not name as they were', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const k = await createKnowledge(config(dir));
    await k.ingest({ repoRoot: repo });
    const docsCount = k.status().chunks.docs;
    await k.ingest({
      modules: [
        {
          id: 'weak-ssh',
          title: 'Weak SSH password',
          category: 'credentials',
          description: 'The ssh server accepts a password from a short list.',
        },
      ],
    });
    expect(k.status().chunks).toMatchObject({ docs: docsCount, modules: 1 });
    await k.ingest({ modules: [] });
    expect(k.status().chunks).toMatchObject({ docs: docsCount, modules: 0 });
    await k.close();
  });

  it('indexes scenario files and library records, and a repeated failure reason finds its earlier occurrence', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const k = await createKnowledge(config(dir));
    const files = ['server/scenarios/web-dmz.yaml', 'server/scenarios/ad-lab.yaml'].map((f) => path.resolve(f));
    await k.ingest({
      repoRoot: process.cwd(),
      scenarioFiles: files,
      scenarios: [
        {
          id: 's42',
          name: 'golden-lab',
          yaml: 'glassdome: 1\nname: golden-lab\ntitle: Golden image lab\n',
          link: '/library/s42',
        },
      ],
      deployments: [
        {
          id: 'd7',
          name: 'web-dmz',
          state: 'failed',
          failures: [
            {
              step: 'create:web-1',
              target: 'web-1',
              reason: 'template 9000 not found on node pve1',
              fix: 'import the ubuntu template as 9000',
            },
          ],
        },
      ],
    });
    const ad = await k.search('domain controller corp.lab kerberos', { k: 3, collections: ['scenarios'] });
    expect(ad.passages[0]!.source).toBe('server/scenarios/ad-lab.yaml');
    expect(ad.passages[0]!.link).toMatch(/^server\/scenarios\/ad-lab\.yaml#L\d+$/);
    const lib = await k.search('golden image lab', { k: 1 });
    expect(lib.passages[0]).toMatchObject({ source: 'scenario:golden-lab', link: '/library/s42#L1' });
    const seen = await k.search('create:web-2 failed: template 9000 not found on node pve2', {
      k: 1,
      collections: ['deployments'],
    });
    expect(seen.passages[0]).toMatchObject({
      source: 'deployment:d7',
      headings: ['Deployment d7 of web-dmz', 'Failures', 'create:web-1'],
    });
    expect(seen.passages[0]!.text).toContain('Fix: import the ubuntu template as 9000');
    // The repository's own documentation is in too.
    const proxmox = await k.search('least-privilege API token for Proxmox', { k: 5, collections: ['docs'] });
    expect(proxmox.passages.map((p) => p.source)).toContain('server/platforms/proxmox/README.md');
    await k.close();
  });
});

describe('damaged files and a missing model', () => {
  it('reopens from disk without embedding anything again', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const first = await createKnowledge(config(dir));
    const { added } = await first.ingest({ repoRoot: repo });
    await first.close();
    const { embedder, count } = await countingEmbedder();
    const again = await createKnowledge(config(dir), { embedder });
    expect(again.status()).toMatchObject({ warnings: [], vectors: { live: added, deleted: 0 } });
    expect(await again.ingest({ repoRoot: repo })).toMatchObject({ added: 0, embedded: 0 });
    expect((await again.search('hypervisor credential')).passages[0]!.link).toBe('README.md#proxmox');
    expect(count()).toBe(1);
    await again.close();
  });

  it('rebuilds a damaged vector index from the stored vectors, with a warning', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const first = await createKnowledge(config(dir));
    const { added } = await first.ingest({ repoRoot: repo });
    await first.close();
    const file = path.join(dir, 'knowledge.hnsw');
    const bytes = fs.readFileSync(file);
    bytes.fill(0xff, 0, 64);
    fs.writeFileSync(file, bytes);

    const { embedder, count } = await countingEmbedder();
    const warned: string[] = [];
    const k = await createKnowledge(config(dir, { onWarning: (m) => warned.push(m) }), { embedder });
    expect(warned).toEqual([
      `The vector index was rebuilt from the ${added} stored vectors: ${file} does not match its recorded checksum (damaged or partly written).`,
    ]);
    expect(k.status()).toMatchObject({ warnings: warned, vectors: { live: added } });
    expect(count()).toBe(0);
    expect((await k.search('hypervisor credential')).passages[0]!.scores.vectorRank).toBe(1);
    await k.close();
    // The rebuilt index was saved: the next opening has nothing to repair.
    const next = await createKnowledge(config(dir));
    expect(next.status().warnings).toEqual([]);
    await next.close();
  });

  it('sets a damaged knowledge.db aside, starts afresh with a warning, and the next ingest fills it again', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const first = await createKnowledge(config(dir));
    const { added } = await first.ingest({ repoRoot: repo });
    await first.close();
    const db = path.join(dir, 'knowledge.db');
    const bytes = fs.readFileSync(db);
    bytes.fill(0x5a, 0, 100);
    fs.writeFileSync(db, bytes);

    const k = await createKnowledge(config(dir));
    const s = k.status();
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toMatch(
      /^The knowledge index .*knowledge\.db was damaged \(.+\); it was moved to .*knowledge\.db\.corrupt-.+ and started afresh: it fills again at the next ingest\.$/,
    );
    expect(fs.readdirSync(dir).some((f) => f.startsWith('knowledge.db.corrupt-'))).toBe(true);
    expect(s.chunks.total).toBe(0);
    expect(await k.ingest({ repoRoot: repo })).toMatchObject({ added, embedded: added });
    expect((await k.search('vlan pool')).passages[0]!.source).toBe('server/ipam/README.md');
    await k.close();
  });

  it('without a model says so, searches by keyword only, and embeds once a model is installed', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const empty = fs.mkdtempSync(path.join(tmp, 'no-models-'));
    const k = await createKnowledge({ dataDir: dir, modelDir: empty });
    const reason = `No embedding model is installed in ${path.join(empty, 'Xenova/all-MiniLM-L6-v2')} (missing config.json, tokenizer.json, tokenizer_config.json, onnx/model_quantized.onnx): keyword search only.`;
    expect(k.status()).toMatchObject({ mode: 'keyword', model: { ready: false, reason }, vectors: { live: 0 } });
    const r = await k.ingest({ repoRoot: repo });
    expect(r.embedded).toBe(0);
    expect(r.unembedded).toBe(r.added);
    const words = await k.search('vlan pool');
    expect(words).toMatchObject({ mode: 'keyword', notice: reason });
    expect(words.passages[0]).toMatchObject({
      source: 'server/ipam/README.md',
      scores: { vector: null, vectorRank: null, keywordRank: 1 },
    });
    // No vector search to fall back on: a question with no word of the passages finds nothing, and says why.
    expect(await k.search('hypervisor credential')).toEqual({ mode: 'keyword', notice: reason, passages: [] });
    await k.close();

    const later = await createKnowledge(config(dir));
    expect(await later.ingest({ repoRoot: repo })).toMatchObject({ added: 0, embedded: r.added, unembedded: 0 });
    expect((await later.search('hypervisor credential')).passages[0]!.link).toBe('README.md#proxmox');
    await later.close();
  });

  it('embeds everything again when the model changes', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'data-'));
    const first = await createKnowledge(config(dir));
    const { added } = await first.ingest({ repoRoot: repo });
    await first.close();
    const other = writeTinyModel(path.join(tmp, 'models-2'), 'other', { words: ['vlan', 'pool'], hidden: 24, seed: 3 });
    const k = await createKnowledge({ dataDir: dir, modelDir: other.root, model: other.name });
    expect(k.status()).toMatchObject({ model: { ready: true, dims: 24 }, chunks: { unembedded: added }, warnings: [] });
    expect(await k.ingest({ repoRoot: repo })).toMatchObject({ added: 0, embedded: added });
    expect(k.status().vectors.live).toBe(added);
    await k.close();
  });
});
