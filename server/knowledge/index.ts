// The knowledge base: the appliance's docs, scenarios, module catalogue and deployment history, found by meaning (a
// local transformers.js model, an HNSW graph) and by words (SQLite FTS5 BM25), the two rankings fused by reciprocal
// rank. Its files, <data>/knowledge.db and <data>/knowledge.hnsw, are a derived index kept apart from the appliance's
// operational database: deleting them loses only the time to ingest again, and a damaged one is rebuilt with a warning.
import path from 'node:path';
import { AppError } from '../errors.ts';
import { chunkContent, type Chunk, type Collection } from './chunking.ts';
import { loadEmbedder, type Embedder, type EmbedderState } from './embed.ts';
import { fuseRanks } from './fusion.ts';
import { createKeywordIndex } from './keyword-index.ts';
import { readSources, type KnowledgeSources } from './sources.ts';
import { chunkHash, openStore } from './store.ts';
import { createVectorIndex, defaultHnsw, loadVectorIndex, type HnswParams, type VectorIndex } from './vectors.ts';

export type { Collection } from './chunking.ts';
export type { DeploymentInput, ModuleInput } from './chunking.ts';
export type { Embedder } from './embed.ts';
export type { KnowledgeSources } from './sources.ts';

export interface KnowledgeConfig {
  /** The appliance's data folder: knowledge.db and knowledge.hnsw are kept there. */
  dataDir: string;
  /** The local model folder (transformers.js env.localModelPath); the model's files are in modelDir/model. */
  modelDir: string;
  /** Default Xenova/all-MiniLM-L6-v2, the model the offline bundle carries. */
  model?: string;
  /** Default true: onnx/model_quantized.onnx. */
  quantized?: boolean;
  hnsw?: Partial<HnswParams>;
  /** Longest passage, in characters (the default suits a 256-token model). */
  maxChars?: number;
  /** Told each warning as it happens (a damaged index rebuilt); status() lists them too. */
  onWarning?: (message: string) => void;
}

export interface KnowledgeDeps {
  /** Vectors from elsewhere instead of the local model (the benchmark's generated vectors). */
  embedder?: Embedder;
}

export interface Passage {
  collection: Collection;
  source: string;
  title: string;
  headings: string[];
  link: string;
  text: string;
  scores: {
    /** Reciprocal-rank fusion of the two rankings: what the passages are ordered by. */
    fused: number;
    /** Cosine similarity to the question, when the vector search ranked it. */
    vector: number | null;
    /** BM25 (higher is better), when the keyword search ranked it. */
    keyword: number | null;
    vectorRank: number | null;
    keywordRank: number | null;
  };
}

export interface SearchResults {
  /** hybrid: vectors and keywords; keyword: no embedding model, words only. */
  mode: 'hybrid' | 'keyword';
  /** Said to the reader when the search is keyword-only, and why. */
  notice?: string;
  passages: Passage[];
}

export interface IngestReport {
  collections: Collection[];
  added: number;
  removed: number;
  unchanged: number;
  /** Passages embedded by this ingest (new ones, and any left without a vector before). */
  embedded: number;
  /** Passages still without a vector (no model): found by keyword only. */
  unembedded: number;
}

export interface KnowledgeStatus {
  mode: 'hybrid' | 'keyword';
  model: { ready: true; id: string; dims: number } | { ready: false; reason: string };
  chunks: Record<Collection, number> & { total: number; unembedded: number };
  vectors: { live: number; deleted: number };
  files: { db: string; index: string };
  /** Everything that went wrong and was repaired since this knowledge base was opened. */
  warnings: string[];
}

export interface Knowledge {
  /**
   * Brings each collection `sources` speaks for up to date: passages that are new or changed are stored and embedded,
   * passages no longer in the sources are removed, unchanged ones are left as they are (not embedded again).
   * Collections not named stay as they are. Ingests run one at a time, in call order.
   */
  ingest(sources: KnowledgeSources, opts?: { signal?: AbortSignal }): Promise<IngestReport>;
  /** The `k` best passages (default 8) for a question in free words; keyword-only, and saying so, without a model. */
  search(query: string, opts?: { k?: number; collections?: Collection[] }): Promise<SearchResults>;
  status(): KnowledgeStatus;
  /** Waits for a running ingest, then closes the files. */
  close(): Promise<void>;
}

export const defaultModel = 'Xenova/all-MiniLM-L6-v2';

