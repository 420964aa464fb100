// The offline bundle's manifest (manifest.json at the bundle's root): every file with its size, SHA-256, where it came
// from and under which licence, plus the media the user must bring (referenced, never shipped). `verifyBundle`
// checks every file before anything is installed and names the first one that is wrong.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../server/errors.ts';

export const bundleFormat = 'glassdome-offline-bundle/1';

/** What a part installs into: see install.ts. */
export const parts = ['appliance', 'model', 'images', 'cve', 'debian'] as const;
export type Part = (typeof parts)[number];

const relPath = z
  .string()
  .min(1)
  .refine(
    (p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..') && !p.includes('\\'),
    'must be a relative path inside the bundle',
  );

export const fileSchema = z.object({
  path: relPath,
  part: z.enum(parts),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  source: z.string().min(1),
  licence: z.string().min(1),
  /** Part-specific: the OS key an image is for, the model id, the package name... */
  meta: z.record(z.string(), z.string()).default({}),
});

export const referenceSchema = z.object({
  name: z.string().min(1),
  part: z.literal('iso'),
  /** Where the user obtains it (under its own licence) and where to put it on the appliance. */
  source: z.string().min(1),
  licence: z.string().min(1),
  placeAt: z.string().min(1),
  note: z.string().default(''),
});

export const manifestSchema = z.object({
  format: z.literal(bundleFormat),
  createdAt: z.string(),
  glassdome: z.string(),
  files: z.array(fileSchema),
  references: z.array(referenceSchema).default([]),
  /** Parts the collector could not gather, with why (the bundle is usable without them). */
  missing: z.array(z.object({ part: z.string(), reason: z.string() })).default([]),
});

export type BundleFile = z.infer<typeof fileSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function readManifest(bundle: string): Manifest {
  const file = path.join(bundle, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new AppError(
      'invalid_input',
      `Unable to read the bundle manifest ${file}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e, hint: 'Give the folder the collector wrote (it holds manifest.json).' },
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new AppError(
      'invalid_input',
      `The bundle manifest ${file} is not valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { issues, hint: 'Collect the bundle again with offline-bundle/collect.sh.' },
    );
  }
  const seen = new Set<string>();
  for (const f of parsed.data.files) {
    if (seen.has(f.path)) throw new AppError('invalid_input', `The bundle manifest lists ${f.path} twice`);
    seen.add(f.path);
  }
  return parsed.data;
}

export interface Verified {
  manifest: Manifest;
  bytes: number;
}

/**
 * Checks every file the manifest lists: a regular file inside the bundle with the listed size and SHA-256. The first
 * file that fails stops the check with an error naming it; nothing is installed before this has passed.
 */
export async function verifyBundle(bundle: string, onFile?: (f: BundleFile) => void): Promise<Verified> {
  const manifest = readManifest(bundle);
  const root = fs.realpathSync(bundle);
  let bytes = 0;
  for (const f of manifest.files) {
    const abs = path.join(root, f.path);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch (e) {
      throw new AppError('invalid_input', `Bundle file ${f.path} is missing`, {
        cause: e,
        hint: 'Copy the whole bundle folder again.',
      });
    }
    if (!st.isFile())
      throw new AppError('invalid_input', `Bundle file ${f.path} is not a regular file`, {
        hint: 'Copy the bundle without links.',
      });
    if (st.size !== f.size)
      throw new AppError('invalid_input', `Bundle file ${f.path} is ${st.size} bytes, the manifest says ${f.size}`, {
        hint: 'The copy is incomplete or damaged: copy it again.',
      });
    const got = await sha256File(abs);
    if (got !== f.sha256)
      throw new AppError(
        'invalid_input',
        `Bundle file ${f.path} does not match its checksum (SHA-256 ${got}, manifest ${f.sha256})`,
        { hint: 'The file is damaged or was changed: copy the bundle again.' },
      );
    bytes += f.size;
    onFile?.(f);
  }
  return { manifest, bytes };
}

/** Sizes per part, for the figures. */
export function sizeByPart(m: Manifest): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of m.files) out[f.part] = (out[f.part] ?? 0) + f.size;
  return out;
}
