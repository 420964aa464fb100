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
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1')
    .describe('The AWS region labs are created in, e.g. eu-west-1.'),
  accessKeyId: z
    .string()
    .regex(/^[A-Z0-9]{16,128}$/, 'an access key id such as AKIA...')
    .describe(
      "The IAM user's access key id (AKIA..., or ASIA... for temporary credentials); the secret access key goes in " +
        'the secret field below.',
    ),
  endpoint: z
    .url()
    .optional()
    .describe(
      "Only for a private or EC2-compatible endpoint (a sovereign cloud, a test server). Empty: the region's " +
        'public endpoint.',
    ),
  egress: z
    .enum(['router', 'nat-gateway'])
    .default('router')
    .describe(
      'How lab networks with internet reach it. router: a small range router instance per lab instance (Debian, ' +
        'source/destination check off) masquerades their traffic, at the price of one t3.micro. nat-gateway: a ' +
        'managed NAT gateway per lab instance instead, which AWS bills per hour and per GB. Networks a firewall rule ' +
        'opens to the internet route to the internet gateway directly either way.',
    ),
  routerAddress: z
    .enum(['auto', 'elastic'])
    .default('auto')
    .describe(
      "The range router's public address. auto: the one EC2 gives at launch, which changes when the router is " +
        'stopped and started (idle shutdown does): VPN configurations must then be downloaded again. elastic: an ' +
        "Elastic IP per router that stays, at the same hourly price, within the region's Elastic IP quota (5 unless " +
        'raised).',
    ),
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
    .optional()
    .describe(
      'A role to assume with the key (STS AssumeRole, renewed before it expires), as JSON: ' +
        '{"roleArn": "arn:aws:iam::123456789012:role/glassdome", "externalId": "lab-7f3a"}; ' +
        'sessionName (glassdome), durationSec (3600) and stsEndpoint are optional.',
    ),
  availabilityZones: z
    .array(z.string().min(1))
    .optional()
    .describe(
      'Zones lab instances are spread over, in order, comma-separated (eu-west-1a, eu-west-1b). ' +
        'Empty: every available zone of the region.',
    ),
  instanceTypes: z
    .array(z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, 'an instance type such as t3.small'))
    .min(1)
    .default(defaultInstanceTypes)
    .describe(
      'Candidate instance types, comma-separated: a machine gets the smallest the region offers with enough vCPUs ' +
        'and memory. A scenario machine may name its own.',
    ),
  images: z
    .record(z.string(), imageSearch)
    .default({})
    .describe(
      'Catalog OS -> image search, merged over the built-in ones, as JSON: ' +
        '{"debian-12": {"owner": "136693071363", "name": "debian-12-a*64-*"}}; the newest matching image wins.',
    ),
  maxConcurrentCalls: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(16)
    .describe(
      'API calls in flight at once (1-100) for this account and region, shared by every platform pointing there.',
    ),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).default(8),
      baseMs: z.number().int().min(1).default(500),
      maxMs: z.number().int().min(1).default(20_000),
    })
    .prefault({})
    .describe(
      'Retries of throttling and server errors, as JSON: {"attempts": 8, "baseMs": 500, "maxMs": 20000} ' +
        '(the defaults; exponential backoff with jitter).',
    ),
  timeouts: z
    .strictObject({
      callMs: z.number().int().positive().default(30_000),
      /** Graceful stop before StopInstances is forced. */
      shutdownMs: z.number().int().positive().default(180_000),
      /** Termination of an instance, so that its network can go. */
      terminateMs: z.number().int().positive().default(600_000),
    })
    .prefault({})
    .describe(
      'Time limits as JSON: {"callMs": 30000, "shutdownMs": 180000, "terminateMs": 600000} (the defaults): ' +
        'one API call, a graceful stop before it is forced, an instance termination.',
    ),
  /**
   * Instance states are read for every waiting machine at once every minMs; a machine's console output after a tenth
   * of the time it has been up, within minMs..maxMs (more often around the time a copy of it was seen ready:
   * boot-reads.ts), and no more than consoleReadsPerSec reads for the whole platform (GetConsoleOutput has no batch
   * form, and EC2 refills its request tokens slowly).
   */
  poll: z
    .strictObject({
      minMs: z.number().int().min(1).default(2000),
      maxMs: z.number().int().min(1).default(15_000),
      consoleReadsPerSec: z.number().positive().max(1000).default(10),
    })
    .prefault({})
    .describe(
      'Polling, as JSON: {"minMs": 2000, "maxMs": 15000, "consoleReadsPerSec": 10} (the defaults): instance states ' +
        'every minMs; console output (readiness) within minMs..maxMs, at most consoleReadsPerSec reads in all.',
    ),
});

export type AwsConfig = z.output<typeof awsConfigSchema>;
export type AwsConfigInput = z.input<typeof awsConfigSchema>;

/** The platform secret: the secret access key, optionally followed by whitespace and a session token. */
export function parseAwsSecret(secret: string): { secretAccessKey: string; sessionToken?: string } {
  const [secretAccessKey = '', sessionToken] = secret.trim().split(/\s+/);
  return sessionToken ? { secretAccessKey, sessionToken } : { secretAccessKey };
}
