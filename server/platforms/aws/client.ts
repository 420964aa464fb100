// The one way the driver calls EC2: the SDK loaded on first use, credentials (static or an assumed role), and every
// call through the region's limiter, with a timeout, the caller's AbortSignal, and bounded retries with jitter.
import type * as Ec2Sdk from '@aws-sdk/client-ec2';
import { AppError } from '../../errors.ts';
import { backoffDelay, isTransient } from '../shared/retry.ts';
import { sleep, type PollOptions } from '../shared/wait.ts';
import type { CallOptions } from '../platform.ts';
import { parseAwsSecret, type AwsConfig } from './config.ts';
import { toAppError } from './errors.ts';
import type { CallOrder, RegionLimiter } from './limits.ts';

type Sdk = typeof Ec2Sdk;
type ActionOf<K> = K extends `${infer A}Command` ? (A extends '$' | '' ? never : A) : never;
/** An EC2 API action, as the SDK names its command without the `Command` suffix: `DescribeVpcs`. */
export type Action = ActionOf<Extract<keyof Sdk, `${string}Command`>>;
type CommandOf<A extends Action> = InstanceType<Sdk[`${A}Command`]>;
export type InputOf<A extends Action> = CommandOf<A>['input'];
export type OutputOf<A extends Action> = Awaited<ReturnType<ReturnType<CommandOf<A>['resolveMiddleware']>>>['output'];

export interface Ec2CallOptions extends CallOptions {
  /** false: one attempt only (the caller handles failures itself). */
  retry?: boolean;
  /** Moves a machine along (a launch, a wait on it): served before calls that prepare others. */
  urgent?: boolean;
  /**
   * The operation this call is part of (its kind and when it began), which decides its place among waiting calls
   * (limits.ts). The driver's entry points set it on the options they hand down; `urgent` ranks the call first.
   */
  order?: CallOrder;
}

export interface Ec2 {
  call<A extends Action>(action: A, input: InputOf<A>, o?: Ec2CallOptions): Promise<OutputOf<A>>;
  close(): void;
}

export interface Ec2Options {
  config: AwsConfig;
  secret: string;
  limiter: RegionLimiter;
  /** Adds SDK middleware, for tests that watch or disturb the calls. */
  onClient?: (client: Ec2Sdk.EC2Client) => void;
}

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export function createEc2(o: Ec2Options): Ec2 {
  const { config } = o;
  let loading: Promise<{ sdk: Sdk; client: Ec2Sdk.EC2Client }> | undefined;
  const base: Credentials = { accessKeyId: config.accessKeyId, ...parseAwsSecret(o.secret) };

  async function load() {
    const sdk = await import('@aws-sdk/client-ec2');
    const client = new sdk.EC2Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      credentials: config.assumeRole ? assumedRole(config, base) : base,
      // Retries are ours (below): bounded, jittered, and they give the limiter's slot back while they wait.
      maxAttempts: 1,
      requestHandler: {
        requestTimeout: config.timeouts.callMs,
        connectionTimeout: Math.min(10_000, config.timeouts.callMs),
      },
    });
    o.onClient?.(client);
    return { sdk, client };
  }
  const ready = () =>
    (loading ??= load().catch((e: unknown) => {
      loading = undefined;
      throw e;
    }));

  async function once<A extends Action>(action: A, input: InputOf<A>, opts?: Ec2CallOptions): Promise<OutputOf<A>> {
    const { sdk, client } = await ready();
    const release = await o.limiter.acquire(
      opts?.signal,
      opts?.urgent
        ? { rank: 0, began: opts.order?.began ?? performance.now() }
        : (opts?.order ?? { rank: 3, began: performance.now() }),
    );
    const timeout = AbortSignal.timeout(config.timeouts.callMs);
    const signal = opts?.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    try {
      const Command = sdk[`${action}Command`] as unknown as new (input: unknown) => CommandOf<A>;
      return (await client.send(new Command(input) as never, { abortSignal: signal })) as OutputOf<A>;
    } catch (e) {
      if (opts?.signal?.aborted) throw opts.signal.reason;
      if (timeout.aborted)
        throw new AppError(
          'transient',
          `[aws] ${action} did not answer within ${config.timeouts.callMs} ms in ${config.region}`,
          { cause: e },
        );
      throw toAppError(e, action, config.region);
    } finally {
      release();
    }
  }

  return {
    async call(action, input, opts) {
      const attempts = opts?.retry === false ? 1 : config.retry.attempts;
      for (let attempt = 1; ; attempt++) {
        try {
          return await once(action, input, opts);
        } catch (e) {
          if (!isTransient(e) || attempt >= attempts || opts?.signal?.aborted) throw e;
          await sleep(backoffDelay(attempt, config.retry), opts?.signal);
        }
      }
    },
    close() {
      const l = loading;
      loading = undefined;
      void l?.then(
        (x) => x.client.destroy(),
        () => undefined,
      );
    },
  };
}

