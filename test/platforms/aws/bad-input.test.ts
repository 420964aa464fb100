// What the AWS driver tells a user who got something wrong: credentials and permissions (moto with its IAM
// authentication on, so the refusals are moto's own), a region without the instance type or image, quotas, networks
// and user data EC2 cannot take. Each message names the platform ([aws] and the region), the object, and what to do;
// where it can be checked first, nothing is created.
import * as E from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../server/errors.ts';
import { awsConfigSchema } from '../../../server/platforms/aws/config.ts';
import { createAwsPlatform } from '../../../server/platforms/aws/driver.ts';
import { drivers } from '../../../server/platforms/index.ts';
import type { NetworkRef } from '../../../server/platforms/platform.ts';
import { locateMoto, startMoto, type Moto } from '../moto.ts';
import { machineSpec, region, startAwsTarget, webDmzNetworks, type AwsTarget } from './helpers.ts';

let open: AwsTarget | undefined;
let authed: Moto | undefined;
const users: Record<string, { id: string; secret: string }> = {};

async function iamUser(moto: Moto, name: string, actions: string[]): Promise<{ id: string; secret: string }> {
  await moto.query('iam', { Action: 'CreateUser', UserName: name, Version: '2010-05-08' });
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] };
  await moto.query('iam', {
    Action: 'PutUserPolicy',
    UserName: name,
    PolicyName: 'glassdome',
    PolicyDocument: JSON.stringify(policy),
    Version: '2010-05-08',
  });
  const xml = await moto.query('iam', { Action: 'CreateAccessKey', UserName: name, Version: '2010-05-08' });
  return { id: /<AccessKeyId>([^<]+)</.exec(xml)![1]!, secret: /<SecretAccessKey>([^<]+)</.exec(xml)![1]! };
}

beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    console.warn(`[aws bad input] skipped: ${r.skip}`);
    return;
  }
  open = r;
  const located = await locateMoto();
  if ('skip' in located) return;
  authed = await startMoto(located.python);
  users.readOnly = await iamUser(authed, 'glassdome-ro', ['ec2:Describe*']);
  users.full = await iamUser(authed, 'glassdome-full', ['ec2:*']);
  users.noStatus = await iamUser(authed, 'glassdome-nostatus', [
    'ec2:DescribeAccountAttributes',
    'ec2:DescribeVpcs',
    'ec2:DescribeAvailabilityZones',
    'ec2:DescribeInstanceTypeOfferings',
    'ec2:DescribeInstanceTypes',
    'ec2:DescribeImages',
    'ec2:Create*',
    'ec2:RunInstances',
    'ec2:DeleteVpc',
  ]);
  await authed.enforceAuthAfter(0);
});
afterAll(async () => {
  await open?.stop();
  await authed?.stop();
});

const test = (name: string, fn: (t: AwsTarget) => Promise<void>) =>
  it(name, async (ctx) => {
    if (!open) return ctx.skip();
    try {
      await fn(open);
    } finally {
      open.proxy.options.fault = undefined;
    }
  });
const authedPlatform = (id: string, secret: string) =>
  createAwsPlatform(
    { region, accessKeyId: id, endpoint: authed!.endpoint, retry: { attempts: 2, baseMs: 5, maxMs: 10 } },
    { secret },
  );
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as AppError,
  );
const mutating = (t: AwsTarget, from: number) =>
  t.proxy.calls.slice(from).filter((c) => !/^(Describe|Get)/.test(c.action));

