// How EC2's error codes become AppErrors: throttling and server trouble are worth retrying, missing capacity is
// the caller's to work around (another zone), quotas, permissions and credentials need the user and say how.
import { AppError, type ErrorCode } from '../../errors.ts';

/** An error as the SDK throws it: `name` is EC2's error code. */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

const throttling = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'TooManyRequestsException',
  'EC2ThrottledException',
  'SlowDown',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
]);
const serverTrouble = new Set([
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
const networkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const credentials = new Set([
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'ExpiredToken',
  'RequestExpired',
  'InvalidAccessKeyId',
  'OptInRequired',
  'Blocked',
]);
const permissions = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException']);
/** No room for the instance type in that zone right now; another zone may have it. */
export const capacityCodes = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'InsufficientCapacityOnHost',
  'InsufficientReservedInstanceCapacity',
]);

export function codeOf(e: unknown): string | undefined {
  if (e instanceof AppError) return codeOf(e.cause);
  const s = e as SdkError | undefined;
  return s && typeof s === 'object' ? (s.name && s.name !== 'Error' ? s.name : s.code) : undefined;
}

/** Whether an EC2 error (or an AppError made from one) carries one of these codes. */
export function hasCode(e: unknown, ...codes: string[]): boolean {
  const c = codeOf(e);
  return c !== undefined && codes.some((x) => c === x || c.startsWith(`${x}.`));
}

export function isNotFound(e: unknown): boolean {
  const c = codeOf(e);
  return c !== undefined && (/\.NotFound(Exception)?$/.test(c) || /NotFound$/.test(c));
}

export function isCapacity(e: unknown): boolean {
  const c = codeOf(e);
  // "Unsupported": the instance type is not offered in the subnet's zone, which another zone may fix too.
  return c !== undefined && (capacityCodes.has(c) || c === 'Unsupported');
}

/** A quota: any *LimitExceeded but the request rate, which is throttling. */
function isQuota(code: string): boolean {
  return /LimitExceeded$/.test(code) && code !== 'RequestLimitExceeded' && code !== 'BandwidthLimitExceeded';
}

/**
 * The AppError for an EC2 failure of `action`: the code says whether to retry, the message keeps EC2's code and
 * text, the hint says what the user can do. `region` names where it happened.
 */
export function toAppError(e: unknown, action: string, region: string): AppError {
  if (e instanceof AppError) return e;
  const s = (e ?? {}) as SdkError;
  const code = codeOf(e) ?? 'Error';
  const status = s.$metadata?.httpStatusCode;
  const text = `${code}: ${s.message ?? String(e)}`.replace(/\s+/g, ' ').trim();
  const make = (c: ErrorCode, hint?: string) =>
    new AppError(c, `[aws] ${action} failed in ${region}: ${text}`, { cause: e, ...(hint ? { hint } : {}) });
  if (throttling.has(code) || status === 429)
    return make(
      'rate_limited',
      'EC2 is throttling this account in this region; Glassdome backs off and retries. Lower maxConcurrentCalls if it persists.',
    );
  if (
    serverTrouble.has(code) ||
    networkCodes.has(code) ||
    (status !== undefined && status >= 500 && !capacityCodes.has(code))
  )
    return make('transient', 'EC2 or the network to it had a passing failure; it is retried.');
  if (capacityCodes.has(code))
    return make(
      'transient',
      'AWS has no capacity for this instance type in that zone right now: retry later, or choose another instance type (platform.aws.instanceType).',
    );
  if (credentials.has(code))
    return make(
      'unauthorized',
      "Check the platform's access key id and secret access key (and session token, for temporary credentials), and that the account is enabled for this region.",
    );
  if (permissions.has(code))
    return make(
      'forbidden',
      `Allow ec2:${action} to the IAM user or role of this platform (see the IAM policy in server/platforms/aws/README.md).`,
    );
  if (isQuota(code))
    return make(
      'platform_error',
      `An AWS quota was reached in ${region}: request a higher quota in the Service Quotas console (EC2 or VPC), or deploy fewer instances.`,
    );
  if (code === 'DryRunOperation') return make('platform_error');
  if (isNotFound(e)) return make('not_found');
  if (code.startsWith('Invalid') || code === 'MissingParameter' || code === 'UnknownParameter' || status === 400)
    return make('invalid_input');
  return make('platform_error');
}
