// The AWS EC2 driver's configuration: one region of one account, how it is signed in to, which images and instance
// types machines get, and the limits calls run under. The secret access key (and a session token, if any) is the
// platform's sealed secret (DriverDeps.secret), never part of the stored config.
import { z } from 'zod';

const imageSearch = z.object({
  /** The AWS account that publishes the image (Canonical 099720109477, Amazon 801119661308, ...). */
  owner: z
    .string()
    .regex(/^(\d{12}|amazon|aws-marketplace|self)$/, 'a 12-digit account id, amazon, aws-marketplace or self'),
  /** An image name pattern (`*` and `?` wildcards); the newest available image that matches wins. */
  name: z.string().min(1),
});

export const defaultImages: Record<string, z.input<typeof imageSearch>> = {
  'ubuntu-22.04': { owner: '099720109477', name: 'ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-*-server-*' },
  'ubuntu-24.04': { owner: '099720109477', name: 'ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-*-server-*' },
  'debian-12': { owner: '136693071363', name: 'debian-12-a*64-*' },
  'kali-rolling': { owner: '679593333241', name: 'kali-last-snapshot-*' },
  'windows-server-2022': { owner: '801119661308', name: 'Windows_Server-2022-English-Full-Base-*' },
};

/** Burstable general-purpose types from small to large; a size gets the smallest one that fits it. */
export const defaultInstanceTypes = ['t3.micro', 't3.small', 't3.medium', 't3.large', 't3.xlarge', 't3.2xlarge'];

export const awsConfigSchema = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1'),
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, 'an access key id such as AKIA...'),
  /** Another API endpoint (a sovereign or private cloud, moto in tests); default: the region's public endpoint. */
  endpoint: z.url().optional(),
  /** A role assumed with the access key before every other call (STS AssumeRole); credentials renew before expiry. */
  assumeRole: z
    .strictObject({
      roleArn: z
        .string()
        .regex(/^arn:aws[\w-]*:iam::\d{12}:role\/.+$/, 'a role ARN such as arn:aws:iam::123456789012:role/glassdome'),
      externalId: z.string().min(2).max(1224).optional(),
      sessionName: z
        .string()
        .regex(/^[\w+=,.@-]{2,64}$/)
        .default('glassdome'),
      durationSec: z.number().int().min(900).max(43_200).default(3600),
      /** STS endpoint; default `endpoint` when set, else the region's STS endpoint. */
      stsEndpoint: z.url().optional(),
    })
    .optional(),
  /** Zones lab instances are spread over, in order; default every available zone of the region. */
  availabilityZones: z.array(z.string().min(1)).optional(),
  /** Candidate instance types for a machine's size (CPUs, memory); a scenario's `platform.aws.instanceType` wins. */
  instanceTypes: z
    .array(z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, 'an instance type such as t3.small'))
    .min(1)
    .default(defaultInstanceTypes),
  /** Catalog OS key -> image search; merged over the defaults. A scenario's `platform.aws.ami` wins. */
  images: z.record(z.string(), imageSearch).default({}),
  /** API calls in flight at once for this account and region, shared by every platform record that points there. */
  maxConcurrentCalls: z.number().int().min(1).max(100).default(16),
  /** Throttling and server errors are retried with exponential backoff and jitter, this many times. */
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).default(8),
      baseMs: z.number().int().min(1).default(500),
      maxMs: z.number().int().min(1).default(20_000),
    })
    .prefault({}),
  timeouts: z
    .strictObject({
      callMs: z.number().int().positive().default(30_000),
      /** Graceful stop before StopInstances is forced. */
      shutdownMs: z.number().int().positive().default(180_000),
      /** Termination of an instance, so that its network can go. */
      terminateMs: z.number().int().positive().default(600_000),
    })
    .prefault({}),
  /**
   * Instance states are read for every waiting machine at once every minMs; a machine's console output after a tenth
   * of the time it has been up, within minMs..maxMs, and no more than consoleReadsPerSec reads for the whole platform
   * (GetConsoleOutput has no batch form, and EC2 refills its request tokens slowly).
   */
  poll: z
    .strictObject({
      minMs: z.number().int().min(1).default(2000),
      maxMs: z.number().int().min(1).default(15_000),
      consoleReadsPerSec: z.number().positive().max(1000).default(10),
    })
    .prefault({}),
});

export type AwsConfig = z.output<typeof awsConfigSchema>;
export type AwsConfigInput = z.input<typeof awsConfigSchema>;

/** The platform secret: the secret access key, optionally followed by whitespace and a session token. */
export function parseAwsSecret(secret: string): { secretAccessKey: string; sessionToken?: string } {
  const [secretAccessKey = '', sessionToken] = secret.trim().split(/\s+/);
  return sessionToken ? { secretAccessKey, sessionToken } : { secretAccessKey };
}