/** Credentials of an assumed role, renewed five minutes before they expire; the SDK asks before each call. */
function assumedRole(config: AwsConfig, base: Credentials): () => Promise<Credentials> {
  const role = config.assumeRole!;
  let current: Promise<Credentials> | undefined;
  let expires = 0;
  const fetchCredentials = async (): Promise<Credentials> => {
    const sts = await import('@aws-sdk/nested-clients/sts');
    const endpoint = role.stsEndpoint ?? config.endpoint;
    const client = new sts.STSClient({
      region: config.region,
      credentials: base,
      maxAttempts: 3,
      ...(endpoint ? { endpoint } : {}),
      requestHandler: { requestTimeout: config.timeouts.callMs },
    });
    try {
      const out = await client.send(
        new sts.AssumeRoleCommand({
          RoleArn: role.roleArn,
          RoleSessionName: role.sessionName,
          DurationSeconds: role.durationSec,
          ...(role.externalId ? { ExternalId: role.externalId } : {}),
        }),
        { abortSignal: AbortSignal.timeout(config.timeouts.callMs) },
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey)
        throw new AppError('platform_error', `[aws] AssumeRole of ${role.roleArn} returned no credentials`);
      expires = c.Expiration ? c.Expiration.getTime() : Date.now() + role.durationSec * 1000;
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        expiration: new Date(expires),
      };
    } catch (e) {
      throw e instanceof AppError
        ? e
        : new AppError(
            toAppError(e, 'AssumeRole', config.region).code,
            `[aws] Unable to assume role ${role.roleArn}: ${(e as Error).message}`,
            {
              cause: e,
              hint: 'Check the role ARN, its trust policy (it must trust the access key of this platform, with the external id if set), and sts:AssumeRole on the key.',
            },
          );
    } finally {
      client.destroy();
    }
  };
  return () => {
    if (!current || Date.now() > expires - 5 * 60_000)
      current = fetchCredentials().catch((e: unknown) => {
        current = undefined;
        throw e;
      });
    return current;
  };
}

/** Every page of a Describe call (bounded: a tag filter never yields thousands of pages). */
export async function describeAll<A extends Action, T>(
  ec2: Ec2,
  action: A,
  input: InputOf<A>,
  pick: (out: OutputOf<A>) => T[] | undefined,
  o?: Ec2CallOptions,
): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const r = await ec2.call(action, { ...input, ...(token ? { NextToken: token } : {}) } as InputOf<A>, o);
    out.push(...(pick(r) ?? []));
    token = (r as { NextToken?: string }).NextToken;
    if (!token) break;
  }
  return out;
}

/** Runs `fn` alone among the callers of the same key; the next one starts when it settles. */
export type KeyedLock = <T>(key: string, fn: () => Promise<T>, signal?: AbortSignal) => Promise<T>;

export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<void>>();
  return async (key, fn, signal) => {
    const prev = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    tails.set(key, tail);
    try {
      signal?.throwIfAborted();
      await (signal ? untilAborted(prev, signal) : prev);
    } catch (e) {
      // Gave up waiting: pass the turn on once the holder is done, so later callers keep their order.
      void prev.then(release);
      throw e;
    }
    try {
      return await fn();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/** `p`, or the signal's reason if it aborts first; the listener goes either way. */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Finds a resource by its tags, or creates it. EC2 gives most creates no idempotency token (CreateVpc, CreateSubnet,
 * CreateInternetGateway), so a create whose answer was lost is not simply sent again: after a backoff the resource is
 * looked for first, and created only if it is still not there. `create` must call EC2 with `retry: false`.
 */
/**
 * How the driver polls its long waits (instances terminating, NAT gateways coming and going): at the platform's poll
 * pace, with jitter, for at most timeouts.terminateMs.
 */
export function longWait(config: Pick<AwsConfig, 'timeouts' | 'poll'>, signal?: AbortSignal): PollOptions {
  return {
    deadline: Date.now() + config.timeouts.terminateMs,
    minMs: config.poll.minMs,
    maxMs: config.poll.maxMs,
    jitterMs: 250,
    ...(signal ? { signal } : {}),
  };
}

export async function findOrCreate<T>(
  config: Pick<AwsConfig, 'retry'>,
  find: () => Promise<T | undefined>,
  create: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const found = await find();
    if (found !== undefined) return found;
    try {
      return await create();
    } catch (e) {
      if (!isTransient(e) || attempt >= config.retry.attempts || signal?.aborted) throw e;
      await sleep(backoffDelay(attempt, config.retry), signal);
    }
  }
}