describe('AWS credentials and permissions', () => {
  test('wrong credentials: the probe says so, and a deployment fails unauthorized with what to check', async () => {
    for (const [id, secret] of [
      ['AKIAWRONGWRONGWRONG0', 'nope'],
      [users.full!.id, 'not-the-secret'],
    ] as const) {
      const p = authedPlatform(id, secret);
      const report = await p.testConnection();
      expect(report.ok).toBe(false);
      expect(report.details.join('\n')).toMatch(
        /DescribeAccountAttributes failed in eu-west-1: AuthFailure: AWS was not able to validate the provided access credentials/,
      );
      expect(report.details.join('\n')).toMatch(/Check the platform's access key id and secret access key/);
      const err = await failure(p.ensureNetwork(webDmzNetworks('cred', 1)[0]!));
      expect(err!.code).toBe('unauthorized');
      expect(err!.message).toBe(
        `[aws] Unable to create network "gd-cred-i1-dmz": DescribeVpcs failed in ${region}: AuthFailure: AWS was not able to validate the provided access credentials`,
      );
      await p.close();
    }
  });

  test('missing permissions: the probe names them, and a create fails forbidden naming the one to grant', async () => {
    const p = authedPlatform(users.readOnly!.id, users.readOnly!.secret);
    const report = await p.testConnection();
    expect(report.ok).toBe(false);
    expect(report.details).toContain(
      "Missing permissions: ec2:CreateVpc, ec2:CreateInternetGateway, ec2:CreateLaunchTemplate, ec2:RunInstances (see the IAM policy in the AWS platform's README)",
    );
    const err = await failure(p.ensureNetwork(webDmzNetworks('perm', 1)[0]!));
    expect(err!.code).toBe('forbidden');
    expect(err!.message).toMatch(
      /^\[aws\] Unable to create network "gd-perm-i1-dmz": CreateVpc failed in eu-west-1: AccessDenied: User: arn:aws:iam::\d+:user\/glassdome-ro is not authorized to perform: ec2:CreateVpc$/,
    );
    expect(err!.hint).toMatch(/^Allow ec2:CreateVpc to the IAM user or role of this platform/);
    await p.close();
    // Everything to deploy, but not the status read the overseer's health sweep needs: said, and not ok.
    const blind = authedPlatform(users.noStatus!.id, users.noStatus!.secret);
    const partial = await blind.testConnection();
    expect(partial.details).toContain(
      "Missing permission: ec2:DescribeInstanceStatus (the overseer's health sweep reads the instances' status checks with it)",
    );
    expect(partial.ok).toBe(false);
    await blind.close();
    const full = authedPlatform(users.full!.id, users.full!.secret);
    const ok = await full.testConnection();
    expect(ok.ok, ok.details.join('\n')).toBe(true);
    await full.close();
  });

  test("EC2's own UnauthorizedOperation on a launch is forbidden too, with the permission to grant", async (t) => {
    const p = t.platform();
    const ref = await p.ensureNetwork(webDmzNetworks('unau', 1)[0]!);
    t.proxy.options.fault = ({ action }) =>
      action === 'RunInstances'
        ? {
            status: 403,
            code: 'UnauthorizedOperation',
            message: 'You are not authorized to perform this operation. Encoded authorization failure message: AbC',
          }
        : undefined;
    const err = await failure(
      p.startMachine(await p.createMachine(machineSpec('unau', 1, 'web', [{ network: ref, ip: '10.30.1.20' }]))),
    );
    expect(err!.code).toBe('forbidden');
    expect(err!.message).toMatch(
      /^\[aws\] Unable to start VM "gd-unau-i1-web": RunInstances failed in eu-west-1: UnauthorizedOperation: You are not authorized/,
    );
    expect(err!.hint).toMatch(/Allow ec2:RunInstances/);
  });
});

describe('AWS: what a region, an image or a quota refuses', () => {
  let dmz: NetworkRef;
  test('an instance type the region does not offer, before anything of the machine is created', async (t) => {
    const p = t.platform({ region: 'af-south-1' });
    const [spec] = webDmzNetworks('reg', 1);
    dmz = await p.ensureNetwork(spec!);
    const from = t.proxy.calls.length;
    const err = await failure(
      p.createMachine(
        machineSpec('reg', 1, 'web', [{ network: dmz, ip: '10.30.1.20' }], { options: { instanceType: 't3a.small' } }),
      ),
    );
    expect(err!.code).toBe('invalid_input');
    expect(err!.message).toBe(
      '[aws] Unable to create VM "gd-reg-i1-web": instance type t3a.small is not offered in af-south-1',
    );
    expect(err!.hint).toMatch(/Choose a type this region has/);
    const q = t.platform({ region: 'af-south-1', instanceTypes: ['t3a.small', 't3a.medium', 't3.nano'] });
    const none = await failure(q.createMachine(machineSpec('reg', 1, 'web', [{ network: dmz, ip: '10.30.1.20' }])));
    expect(none!.message).toBe(
      '[aws] Unable to create VM "gd-reg-i1-web": no instance type for 1 vCPU(s) and 2048 MiB in af-south-1: the candidates t3.nano are too small and t3a.small, t3a.medium are not offered there',
    );
    expect(mutating(t, from)).toEqual([]);
  });

  test('an image that does not exist, an OS without one, an image of the wrong architecture', async (t) => {
    const p = t.platform();
    const ref = await p.ensureNetwork(webDmzNetworks('img', 1)[0]!);
    const from = t.proxy.calls.length;
    const web = (extra: Parameters<typeof machineSpec>[4]) =>
      machineSpec('img', 1, 'web', [{ network: ref, ip: '10.30.1.20' }], extra);
    const missing = await failure(p.createMachine(web({ options: { ami: 'ami-0000000000000dead' } })));
    expect(missing!.message).toBe(
      `[aws] Unable to create VM "gd-img-i1-web": image ami-0000000000000dead does not exist in ${region} (or is not available to this account)`,
    );
    expect(missing!.hint).toMatch(/AMI ids differ per region/);
    const q = t.platform({ images: { 'debian-12': { owner: '136693071363', name: 'debian-13-*' } } });
    const none = await failure(q.createMachine(web({ os: 'debian-12' })));
    expect(none!.message).toBe(
      `[aws] Unable to create VM "gd-img-i1-web": no x86_64 image for debian-12 in ${region}: none named "debian-13-*" from owner 136693071363`,
    );
    const arch = await failure(
      p.createMachine(web({ options: { instanceType: 't4g.small', ami: 'ami-0a1b2c3d4e5f60002' } })),
    );
    expect(arch!.message).toBe(
      '[aws] Unable to create VM "gd-img-i1-web": image ami-0a1b2c3d4e5f60002 (ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240301) is x86_64, but instance type t4g.small runs arm64',
    );
    expect(mutating(t, from)).toEqual([]);
  });

  test('quotas: a vCPU limit at launch and a VPC limit, each with where to raise it', async (t) => {
    const p = t.platform();
    const ref = await p.ensureNetwork(webDmzNetworks('quota', 1)[0]!);
    t.proxy.options.fault = ({ action }) =>
      action === 'RunInstances'
        ? {
            status: 400,
            code: 'VcpuLimitExceeded',
            message:
              'You have requested more vCPU capacity than your current vCPU limit of 32 allows for the instance bucket that the specified instance type belongs to.',
          }
        : action === 'CreateVpc'
          ? { status: 400, code: 'VpcLimitExceeded', message: 'The maximum number of VPCs has been reached.' }
          : undefined;
    const vcpu = await failure(
      p.startMachine(await p.createMachine(machineSpec('quota', 1, 'web', [{ network: ref, ip: '10.30.1.20' }]))),
    );
    expect(vcpu!.code).toBe('platform_error');
    expect(vcpu!.message).toMatch(
      /^\[aws\] Unable to start VM "gd-quota-i1-web": RunInstances failed in eu-west-1: VcpuLimitExceeded: You have requested more vCPU capacity/,
    );
    expect(vcpu!.hint).toBe(
      `An AWS quota was reached in ${region}: request a higher quota in the Service Quotas console (EC2 or VPC), or deploy fewer instances.`,
    );
    const vpc = await failure(p.ensureNetwork(webDmzNetworks('quota', 2)[0]!));
    expect(vpc!.message).toBe(
      `[aws] Unable to create network "gd-quota-i2-dmz": CreateVpc failed in ${region}: VpcLimitExceeded: The maximum number of VPCs has been reached.`,
    );
    expect(vpc!.hint).toMatch(/Service Quotas/);
    expect(
      (await t.ec2.send(new E.DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: ['gd-quota-i2'] }] }))).Vpcs,
    ).toEqual([]);
  });

  test('networks EC2 cannot make subnets of, and first-boot data too large: refused before any call that creates', async (t) => {
    const p = t.platform();
    const from = t.proxy.calls.length;
    const [spec] = webDmzNetworks('cidr', 1);
    const small = await failure(
      p.ensureNetwork({
        ...spec!,
        cidr: '10.30.1.0/29',
        range: { ...spec!.range!, networks: [{ name: spec!.name, cidr: '10.30.1.0/29', internet: true }] },
      }),
    );
    expect(small!.code).toBe('invalid_input');
    expect(small!.message).toBe(
      '[aws] Unable to create network "gd-cidr-i1-dmz": network 10.30.1.0/29 is /29; EC2 subnets are /16 to /28',
    );
    expect(t.proxy.calls.length).toBe(from);
    const ref = await p.ensureNetwork(spec!);
    const big = machineSpec('cidr', 1, 'web', [{ network: ref, ip: '10.30.1.20' }]);
    big.cloudInit = {
      ...big.cloudInit!,
      userData: `#cloud-config\nwrite_files:\n  - content: ${'x'.repeat(20_000)}\n`,
    };
    const after = t.proxy.calls.length;
    const err = await failure(p.createMachine(big));
    expect(err!.message).toMatch(
      /^\[aws\] Unable to create VM "gd-cidr-i1-web": its first-boot user data is 20\d\d\d bytes; EC2 takes at most 16384$/,
    );
    expect(mutating(t, after)).toEqual([]);
  });
});

