// The process configuration: one zod schema over GLASSDOME_* environment variables.
// Nothing else reads process.env; everything else receives a Config.
import path from 'node:path';
import { z } from 'zod';
import { parsePackageCacheUrl } from './agents/package-cache.ts';
import { AppError } from './errors.ts';
import type { PackageCache } from './model/plan.ts';

const configSchema = z.object({
  GLASSDOME_DATA_DIR: z.string().min(1).default('./data'),
  GLASSDOME_HOST: z.string().min(1).default('127.0.0.1'),
  GLASSDOME_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Divides every simulated duration: 1 is real time, 1000 makes a 30 s clone take 30 ms. */
  GLASSDOME_SIM_SPEED: z.coerce.number().positive().default(20),
  GLASSDOME_SIM_SEED: z.coerce.number().int().default(1),
  /** How long a process's claim on a running deployment lasts without renewal; after that another process resumes it. */
  GLASSDOME_LEASE_SEC: z.coerce.number().positive().default(15),
  /** HTTPS with a certificate made at first boot; `auto` serves plain HTTP only when bound to loopback (development). */
  GLASSDOME_TLS: z.enum(['on', 'off', 'auto']).default('auto'),
  /** A second, plain-HTTP port that only redirects to HTTPS (80 on the appliance); unset: none. */
  GLASSDOME_HTTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** The CLI drives a running appliance through its API when these are set (or given as --server/--token). */
  GLASSDOME_SERVER: z.url().optional(),
  GLASSDOME_TOKEN: z.string().min(1).optional(),
  /** The local folder of embedding models for the knowledge base (nothing is downloaded); default <data dir>/models. */
  GLASSDOME_MODEL_DIR: z.string().min(1).optional(),
  /** The model's folder in GLASSDOME_MODEL_DIR: the offline bundle's, or another model exported for transformers.js. */
  GLASSDOME_MODEL: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'expected a folder name such as Xenova/all-MiniLM-L6-v2')
    .refine((s) => !s.split('/').includes('..'), 'expected a folder inside the model folder')
    .default('Xenova/all-MiniLM-L6-v2'),
  /**
   * The offline bundle's package cache as ranges reach it (glassdome-packages.service, port 3142): lab machines
   * without internet install from it through their range router. Unset: their templates must hold their packages.
   */
  GLASSDOME_PACKAGE_CACHE_URL: z
    .string()
    .transform((text, ctx) => {
      const r = parsePackageCacheUrl(text);
      if ('error' in r) {
        ctx.addIssue({ code: 'custom', message: `${r.error} (e.g. http://192.0.2.10:3142)` });
        return z.NEVER;
      }
      return r;
    })
    .optional(),
});

export interface Config {
  dataDir: string;
  dbFile: string;
  host: string;
  port: number;
  sim: { speed: number; seed: number };
  leaseMs: number;
  tls: boolean;
  httpPort?: number;
  remote: { server?: string; token?: string };
  /** The knowledge base: knowledge.db and knowledge.hnsw in the data folder, the embedding model in modelDir/model. */
  knowledge: { modelDir: string; model: string };
  /** CVE data: cve.db in the data folder; feed files an admin may import from the pages are looked for in feedsDir. */
  research: { feedsDir: string };
  /** Where ranges without internet install packages from; absent when GLASSDOME_PACKAGE_CACHE_URL is unset. */
  packageCache?: PackageCache;
}

const loopback = new Set(['127.0.0.1', 'localhost', '::1']);

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('GLASSDOME_') && v !== ''));
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new AppError(
      'invalid_input',
      `Invalid environment: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      {
        issues,
        hint: 'Fix or unset the GLASSDOME_* variables named above.',
      },
    );
  }
  const c = parsed.data;
  const dataDir = path.resolve(c.GLASSDOME_DATA_DIR);
  return {
    dataDir,
    dbFile: path.join(dataDir, 'glassdome.db'),
    host: c.GLASSDOME_HOST,
    port: c.GLASSDOME_PORT,
    sim: { speed: c.GLASSDOME_SIM_SPEED, seed: c.GLASSDOME_SIM_SEED },
    leaseMs: c.GLASSDOME_LEASE_SEC * 1000,
    tls: c.GLASSDOME_TLS === 'auto' ? !loopback.has(c.GLASSDOME_HOST) : c.GLASSDOME_TLS === 'on',
    ...(c.GLASSDOME_HTTP_PORT === undefined ? {} : { httpPort: c.GLASSDOME_HTTP_PORT }),
    remote: {
      ...(c.GLASSDOME_SERVER ? { server: c.GLASSDOME_SERVER } : {}),
      ...(c.GLASSDOME_TOKEN ? { token: c.GLASSDOME_TOKEN } : {}),
    },
    knowledge: {
      modelDir: c.GLASSDOME_MODEL_DIR ? path.resolve(c.GLASSDOME_MODEL_DIR) : path.join(dataDir, 'models'),
      model: c.GLASSDOME_MODEL,
    },
    research: { feedsDir: path.join(dataDir, 'cve') },
    ...(c.GLASSDOME_PACKAGE_CACHE_URL ? { packageCache: c.GLASSDOME_PACKAGE_CACHE_URL } : {}),
  };
}
