// Cloud images on the appliance: converts a qcow2 or raw image to a monolithicSparse VMDK with qemu-img, once per image
// content (sha256 + mtime), into a cache folder. Concurrent callers for the same image share one conversion.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors.ts';

export interface ConvertedImage {
  /** Cache key: the first 16 hex digits of the source's sha256, and its mtime in ms. */
  key: string;
  /** The monolithicSparse (hosted, single-file) VMDK in the cache folder. */
  file: string;
  /** Its size in bytes (what the datastore must hold after upload). */
  bytes: number;
  /** The disk's virtual size in bytes. */
  capacityBytes: number;
}

export interface ImageCache {
  /** The converted VMDK for a source image; converts on first use. Fails with a hint when qemu-img is missing. */
  prepare(source: string, o?: { signal?: AbortSignal }): Promise<ConvertedImage>;
}

export interface ImageCacheOptions {
  dir: string;
  timeoutMs: number;
  /** Called after a conversion actually ran (not for cache hits). */
  onConverted?: (e: { source: string; key: string; ms: number; bytes: number }) => void;
}

const installHint =
  'Install qemu-img on the appliance (Debian: apt-get install qemu-utils), or map a template VM for this OS instead.';

function qemuImg(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'qemu-img',
      args,
      { signal: AbortSignal.timeout(timeoutMs), maxBuffer: 4 * 2 ** 20 },
      (e, stdout, stderr) => {
        if (!e) return resolve(stdout);
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT')
          return reject(
            new AppError('platform_error', '[esxi] qemu-img is not installed on the appliance', {
              hint: installHint,
              cause: e,
            }),
          );
        if (code === 'ABORT_ERR')
          return reject(
            new AppError(
              'timeout',
              `[esxi] qemu-img ${args[0]} did not finish within ${Math.round(timeoutMs / 1000)} s`,
              { cause: e },
            ),
          );
        reject(
          new AppError('platform_error', `[esxi] qemu-img ${args[0]} failed: ${String(stderr).trim() || e.message}`, {
            cause: e,
          }),
        );
      },
    );
  });
}

/** qemu-img's version line, or undefined when it is not installed. */
export function qemuImgVersion(): Promise<string | undefined> {
  return qemuImg(['--version'], 10_000).then(
    (out) => out.split('\n')[0]?.trim(),
    () => undefined,
  );
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Waits for `p`, but gives up (without cancelling the shared work) when this caller's signal aborts. */
export function waitFor<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createImageCache(opts: ImageCacheOptions): ImageCache {
  // Hashing a 600 MB image takes seconds: remember it per path, size and mtime.
  const hashes = new Map<string, Promise<string>>();
  const converting = new Map<string, Promise<ConvertedImage>>();

  async function convert(source: string, key: string): Promise<ConvertedImage> {
    const file = path.join(opts.dir, `${key}.vmdk`);
    const meta = path.join(opts.dir, `${key}.json`);
    const cached = await readFile(meta, 'utf8').then(
      (t) => JSON.parse(t) as ConvertedImage,
      () => undefined,
    );
    if (
      cached &&
      (await stat(file).then(
        (s) => s.size === cached.bytes,
        () => false,
      ))
    )
      return cached;
    await mkdir(opts.dir, { recursive: true });
    const started = Date.now();
    const info = JSON.parse(await qemuImg(['info', '--output=json', source], opts.timeoutMs)) as {
      format: string;
      'virtual-size': number;
    };
    if (info.format !== 'qcow2' && info.format !== 'raw') {
      throw new AppError('invalid_input', `[esxi] Image ${source} is ${info.format}, not qcow2 or raw`, {
        hint: 'Use the qcow2 (.img) cloud image of the distribution.',
      });
    }
    // Convert beside the final name and rename, so a crash or a parallel process never leaves a half-written cache entry.
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      // monolithicSparse: the hosted single-file format ESXi imports into a VMFS disk (vmkfstools -i, CopyVirtualDisk);
      // streamOptimized is an OVF transport format the copy does not take.
      await qemuImg(
        ['convert', '-f', info.format, '-O', 'vmdk', '-o', 'subformat=monolithicSparse', source, tmp],
        opts.timeoutMs,
      );
      await rename(tmp, file);
    } finally {
      await rm(tmp, { force: true });
    }
    const out: ConvertedImage = { key, file, bytes: (await stat(file)).size, capacityBytes: info['virtual-size'] };
    await writeFile(meta, JSON.stringify(out));
    opts.onConverted?.({ source, key, ms: Date.now() - started, bytes: out.bytes });
    return out;
  }

  return {
    async prepare(source, o) {
      const s = await stat(source).catch((e: unknown) => {
        throw new AppError('not_found', `[esxi] Image file ${source} not found on the appliance`, {
          cause: e,
          hint: "Check the path in the platform's images settings.",
        });
      });
      const id = `${source}\0${s.size}\0${s.mtimeMs}`;
      let hash = hashes.get(id);
      if (!hash) {
        hashes.set(id, (hash = sha256(source)));
        hash.catch(() => hashes.delete(id));
      }
      const key = `${(await waitFor(hash, o?.signal)).slice(0, 16)}-${Math.trunc(s.mtimeMs)}`;
      let job = converting.get(key);
      if (!job) {
        job = convert(source, key);
        converting.set(key, job);
        // A failed conversion is tried again by the next caller; a finished one is served from the cache file.
        job.then(
          () => converting.delete(key),
          () => converting.delete(key),
        );
      }
      return waitFor(job, o?.signal);
    },
  };
}
