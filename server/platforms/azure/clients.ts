// The connection to Azure: the SDK clients (loaded only when an Azure platform is used), the credential, one HTTPS
// agent for ARM and Entra ID (with extra CAs when configured), a timeout on every request, the SDK's own retries
// (429 after Retry-After, 5xx and network errors with backoff) and long-running operations run to their end.
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { ComputeManagementClient } from '@azure/arm-compute';
import type { NetworkManagementClient } from '@azure/arm-network';
import type { ResourceManagementClient } from '@azure/arm-resources';
import { AppError } from '../../errors.ts';
import type { AzureConfig } from './config.ts';
import { azureError, type HintContext } from './errors.ts';

export interface Arm {
  compute: ComputeManagementClient;
  network: NetworkManagementClient;
  resources: ResourceManagementClient;
  credential: TokenCredential;
  /** The token scope of ARM. */
  scope: string;
  agent: https.Agent;
  hints: HintContext;
  /** Runs a long-running operation to its end; throws the operation's failure, a timeout, or the signal's reason. */
  lro<T>(
    what: { action: string; resource: string; name: string },
    start: (o: LroOptions) => Promise<Poller<T>> | Poller<T>,
    signal?: AbortSignal,
  ): Promise<T>;
  /** Runs one call, turning its failure into an AppError naming `what`. */
  call<T>(
    what: { action: string; resource: string; name: string },
    fn: (o: { abortSignal?: AbortSignal }) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T>;
  /** As `call`, but what does not exist (404) is undefined. */
  find<T>(
    what: { action: string; resource: string; name: string },
    fn: (o: { abortSignal?: AbortSignal }) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T | undefined>;
}

export interface LroOptions {
  abortSignal: AbortSignal;
  updateIntervalInMs: number;
}

/** What the pollers of both SDK generations (core-lro 2 and 3) have in common. */
export interface Poller<T> {
  pollUntilDone(o?: { abortSignal?: AbortSignal }): Promise<T>;
}

export interface ArmDeps {
  /** The client secret; not needed when `credential` is given. */
  secret?: string;
  /** A credential to use instead of the client secret (tests). */
  credential?: TokenCredential;
}

function timeoutPolicy(ms: number): PipelinePolicy {
  return {
    name: 'glassdomeRequestTimeout',
    sendRequest(request, next) {
      if (!request.timeout) request.timeout = ms;
      return next(request);
    },
  };
}

export async function connectArm(config: AzureConfig, deps: ArmDeps): Promise<Arm> {
  const hints: HintContext = {
    clientId: config.clientId,
    subscriptionId: config.subscriptionId,
    location: config.location,
  };
  // One secure context for every connection: an agent given `ca` instead writes all ~150 roots into the key it
  // computes for each request, which cost more CPU than the rest of a request.
  const secureContext = config.caFile
    ? tls.createSecureContext({ ca: [...tls.rootCertificates, readFileSync(config.caFile, 'utf8')] })
    : undefined;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ...(secureContext ? { secureContext } : {}) });
  const endpoint = config.armEndpoint.replace(/\/+$/, '');
  const scope = `${endpoint}/.default`;
  const pipeline = {
    agent,
    retryOptions: { maxRetries: config.maxRetries, retryDelayInMs: 800, maxRetryDelayInMs: 30_000 },
    additionalPolicies: [{ policy: timeoutPolicy(config.timeouts.requestMs), position: 'perRetry' as const }],
    userAgentOptions: { userAgentPrefix: 'glassdome' },
  };
  let credential = deps.credential;
  if (!credential) {
    if (!deps.secret)
      throw new AppError('invalid_input', '[azure] No client secret is stored for this platform', {
        hint: "Enter the app registration's client secret (its Value) in the platform's settings.",
      });
    const { ClientSecretCredential } = await import('@azure/identity');
    credential = new ClientSecretCredential(config.tenantId, config.clientId, deps.secret, {
      ...pipeline,
      ...(config.authorityHost ? { authorityHost: config.authorityHost, disableInstanceDiscovery: true } : {}),
    });
  }
  const [{ ComputeManagementClient }, { NetworkManagementClient }, { ResourceManagementClient }] = await Promise.all([
    import('@azure/arm-compute'),
    import('@azure/arm-network'),
    import('@azure/arm-resources'),
  ]);
  const compute = new ComputeManagementClient(credential, config.subscriptionId, {
    ...pipeline,
    endpoint,
    credentials: { scopes: [scope] },
  });
  const autorest = { ...pipeline, endpoint, $host: endpoint, credentialScopes: [scope] };
  const network = new NetworkManagementClient(credential, config.subscriptionId, autorest);
  const resources = new ResourceManagementClient(credential, config.subscriptionId, autorest);

  const bounded = (signal?: AbortSignal) => {
    const deadline = AbortSignal.timeout(config.timeouts.operationMs);
    return { deadline, both: signal ? AbortSignal.any([signal, deadline]) : deadline };
  };
  return {
    compute,
    network,
    resources,
    credential,
    scope,
    agent,
    hints,
    async lro(what, start, signal) {
      const { deadline, both } = bounded(signal);
      try {
        const started = start({ abortSignal: both, updateIntervalInMs: config.pollIntervalMs });
        // arm-compute 24's pollers are thenables that would run to their end, ignoring the signal between polls.
        const poller = 'pollUntilDone' in started ? started : await started;
        return await poller.pollUntilDone({ abortSignal: both });
      } catch (e) {
        if (deadline.aborted && !signal?.aborted)
          throw new AppError(
            'timeout',
            `[azure] Unable to ${what.action} ${what.resource} "${what.name}": not finished after ${Math.round(config.timeouts.operationMs / 1000)} s`,
            { cause: e, hint: "See the resource group's Activity log in the Azure portal." },
          );
        throw azureError(e, what, hints, signal);
      }
    },
    async call(what, fn, signal) {
      try {
        return await fn(signal ? { abortSignal: signal } : {});
      } catch (e) {
        throw azureError(e, what, hints, signal);
      }
    },
    async find(what, fn, signal) {
      try {
        return await fn(signal ? { abortSignal: signal } : {});
      } catch (e) {
        if (statusOf(e) === 404 && !signal?.aborted) return undefined;
        throw azureError(e, what, hints, signal);
      }
    },
  };
}

/** The HTTP status of an SDK error (404 is an expected state in many places). */
export function statusOf(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}
