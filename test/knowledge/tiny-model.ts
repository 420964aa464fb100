// Writes a tiny BERT-shaped sentence-embedding model that transformers.js loads from a local folder: a real ONNX
// graph (encoded with protobufjs from onnx-subset.proto), a real WordPiece tokenizer.json and a config.json.
// Run standalone: `npx tsx test/knowledge/tiny-model.ts <models-folder>` writes <models-folder>/tiny-bert.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export interface TinyModelOptions {
  /** Whole words of the vocabulary (lowercase); anything else is spelt out with single-letter pieces. */
  words: string[];
  /** Groups of words given nearly the same embedding, so that a paraphrase lands near the original. */
  synonyms?: string[][];
  hidden?: number;
  seed?: number;
  maxLength?: number;
}

export interface TinyModel {
  /** The folder to give as the knowledge base's modelDir (env.localModelPath). */
  root: string;
  /** The model name inside it; its files are in root/name. */
  name: string;
  hidden: number;
  vocab: Map<string, number>;
  weights: { word: Float32Array; type: Float32Array; position: Float32Array; w: Float32Array; b: Float32Array };
}

const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const FLOAT = 1;
const INT64 = 7;

export function writeTinyModel(root: string, name: string, o: TinyModelOptions): TinyModel {
  const hidden = o.hidden ?? 32;
  const maxLength = o.maxLength ?? 128;
  const random = normalRandom(o.seed ?? 7);

  const singles = [...'abcdefghijklmnopqrstuvwxyz0123456789', ...'.,:;!?-_/()[]{}<>"\'`#*=+@&%$|~^\\'];
  const tokens = [...special, ...singles, ...[...'abcdefghijklmnopqrstuvwxyz0123456789'].map((c) => `##${c}`)];
  const words = [...new Set([...o.words, ...(o.synonyms ?? []).flat()].map((w) => w.toLowerCase()))].filter(
    (w) => !tokens.includes(w),
  );
  tokens.push(...words);
  const vocab = new Map(tokens.map((t, i) => [t, i]));

  const word = new Float32Array(tokens.length * hidden);
  for (let i = 0; i < tokens.length; i++) {
    // Special tokens are in every input: kept small, so that they do not make all texts alike.
    const scale = i < special.length ? 0.05 : 1;
    for (let j = 0; j < hidden; j++) word[i * hidden + j] = random() * scale;
  }
  for (const group of o.synonyms ?? []) {
    const base = Array.from({ length: hidden }, () => random());
    for (const w of group) {
      const id = vocab.get(w.toLowerCase())!;
      for (let j = 0; j < hidden; j++) word[id * hidden + j] = base[j]! + random() * 0.05;
    }
  }
  const type = Float32Array.from({ length: 2 * hidden }, () => random() * 0.02);
  const position = Float32Array.from({ length: maxLength * hidden }, () => random() * 0.02);
  const w = Float32Array.from({ length: hidden * hidden }, () => random() / Math.sqrt(hidden));
  const b = Float32Array.from({ length: hidden }, () => random() * 0.01);

  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const onnx = encodeModel({ vocabSize: tokens.length, hidden, maxLength, word, type, position, w, b });
  // transformers.js asks for onnx/model_quantized.onnx unless told `quantized: false`; the knowledge base loads the
  // quantized file by default, as the bundled all-MiniLM-L6-v2 is quantized. This graph is float: the name is all.
  fs.writeFileSync(path.join(dir, 'onnx', 'model_quantized.onnx'), onnx);
  fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), onnx);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(vocab)));
  fs.writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: 'BertTokenizer',
      do_lower_case: true,
      model_max_length: maxLength,
      cls_token: '[CLS]',
      sep_token: '[SEP]',
      pad_token: '[PAD]',
      unk_token: '[UNK]',
      mask_token: '[MASK]',
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      model_type: 'bert',
      architectures: ['BertModel'],
      hidden_size: hidden,
      vocab_size: tokens.length,
      max_position_embeddings: maxLength,
      type_vocab_size: 2,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      pad_token_id: 0,
    }),
  );
  return { root, name, hidden, vocab, weights: { word, type, position, w, b } };
}

/**
 * The sentence embedding the graph, mean pooling and L2 normalisation give for one sequence of token ids (with
 * [CLS] and [SEP], no padding), computed here in plain arithmetic: what transformers.js must return.
 */
export function referenceEmbedding(m: TinyModel, ids: number[]): Float32Array {
  const h = m.hidden;
  const { word, type, position, w, b } = m.weights;
  const sum = new Float64Array(h);
  ids.forEach((id, s) => {
    const e = Array.from({ length: h }, (_, j) => word[id * h + j]! + type[j]! + position[s * h + j]!);
    for (let j = 0; j < h; j++) {
      let z = b[j]!;
      for (let i = 0; i < h; i++) z += e[i]! * w[i * h + j]!;
      sum[j] = sum[j]! + e[j]! + Math.tanh(z);
    }
  });
  const mean = Array.from(sum, (v) => v / ids.length);
  const norm = Math.hypot(...mean);
  return Float32Array.from(mean, (v) => v / norm);
}

