// Azure's failures as Glassdome errors: what an SDK error says (HTTP status, ARM code and message, a failed
// long-running operation's code and message, Entra ID's AADSTS errors), which of them are worth retrying, and
// a hint naming what the user can do (the role to assign, the provider to register, another size or region).
import { AppError, type ErrorCode } from '../../errors.ts';
import { unable } from '../shared/unable.ts';

export interface ArmFailure {
  status?: number;
  code?: string;
  message: string;
}

/** Who the hints are about. */
export interface HintContext {
  clientId: string;
  subscriptionId: string;
  location: string;
}

const lroFailed = /^The long-running operation has failed\. ([^.\s]+)\. ([\s\S]*)$/;

/** The status, ARM error code and message an SDK error carries. */
export function armFailure(e: unknown): ArmFailure {
  if (!(e instanceof Error)) return { message: String(e) };
  const x = e as Error & {
    statusCode?: number;
    code?: string;
    errorResponse?: { error?: string; errorDescription?: string };
  };
  // @azure/identity reports Entra ID's answer inside its message (AuthenticationRequiredError for a wrong secret).
  if (/Authentication|Credential/.test(x.name)) {
    const text = `${x.message}\n${x.errorResponse?.errorDescription ?? ''}`;
    const aad = /(AADSTS\d+): ([^\r\n]*)/.exec(text);
    if (aad) return { ...(x.statusCode ? { status: x.statusCode } : {}), code: aad[1]!, message: aad[2]!.trim() };
    return { code: 'CredentialUnavailableError', message: x.message.split(/\r?\n/)[0]!.trim() };
  }
  const m = lroFailed.exec(x.message);
  if (m) return { code: m[1]!, message: m[2]!.trim() };
  return {
    ...(x.statusCode ? { status: x.statusCode } : {}),
    ...(typeof x.code === 'string' ? { code: x.code } : {}),
    message: x.message,
  };
}

export const capacityCodes = new Set([
  'AllocationFailed',
  'ZonalAllocationFailed',
  'OverconstrainedAllocationRequest',
  'OverconstrainedZonalAllocationRequest',
]);
const transientCodes = new Set([
  'AnotherOperationInProgress',
  'RetryableError',
  'InternalServerError',
  'ServiceUnavailable',
  'GatewayTimeout',
  'OperationPreempted',
  'ResourceGroupBeingDeleted',
  'NicNotReady',
]);
const networkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
]);

export function isQuota(f: ArmFailure): boolean {
  return f.code === 'QuotaExceeded' || (f.code === 'OperationNotAllowed' && /quota/i.test(f.message));
}

