// The Azure platform's probe: signs in, checks the subscription and that the Compute and Network providers are
// registered, reads the region's vCPU quota and sizes, and checks the catalog's images there. It never throws for
// a bad target: every finding is a line of the report, with what to do about it.
import { AppError, errorMessage } from '../../errors.ts';
import type { ConnectionReport, TemplateInfo } from '../../model/connection-report.ts';
import type { Arm } from './clients.ts';
import type { AzureConfig } from './config.ts';
import { azureError } from './errors.ts';
import { chooseImage, defaultImages } from './images.ts';
import type { Region } from './region.ts';

const line = (e: unknown) =>
  e instanceof AppError && e.hint
    ? `${errorMessage(e).replace(/^\[azure\] /, '')} (${e.hint})`
    : errorMessage(e).replace(/^\[azure\] /, '');

export async function checkConnection(
  arm: Arm,
  config: AzureConfig,
  region: Region,
  signal?: AbortSignal,
): Promise<ConnectionReport> {
  const details: string[] = [];
  const report = (ok: boolean, choices?: ConnectionReport['choices']): ConnectionReport => ({
    ok,
    product: 'Microsoft Azure',
    version: config.location,
    details,
    ...(choices ? { choices } : {}),
  });
  const o = signal ? { abortSignal: signal } : {};

  try {
    // The same token (CAE-enabled, as the SDK pipeline asks) that ARM calls then use from the cache.
    await arm.credential.getToken(arm.scope, { ...o, enableCae: true });
    details.push(`Signed in to tenant ${config.tenantId} as app ${config.clientId}`);
  } catch (e) {
    details.push(
      `Sign-in failed: ${line(azureError(e, { action: 'sign in to', resource: 'tenant', name: config.tenantId }, arm.hints, signal))}`,
    );
    return report(false);
  }

  let ok = true;
  for (const ns of ['Microsoft.Compute', 'Microsoft.Network']) {
    try {
      const p = await arm.resources.providers.get(ns, o);
      if (p.registrationState === 'Registered')
        details.push(`${ns} is registered on subscription ${config.subscriptionId}`);
      else {
        ok = false;
        details.push(
          `${ns} is ${p.registrationState ?? 'not registered'} on subscription ${config.subscriptionId}: register it (az provider register --namespace ${ns}, or Subscriptions > Resource providers)`,
        );
      }
    } catch (e) {
      details.push(
        line(azureError(e, { action: 'read provider', resource: 'namespace', name: ns }, arm.hints, signal)),
      );
      return report(false);
    }
  }

  try {
    for await (const u of arm.compute.usage.list(config.location, o))
      if (u.name.value === 'cores') {
        details.push(`vCPUs in ${config.location}: ${u.currentValue} of ${u.limit} in use`);
        if (u.currentValue >= u.limit) {
          ok = false;
          details.push(`The regional vCPU quota is used up: request more (Portal > Quotas > Compute) before deploying`);
        }
      }
  } catch (e) {
    ok = false;
    details.push(
      line(
        azureError(
          e,
          { action: 'read the vCPU quota of', resource: 'region', name: config.location },
          arm.hints,
          signal,
        ),
      ),
    );
  }

  try {
    const sizes = await region.sizes(signal);
    details.push(
      sizes.known
        ? `${sizes.offered.length} VM sizes offered to this subscription in ${config.location}${sizes.restricted.size ? ` (${sizes.restricted.size} restricted)` : ''}`
        : 'VM sizes could not be listed (no permission): sizes are checked when machines are created',
    );
    if (sizes.known && sizes.offered.length === 0) ok = false;
  } catch (e) {
    ok = false;
    details.push(line(e));
  }

  const templates: TemplateInfo[] = [];
  const missing: string[] = [];
  for (const os of [...new Set([...Object.keys(defaultImages), ...Object.keys(config.images)])]) {
    try {
      const v = await region.verifyImage(
        `(probe) ${os}`,
        chooseImage(`(probe) ${os}`, os, undefined, config.images),
        signal,
      );
      templates.push({ id: v.image.urn, name: v.image.urn, os });
      if (v.plan)
        details.push(
          `${os}: ${v.image.urn} is sold under a marketplace plan; accept its terms once: az vm image terms accept --urn ${v.image.urn}`,
        );
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      missing.push(`${os} (${line(e)})`);
    }
  }
  details.push(`Images available in ${config.location}: ${templates.map((t) => t.os).join(', ') || 'none'}`);
  if (missing.length) details.push(`Images not available: ${missing.join('; ')}`);
  details.push(
    'Creating resources needs Contributor (or the custom role in server/platforms/azure/README.md) on the subscription; Azure checks it when a deployment creates its first resource group',
  );
  return report(ok, { templates });
}