/** Token ids of lowercase words all in the vocabulary, as the tokenizer frames a single sequence. */
export function idsOf(m: TinyModel, text: string): number[] {
  return [
    m.vocab.get('[CLS]')!,
    ...text.split(/\s+/).map((t) => m.vocab.get(t) ?? m.vocab.get('[UNK]')!),
    m.vocab.get('[SEP]')!,
  ];
}

interface Weights {
  vocabSize: number;
  hidden: number;
  maxLength: number;
  word: Float32Array;
  type: Float32Array;
  position: Float32Array;
  w: Float32Array;
  b: Float32Array;
}

// last_hidden_state = (E + tanh(E·W + b)) * mask, with E = word[input_ids] + type[token_type_ids] + position[0..S).
function encodeModel(x: Weights): Uint8Array {
  // keepCase: the field names stay onnx.proto's snake_case (protobufjs would camel-case them otherwise).
  const root = new protobuf.Root().loadSync(
    path.join(path.dirname(fileURLToPath(import.meta.url)), 'onnx-subset.proto'),
    { keepCase: true },
  );
  const Model = root.lookupType('onnx.ModelProto');
  const float = (name: string, dims: number[], data: Float32Array) => ({
    name,
    dims,
    data_type: FLOAT,
    raw_data: bytes(data),
  });
  const int64 = (name: string, dims: number[], data: bigint[]) => ({
    name,
    dims,
    data_type: INT64,
    raw_data: bytes(BigInt64Array.from(data)),
  });
  const node = (op_type: string, input: string[], output: string[], attribute: object[] = []) => ({
    op_type,
    input,
    output,
    name: output[0],
    attribute,
  });
  const io = (name: string, elem_type: number, dims: Array<string | number>) => ({
    name,
    type: {
      tensor_type: {
        elem_type,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) },
      },
    },
  });
  const graph = {
    name: 'tiny-bert',
    initializer: [
      float('word_embeddings', [x.vocabSize, x.hidden], x.word),
      float('token_type_embeddings', [2, x.hidden], x.type),
      float('position_embeddings', [x.maxLength, x.hidden], x.position),
      float('dense_weight', [x.hidden, x.hidden], x.w),
      float('dense_bias', [x.hidden], x.b),
      int64('zero', [], [0n]),
      int64('one', [], [1n]),
      int64('axis_last', [1], [2n]),
    ],
    node: [
      node('Gather', ['word_embeddings', 'input_ids'], ['words']),
      node('Gather', ['token_type_embeddings', 'token_type_ids'], ['types']),
      node('Shape', ['input_ids'], ['ids_shape']),
      node('Gather', ['ids_shape', 'one'], ['seq_len']),
      node('Range', ['zero', 'seq_len', 'one'], ['positions_ids']),
      node('Gather', ['position_embeddings', 'positions_ids'], ['positions']),
      node('Add', ['words', 'types'], ['words_types']),
      node('Add', ['words_types', 'positions'], ['embeddings']),
      node('MatMul', ['embeddings', 'dense_weight'], ['dense']),
      node('Add', ['dense', 'dense_bias'], ['dense_biased']),
      node('Tanh', ['dense_biased'], ['activated']),
      node('Add', ['embeddings', 'activated'], ['residual']),
      node('Cast', ['attention_mask'], ['mask_float'], [{ name: 'to', type: 2, i: FLOAT }]),
      node('Unsqueeze', ['mask_float', 'axis_last'], ['mask']),
      node('Mul', ['residual', 'mask'], ['last_hidden_state']),
    ],
    input: [
      io('input_ids', INT64, ['batch', 'sequence']),
      io('attention_mask', INT64, ['batch', 'sequence']),
      io('token_type_ids', INT64, ['batch', 'sequence']),
    ],
    output: [io('last_hidden_state', FLOAT, ['batch', 'sequence', x.hidden])],
  };
  const model = { ir_version: 8, producer_name: 'glassdome-test', opset_import: [{ domain: '', version: 13 }], graph };
  const problem = Model.verify(model);
  if (problem) throw new Error(`tiny model: ${problem}`);
  return Model.encode(Model.fromObject(model)).finish();
}

function bytes(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function tokenizerJson(vocab: Map<string, number>): object {
  const id = (t: string) => vocab.get(t)!;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab),
    },
  };
}

/** A seeded standard-normal generator (mulberry32 + Box-Muller), so the model is the same on every run. */
function normalRandom(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: tsx test/knowledge/tiny-model.ts <models-folder>');
  const m = writeTinyModel(path.resolve(out), 'tiny-bert', {
    words: ['proxmox', 'template', 'network', 'deploy', 'scenario'],
  });
  console.log(`wrote ${path.join(m.root, m.name)} (${m.vocab.size} tokens, ${m.hidden} dims)`);
}