/** The Glassdome error code and hint for an Azure failure. */
export function classify(f: ArmFailure, h: HintContext): { code: ErrorCode; hint?: string } {
  const code = f.code ?? '';
  const role = `Give the app registration (client id ${h.clientId}) the Contributor role on subscription ${h.subscriptionId} (az role assignment create --assignee ${h.clientId} --role Contributor --scope /subscriptions/${h.subscriptionId}), or the custom role in server/platforms/azure/README.md.`;
  if (f.status === 429 || code === 'TooManyRequests')
    return {
      code: 'rate_limited',
      hint: 'Azure is throttling this subscription; Glassdome retries after the Retry-After Azure gives.',
    };
  if (/^AADSTS/.test(code) || code === 'AuthenticationError' || code === 'CredentialUnavailableError') {
    const hint =
      code === 'AADSTS7000215' || code === 'AADSTS7000222'
        ? "The client secret is wrong or expired: paste the secret's Value (not its Secret ID) from the app registration's \"Certificates & secrets\" into the platform's settings."
        : code === 'AADSTS700016'
          ? `No app registration with client id ${h.clientId} exists in this tenant: check the client id and the tenant id.`
          : code === 'AADSTS90002' || /endpoints_resolution_error/.test(f.message)
            ? 'The tenant was not found: check the tenant id (Microsoft Entra ID > Overview) and the authority host.'
            : 'Check the tenant id, client id and client secret of the platform.';
    return { code: 'platform_error', hint };
  }
  if (f.status === 401 || code === 'InvalidAuthenticationToken' || code === 'AuthenticationFailed')
    return {
      code: 'platform_error',
      hint: 'Azure refused the access token: check the tenant id and that the subscription belongs to that tenant.',
    };
  if (code === 'AuthorizationFailed' || code === 'LinkedAuthorizationFailed' || f.status === 403)
    return { code: 'platform_error', hint: role };
  if (code === 'MissingSubscriptionRegistration') {
    const ns = /namespace '([^']+)'/.exec(f.message)?.[1] ?? 'the resource provider';
    return {
      code: 'platform_error',
      hint: `Register ${ns} on subscription ${h.subscriptionId} (az provider register --namespace ${ns}, or Subscriptions > Resource providers in the portal), then try again.`,
    };
  }
  if (code === 'SubscriptionNotFound' || code === 'InvalidSubscriptionId')
    return {
      code: 'platform_error',
      hint: `Check the subscription id, and that the app registration has a role on subscription ${h.subscriptionId}.`,
    };
  if (code === 'SkuNotAvailable')
    return {
      code: 'invalid_input',
      hint: `That size is not offered to this subscription in ${h.location}: set another with platform.azure.vmSize (az vm list-skus --location ${h.location} --resource-type virtualMachines shows what is), or use another region.`,
    };
  if (capacityCodes.has(code))
    return {
      code: 'platform_error',
      hint: `Azure has no capacity for this size in ${h.location} right now: try again later, or choose another size (platform.azure.vmSize) or region.`,
    };
  if (isQuota(f))
    return {
      code: 'platform_error',
      hint: `The subscription's vCPU quota in ${h.location} is used up: request more (Portal > Quotas > Compute), use smaller sizes, deploy fewer instances, or destroy ranges you no longer need.`,
    };
  if (
    code === 'PlatformImageNotFound' ||
    code === 'ImageNotFound' ||
    code === 'ArtifactNotFound' ||
    code === 'InvalidImageReference'
  )
    return {
      code: 'invalid_input',
      hint: `Set platform.azure.image to an image offered in ${h.location}, as publisher:offer:sku[:version] (az vm image list --location ${h.location} --publisher <publisher> --all).`,
    };
  if (code === 'ResourcePurchaseValidationFailed' || code === 'MarketplacePurchaseEligibilityFailed')
    return {
      code: 'invalid_input',
      hint: "Accept the image's marketplace terms once for the subscription: az vm image terms accept --urn <publisher>:<offer>:<sku>:latest",
    };
  if (f.status === 404) return { code: 'not_found' };
  if (code === 'PrivateIPAddressInReservedRange')
    return {
      code: 'invalid_input',
      hint: 'Azure keeps the first four and the last address of every subnet: give the machine another address.',
    };
  if (transientCodes.has(code) || (f.status !== undefined && f.status >= 500) || networkCodes.has(code))
    return { code: 'transient' };
  return { code: 'platform_error' };
}

/** `[azure] Unable to <action> <resource> "<name>": <Code>: <message>` with its code and hint, or the signal's reason. */
export function azureError(
  e: unknown,
  what: { action: string; resource: string; name: string },
  h: HintContext,
  signal?: AbortSignal,
): unknown {
  if (signal?.aborted) return signal.reason;
  if (e instanceof AppError)
    return e.message.startsWith('[azure] ') ? e : unable('azure', what.action, what.resource, what.name, e);
  const f = armFailure(e);
  if ((e as Error)?.name === 'AbortError')
    return new AppError(
      'timeout',
      `[azure] Unable to ${what.action} ${what.resource} "${what.name}": Azure did not answer in time`,
      { cause: e },
    );
  const { code, hint } = classify(f, h);
  const cause = f.code && !f.message.startsWith(f.code) ? `${f.code}: ${f.message}` : f.message;
  return unable(
    'azure',
    what.action,
    what.resource,
    what.name,
    new AppError(code, cause, { cause: e, ...(hint ? { hint } : {}) }),
  );
}