export async function createKnowledge(config: KnowledgeConfig, deps: KnowledgeDeps = {}): Promise<Knowledge> {
  const files = { db: path.join(config.dataDir, 'knowledge.db'), index: path.join(config.dataDir, 'knowledge.hnsw') };
  const hnsw: HnswParams = { ...defaultHnsw, ...config.hnsw };
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    config.onWarning?.(m);
  };
  const store = openStore(files.db, warn);
  const keywords = createKeywordIndex(store.db);
  const collectionOf = store.collectionOf();

  const state: EmbedderState = deps.embedder
    ? { ready: true, embedder: deps.embedder }
    : await loadEmbedder({
        modelDir: config.modelDir,
        model: config.model ?? defaultModel,
        quantized: config.quantized ?? true,
      });
  const embedder = state.ready ? state.embedder : undefined;
  let vectors: VectorIndex | undefined;

  const rebuild = (e: Embedder): VectorIndex => {
    const live = store.embeddedIds();
    const index = createVectorIndex(e.dims, hnsw, Math.ceil(live.size * 1.25) + 64);
    for (const { id, vector } of store.vectors()) index.add(id, vector);
    return index;
  };
  const save = () => {
    if (vectors) store.setMeta('vectors.sha256', vectors.save(files.index));
  };

  if (embedder) {
    if (store.meta('vectors.model') !== embedder.id) {
      // Another model's vectors are in another space: every passage is embedded again at the next ingest.
      store.clearVectors();
      store.setMeta('vectors.model', embedder.id);
      store.setMeta('vectors.sha256', undefined);
    }
    const live = store.embeddedIds();
    const loaded = loadVectorIndex(files.index, embedder.dims, hnsw, store.meta('vectors.sha256'), live);
    if ('index' in loaded) {
      vectors = loaded.index;
      let added = 0;
      if (vectors.size() < live.size) {
        for (const { id, vector } of store.vectors()) {
          if (!vectors.has(id)) {
            vectors.add(id, vector);
            added++;
          }
        }
      }
      if (added > 0) save();
    } else {
      if (live.size > 0) warn(`The vector index was rebuilt from the ${live.size} stored vectors: ${loaded.problem}.`);
      vectors = rebuild(embedder);
      save();
    }
  }

  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn);
    queue = next.catch(() => undefined);
    return next;
  };

  const embedPending = async (signal?: AbortSignal): Promise<number> => {
    if (!embedder || !vectors) return 0;
    let done = 0;
    let after = 0;
    for (;;) {
      signal?.throwIfAborted();
      const batch = store.unembedded(after, 64);
      if (batch.length === 0) return done;
      after = batch.at(-1)!.id;
      const out = await embedder.embed(batch.map((b) => chunkContent(b.chunk)));
      const rows = batch.map((b, i) => {
        const vector = out[i];
        if (!vector || vector.length !== embedder.dims) {
          throw new AppError(
            'internal',
            `[knowledge] Unable to embed passage "${b.chunk.source}": the model returned ${vector?.length ?? 0} dimensions, not ${embedder.dims}`,
          );
        }
        return { id: b.id, vector };
      });
      store.setVectors(rows);
      for (const r of rows) vectors.add(r.id, r.vector);
      done += rows.length;
    }
  };

  return {
    ingest(sources, opts = {}) {
      return serial(async () => {
        const report: IngestReport = {
          collections: [],
          added: 0,
          removed: 0,
          unchanged: 0,
          embedded: 0,
          unembedded: 0,
        };
        for (const [collection, chunks] of readSources(sources, config.maxChars)) {
          report.collections.push(collection);
          const held = store.hashes(collection);
          const wanted = new Map<string, Chunk>();
          const seen = new Map<string, number>();
          for (const c of chunks) {
            const base = chunkHash(c, 0);
            const n = seen.get(base) ?? 0;
            seen.set(base, n + 1);
            wanted.set(n === 0 ? base : chunkHash(c, n), c);
          }
          const remove = [...held].filter(([h]) => !wanted.has(h)).map(([, id]) => id);
          const add = [...wanted].filter(([h]) => !held.has(h)).map(([hash, chunk]) => ({ hash, chunk }));
          const ids = store.apply(remove, add);
          for (const id of remove) {
            vectors?.remove(id);
            collectionOf.delete(id);
          }
          for (const id of ids) collectionOf.set(id, collection);
          report.added += add.length;
          report.removed += remove.length;
          report.unchanged += wanted.size - add.length;
        }
        try {
          report.embedded = await embedPending(opts.signal);
        } finally {
          if (embedder && vectors) {
            // Deleted points cost search time until reused: past as many as the live ones, the graph is built afresh.
            if (vectors.deleted() > Math.max(1000, vectors.size())) vectors = rebuild(embedder);
            if (report.embedded > 0 || report.removed > 0 || report.added > 0) save();
          }
        }
        report.unembedded = store.countUnembedded();
        return report;
      });
    },

    async search(query, opts = {}) {
      const k = Math.max(1, Math.min(opts.k ?? 8, 100));
      const candidates = Math.max(4 * k, 40);
      const collections = opts.collections?.length ? opts.collections : undefined;
      const keyword = keywords.search(query, candidates, collections);
      let vector: Array<{ label: number; similarity: number }> = [];
      if (embedder && vectors && vectors.size() > 0 && query.trim() !== '') {
        const [q] = await embedder.embed([query]);
        const allowed = collections ? new Set<Collection>(collections) : undefined;
        vector = vectors.search(q!, candidates, allowed ? (label) => allowed.has(collectionOf.get(label)!) : undefined);
      }
      const fused = fuseRanks([vector.map((v) => v.label), keyword.map((h) => h.id)]).slice(0, k);
      const rows = store.get(fused.map((f) => f.id));
      const passages: Passage[] = [];
      for (const f of fused) {
        const row = rows.get(f.id);
        // A passage removed by an ingest since the search began is simply left out.
        if (!row) continue;
        const { id: _id, ...chunk } = row;
        const [vr, kr] = f.ranks;
        passages.push({
          ...chunk,
          scores: {
            fused: f.fused,
            vector: vr ? vector[vr - 1]!.similarity : null,
            keyword: kr ? keyword[kr - 1]!.bm25 : null,
            vectorRank: vr ?? null,
            keywordRank: kr ?? null,
          },
        });
      }
      return embedder
        ? { mode: 'hybrid', passages }
        : { mode: 'keyword', notice: state.ready ? undefined : state.reason, passages };
    },

    status() {
      const counts = store.counts();
      return {
        mode: embedder ? 'hybrid' : 'keyword',
        model: embedder
          ? { ready: true, id: embedder.id, dims: embedder.dims }
          : { ready: false, reason: state.ready ? '' : state.reason },
        chunks: {
          ...counts,
          total: Object.values(counts).reduce((a, b) => a + b, 0),
          unembedded: store.countUnembedded(),
        },
        vectors: { live: vectors?.size() ?? 0, deleted: vectors?.deleted() ?? 0 },
        files,
        warnings: [...warnings],
      };
    },

    async close() {
      await queue;
      store.close();
    },
  };
}
