// Sentence embeddings with transformers.js from a local model folder only (never the network): mean pooling of the
// last hidden state, L2-normalised. When the model's files are not there, it says which and embeds nothing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.ts';

export interface Embedder {
  /** Names the model and its files' identity: vectors made by another id must be made again. */
  readonly id: string;
  readonly dims: number;
  /** One unit vector per text, in order. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

export type EmbedderState = { ready: true; embedder: Embedder } | { ready: false; reason: string };

export interface ModelConfig {
  /** The local model folder (transformers.js's env.localModelPath); the model's files are in modelDir/model. */
  modelDir: string;
  /** e.g. Xenova/all-MiniLM-L6-v2. */
  model: string;
  /** Load onnx/model_quantized.onnx (true) or onnx/model.onnx. */
  quantized: boolean;
  /** Texts per forward pass. */
  batchSize?: number;
}

/** The files transformers.js reads for a feature-extraction model. */
export function modelFiles(c: Pick<ModelConfig, 'quantized'>): string[] {
  return [
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    `onnx/model${c.quantized ? '_quantized' : ''}.onnx`,
  ];
}

// transformers.js keeps its settings in one module-wide `env`: loads are serialised so that two knowledge bases with
// different folders in one process never read each other's path.
let loading: Promise<unknown> = Promise.resolve();

/** Loads the model, or says plainly why there is none (missing files, a model that does not load). */
export function loadEmbedder(c: ModelConfig): Promise<EmbedderState> {
  const next = loading.then(() => load(c));
  loading = next.catch(() => undefined);
  return next;
}

async function load(c: ModelConfig): Promise<EmbedderState> {
  const dir = path.join(c.modelDir, c.model);
  const missing = modelFiles(c).filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    return {
      ready: false,
      reason: `No embedding model is installed in ${dir} (missing ${missing.join(', ')}): keyword search only.`,
    };
  }
  try {
    const { env, pipeline } = await import('@xenova/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = c.modelDir.endsWith(path.sep) ? c.modelDir : `${c.modelDir}${path.sep}`;
    // The file cache only ever holds downloads, and there are none: reading goes to the model folder alone.
    env.useFSCache = false;
    env.useBrowserCache = false;
    const extract = await pipeline('feature-extraction', c.model, { quantized: c.quantized, local_files_only: true });
    const batch = c.batchSize ?? 16;
    const run = async (texts: string[]): Promise<Float32Array[]> => {
      const out: Float32Array[] = [];
      for (let i = 0; i < texts.length; i += batch) {
        const part = texts.slice(i, i + batch);
        const t = (await extract(part, { pooling: 'mean', normalize: true })) as { dims: number[]; data: Float32Array };
        const dims = t.dims[1]!;
        for (let r = 0; r < part.length; r++) out.push(t.data.slice(r * dims, (r + 1) * dims));
      }
      return out;
    };
    const probe = await run(['glassdome']);
    const dims = probe[0]!.length;
    return { ready: true, embedder: { id: `${c.model}@${fingerprint(dir, c)}`, dims, embed: run } };
  } catch (e) {
    return {
      ready: false,
      reason: `The embedding model in ${dir} could not be loaded (${errorMessage(e).split('\n')[0]}): keyword search only.`,
    };
  }
}

/** Size and modification time of each model file: a replaced model gets a new id without hashing 20 MB. */
function fingerprint(dir: string, c: ModelConfig): string {
  const h = crypto.createHash('sha256');
  for (const f of modelFiles(c)) {
    const st = fs.statSync(path.join(dir, f));
    h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 16);
}