describe('AWS assumed role', () => {
  test('signs its EC2 calls with the credentials of the role it assumed, asked for once', async (t) => {
    const from = t.proxy.calls.length;
    const p = t.platform({
      assumeRole: { roleArn: 'arn:aws:iam::123456789012:role/glassdome', externalId: 'class-2026' },
    });
    const report = await p.testConnection();
    expect(report.ok, report.details.join('\n')).toBe(true);
    expect(report.details[0]).toMatch(/assuming arn:aws:iam::123456789012:role\/glassdome/);
    const calls = t.proxy.calls.slice(from);
    const assume = calls.filter((c) => c.action === 'AssumeRole');
    expect(assume).toHaveLength(1);
    expect(assume[0]!.params.get('RoleArn')).toBe('arn:aws:iam::123456789012:role/glassdome');
    expect(assume[0]!.params.get('ExternalId')).toBe('class-2026');
    expect(assume[0]!.accessKeyId).toBe('AKIATESTTESTTEST0000');
    const ec2Keys = new Set(calls.filter((c) => c.action !== 'AssumeRole').map((c) => c.accessKeyId));
    expect(ec2Keys.size).toBe(1);
    expect([...ec2Keys][0]).not.toBe('AKIATESTTESTTEST0000');
  });
});

describe('AWS platform configuration', () => {
  it('keeps the secret out of the stored config and asks for it as the secret', () => {
    expect(
      awsConfigSchema.safeParse({ region, accessKeyId: 'AKIATESTTESTTEST0000', secretAccessKey: 'x' }).success,
    ).toBe(false);
    expect(awsConfigSchema.safeParse({ region, accessKeyId: 'AKIATESTTESTTEST0000' }).success).toBe(true);
    expect(
      awsConfigSchema.safeParse({ region: 'europe', accessKeyId: 'AKIATESTTESTTEST0000' }).error?.issues[0]?.message,
    ).toBe('an AWS region such as eu-west-1');
    expect(drivers.aws.available).toBe(true);
    expect(drivers.aws.secret?.label).toMatch(/Secret access key/);
    expect(() => createAwsPlatform({ region, accessKeyId: 'AKIATESTTESTTEST0000' }, {})).toThrow(
      /no secret access key/,
    );
  });
});
