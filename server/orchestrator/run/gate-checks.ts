// What is checked before a deployment creates anything: that its owner's quota holds it, that the platform delivers
// the whole first-boot data to its guests, and that it can hold what the plan still needs. A refusal names the rule,
// the numbers and the setting.
import { AppError, errorMessage } from '../../errors.ts';
import type { QuotaUsage } from '../../model/overseer.ts';
import type { Plan } from '../../model/plan.ts';
import type { Platform } from '../../platforms/platform.ts';
import { planNeeds, quotaRefusals, type QuotaLimits } from '../quotas.ts';

export interface GateResult {
  /** Lines for the deployment's log: how first boot reaches the guests, what capacity was seen. */
  notes: string[];
}

/** Throws AppError('invalid_input') when the deployment cannot be what its scenario says on this platform. */
export async function checkBeforeCreating(
  platform: Platform,
  plan: Plan,
  alreadyCreated: ReadonlySet<string>,
  signal: AbortSignal,
  quota?: { owner: string; limits: QuotaLimits; used: QuotaUsage },
): Promise<GateResult> {
  const notes: string[] = [];
  const name = `[${platform.kind}]`;
  if (quota) {
    // The whole plan counts: the owner's other deployments are in `used`, this one is not.
    const refusals = quotaRefusals(quota.limits, quota.used, planNeeds(plan));
    if (refusals.length > 0)
      throw new AppError(
        'forbidden',
        `Unable to deploy "${plan.scenario}": it would pass the quota of ${quota.owner}: ${refusals.join('; ')}`,
        {
          hint: 'Nothing was created. Destroy a deployment that is no longer needed, or ask an admin to raise the quota.',
        },
      );
    notes.push(`quota of ${quota.owner}: within its limits`);
  }
  if (platform.firstBootDelivery) {
    const delivery = await platform.firstBootDelivery({ signal });
    if (!delivery.complete)
      throw new AppError(
        'invalid_input',
        `${name} Unable to deploy: only part of the first-boot data would reach the machines (${delivery.method}): ${delivery.detail}`,
        {
          hint: 'Nothing was created. Fix the platform setting named above (Settings > Platforms, then Test connection), and deploy again.',
        },
      );
    notes.push(`first-boot data reaches the machines by ${delivery.method}: ${delivery.detail}`);
  } else notes.push(`first-boot data reaches the machines as ${platform.kind} user data`);
  notes.push(...(await checkPackageCache(platform, plan, alreadyCreated, signal)));

  if (platform.capacity) {
    const todo = plan.machines.filter((m) => !alreadyCreated.has(m.key));
    const need = {
      cpus: todo.reduce((n, m) => n + m.size.cpus, 0),
      memoryMb: todo.reduce((n, m) => n + m.size.memoryMb, 0),
      storageGb: todo.reduce((n, m) => n + m.size.diskGb, 0),
    };
    let have: Awaited<ReturnType<NonNullable<Platform['capacity']>>>;
    try {
      have = await platform.capacity({ signal });
    } catch (e) {
      notes.push(`capacity could not be read (${errorMessage(e)}); the platform itself will refuse what does not fit`);
      return { notes };
    }
    const short: string[] = [];
    if (have.cpus !== undefined && need.cpus > have.cpus) short.push(`${need.cpus} vCPUs needed, ${have.cpus} free`);
    if (have.memoryMb !== undefined && need.memoryMb > have.memoryMb)
      short.push(`${need.memoryMb} MiB of memory needed, ${have.memoryMb} free`);
    if (have.storageGb !== undefined && need.storageGb > have.storageGb)
      short.push(`${need.storageGb} GiB of disk needed, ${have.storageGb} free`);
    if (short.length > 0)
      throw new AppError(
        'invalid_input',
        `${name} Unable to deploy ${todo.length} machine(s): the platform cannot hold them (${short.join('; ')})`,
        {
          hint: `Nothing was created. Deploy fewer instances or smaller sizes, or free capacity on the platform (${have.detail}).`,
        },
      );
    notes.push(`capacity: ${need.cpus} vCPUs, ${need.memoryMb} MiB needed; ${have.detail}`);
  }
  return { notes };
}

/**
 * When machines still to be made install from the package cache, it must answer: asked from the appliance for its
 * index (`/debian/Release`) before anything is created, instead of failing every such machine's first boot. The
 * simulator's guests fetch nothing, so it is not asked there.
 */
async function checkPackageCache(
  platform: Platform,
  plan: Plan,
  alreadyCreated: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<string[]> {
  const cache = plan.packageCache;
  const users = plan.machines.filter((m) => m.packageCache && !alreadyCreated.has(m.key));
  if (!cache || users.length === 0 || platform.kind === 'simulator') return [];
  const url = `${cache.url}/debian/Release`;
  try {
    const r = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(cacheProbeMs)]) });
    await r.body?.cancel();
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (e) {
    signal.throwIfAborted();
    const names = [...new Set(users.map((m) => m.source))];
    throw new AppError(
      'invalid_input',
      `Unable to deploy "${plan.scenario}": the package cache does not answer at ${url} (${fetchFailure(e)}); ${names.join(', ')} install${names.length === 1 ? 's' : ''} from it at first boot`,
      {
        hint: 'Nothing was created. Start the cache on the appliance (glassdome-packages.service) or correct GLASSDOME_PACKAGE_CACHE_URL, then deploy again.',
      },
    );
  }
  return [`package cache ${cache.url} answers (${users.length} machine(s) install from it)`];
}

/** Why a fetch failed, in words: undici hides the socket's error code (ECONNREFUSED...) in its cause. */
function fetchFailure(e: unknown): string {
  const code = e instanceof Error && (e.cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  if (e instanceof Error && e.name === 'TimeoutError') return `no answer within ${cacheProbeMs / 1000} s`;
  return errorMessage(e);
}

/** How long the package cache has to answer the gate's probe. */
const cacheProbeMs = 5000;
