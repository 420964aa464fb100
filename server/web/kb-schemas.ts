// The inputs of the Ask, Research and Flags pages and their API routes, parsed at the edge: questions, CVE search
// filters (query strings, so empty fields are absent), machine descriptions, LLM endpoint settings, flag queries.
import { z } from 'zod';

/** Query-string and form fields arrive as strings, empty when left blank: blank means not given. */
const blankless = <S extends z.ZodRawShape>(shape: S) =>
  z.preprocess(
    (v) =>
      v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).filter(([, x]) => !(typeof x === 'string' && x.trim() === '')))
        : v,
    z.object(shape),
  );

export const askQuerySchema = blankless({
  q: z.string().trim().min(1, 'Ask a question').max(500, 'at most 500 characters'),
  k: z.coerce.number().int().min(1).max(50).default(8),
});

const name = z
  .string()
  .trim()
  .max(100)
  .regex(/^[A-Za-z0-9_.:+ -]+$/, 'letters, digits and _ . : + - only');
const isoDate = z
  .string()
  .trim()
  .regex(/^\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?$/, 'expected a date, YYYY-MM-DD');

export const cveQuerySchema = blankless({
  keyword: z.string().trim().max(200).optional(),
  product: name.optional(),
  vendor: name.optional(),
  cpe: z.string().trim().max(300).optional(),
  cwe: z
    .string()
    .trim()
    .regex(/^(CWE-)?\d{1,5}$/i, 'expected CWE-<number>')
    .optional(),
  cvssMin: z.coerce.number().min(0).max(10).optional(),
  cvssMax: z.coerce.number().min(0).max(10).optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
  sort: z.enum(['relevance', 'published', 'cvss']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(25),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

export type CveQuery = z.output<typeof cveQuerySchema>;

/** The store's filters from a parsed query. */
export function cveFilters(q: CveQuery) {
  return {
    ...(q.keyword ? { keyword: q.keyword } : {}),
    ...(q.product ? { product: q.product } : {}),
    ...(q.vendor ? { vendor: q.vendor } : {}),
    ...(q.cpe ? { cpe: q.cpe } : {}),
    ...(q.cwe ? { cwe: q.cwe } : {}),
    ...(q.cvssMin !== undefined ? { cvssMin: q.cvssMin } : {}),
    ...(q.cvssMax !== undefined ? { cvssMax: q.cvssMax } : {}),
    ...(q.from ? { publishedFrom: q.from } : {}),
    ...(q.to ? { publishedTo: q.to } : {}),
    ...(q.sort ? { sort: q.sort } : {}),
    limit: q.limit,
    offset: q.offset,
  };
}

export const suggestSchema = blankless({
  description: z.string().trim().min(1, 'Describe the machine').max(500, 'at most 500 characters'),
  limit: z.coerce.number().int().min(1).max(50).default(10),
});

/** The LLM endpoint form and API body; the key is write-only. */
export const llmInputSchema = z.object({
  baseUrl: z.url({
    protocol: /^https?$/,
    error: 'expected an http(s) URL up to the API version, e.g. http://10.0.0.5:8000/v1',
  }),
  model: z.string().trim().min(1, 'name the model').max(200),
  timeoutMs: z.coerce.number().int().positive().max(600_000).optional(),
  maxTokens: z.coerce.number().int().positive().max(32_000).optional(),
  key: z.string().max(4096).optional(),
  clearKey: z.preprocess((v) => v === true || v === 'on' || v === 'true', z.boolean()).optional(),
});

export const draftSchema = z.union([
  z.object({ module: z.string().min(1).max(100) }),
  z.object({ cve: z.string().regex(/^CVE-\d{4}-\d{4,7}$/i, 'expected CVE-<year>-<number>') }),
]);

export const feedImportSchema = z.object({ feed: z.string().min(1).max(200) });

/** ?instance=1,2 (or repeated), ?categoryBy=module|instance, ?state=visible|hidden. */
export const flagQuerySchema = blankless({
  instance: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'instance numbers, comma-separated')
    .transform((s) => s.split(',').map(Number))
    .optional(),
  categoryBy: z.enum(['module', 'instance']).optional(),
  state: z.enum(['visible', 'hidden']).optional(),
});

// ---- API responses (for the OpenAPI document) ----------------------------------------------------------------------

const scores = z.object({
  fused: z.number(),
  vector: z.number().nullable(),
  keyword: z.number().nullable(),
  vectorRank: z.number().int().nullable(),
  keywordRank: z.number().int().nullable(),
});

export const askResponse = z.object({
  question: z.string(),
  mode: z.enum(['hybrid', 'keyword']),
  notice: z.string().optional().describe('Present when the search is keyword-only (no embedding model installed)'),
  collections: z.array(z.string()).describe('What the question was searched in: trainees get the documentation only'),
  building: z.boolean(),
  passages: z.array(
    z.object({
      collection: z.string(),
      source: z.string(),
      title: z.string(),
      headings: z.array(z.string()),
      link: z.string(),
      href: z.string().optional().describe('The appliance page of the passage, when it has one'),
      text: z.string(),
      scores,
    }),
  ),
});

export const knowledgeStatusResponse = z.object({
  mode: z.enum(['hybrid', 'keyword']),
  model: z.union([
    z.object({ ready: z.literal(true), id: z.string(), dims: z.number().int() }),
    z.object({ ready: z.literal(false), reason: z.string() }),
  ]),
  passages: z.record(z.string(), z.number().int()),
  vectors: z.object({ live: z.number().int(), deleted: z.number().int() }),
  warnings: z.array(z.string()),
  building: z.boolean(),
  lastSync: z.unknown(),
  lastError: z.string().nullable(),
});

const importProblem = z.object({
  file: z.string(),
  index: z.number().int().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  id: z.string().optional(),
  message: z.string(),
});

export const cveImportResponse = z.object({
  id: z.string(),
  state: z.enum(['running', 'done', 'failed', 'interrupted']),
  origin: z.enum(['upload', 'feeds', 'cli']),
  name: z.string(),
  by: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  counts: z.object({
    records: z.number().int(),
    added: z.number().int(),
    updated: z.number().int(),
    unchanged: z.number().int(),
    failed: z.number().int(),
  }),
  formats: z.array(z.string()),
  skipped: z.number().int(),
  bytes: z.number().int(),
  ms: z.number().int(),
  problems: z.array(importProblem),
  stoppedAt: importProblem.optional(),
  error: z.string().optional(),
});

const cvss = z.object({ version: z.string(), score: z.number(), severity: z.string().nullable() }).passthrough();

export const cveResponse = z.object({
  id: z.string(),
  state: z.string(),
  published: z.string().nullable(),
  lastModified: z.string(),
  description: z.string(),
  cvss: cvss.nullable(),
  cwes: z.array(z.string()),
  products: z.array(z.object({ vendor: z.string(), product: z.string() }).passthrough()),
  references: z.array(z.string()),
  sources: z.array(z.string()),
});

export const cveSearchResponse = z.object({ total: z.number().int(), results: z.array(cveResponse) });

export const cveDetailResponse = cveResponse.extend({
  modules: z.array(z.object({ id: z.string(), title: z.string(), score: z.number(), reasons: z.array(z.unknown()) })),
});

export const suggestionResponse = z.object({
  machine: z.object({
    image: z.string().optional(),
    family: z.string().optional(),
    roles: z.array(z.string()),
    products: z.array(z.string()),
  }),
  modules: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      category: z.string(),
      score: z.number(),
      reasons: z.array(z.string()),
      cves: z.array(z.object({ id: z.string(), cvss: z.number().nullable() })),
    }),
  ),
  cves: z.array(cveResponse),
});

export const llmSettingsResponse = z
  .object({
    baseUrl: z.string(),
    model: z.string(),
    timeoutMs: z.number().int(),
    maxTokens: z.number().int(),
    hasKey: z.boolean().describe('Whether a key is stored; the key itself is never returned'),
  })
  .nullable();

export const draftResponse = z.object({
  draft: z.literal(true),
  label: z.string().describe('Shown above the text: it is an unreviewed draft'),
  text: z.string(),
  model: z.string(),
  createdAt: z.string(),
});

export const flagRowsResponse = z.array(
  z.object({
    instance: z.number().int(),
    machine: z.string(),
    hostname: z.string(),
    key: z.string(),
    module: z.string(),
    title: z.string(),
    category: z.string(),
    difficulty: z.string(),
    points: z.number().int(),
    kind: z.enum(['planted', 'answer']),
    flag: z.string(),
    location: z.string(),
    challenge: z.string(),
    hints: z.array(z.object({ text: z.string(), cost: z.number() })),
    marking: z.string(),
    accounts: z.array(z.object({ user: z.string(), password: z.string(), foothold: z.boolean() })),
    selected: z.boolean(),
  }),
);
