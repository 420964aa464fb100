// The Azure driver's pure parts, by value: NSG rules from a scenario firewall, images and sizes for a machine,
// names and ids, and how Azure's errors become Glassdome's (code and hint).
import { describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors.ts';
import { armFailure, classify } from '../../server/platforms/azure/errors.ts';
import { nsgRules } from '../../server/platforms/azure/firewall.ts';
import { chooseImage, chooseSize, fallbackSizes } from '../../server/platforms/azure/images.ts';
import { ownerOf, parseResourceId, resourceIds } from '../../server/platforms/azure/names.ts';

const hints = { clientId: 'c1', subscriptionId: 's1', location: 'westeurope' };

describe('NSG rules from the firewall', () => {
  const dmz = { name: 'gd-d1-i1-dmz', cidr: '10.30.1.0/24' };
  const rules = [
    {
      from: ['10.30.66.0/24'],
      to: ['10.30.1.0/24'],
      protocol: 'tcp' as const,
      ports: [
        [80, 80],
        [443, 443],
      ] as Array<[number, number]>,
      action: 'allow' as const,
    },
    {
      from: ['10.30.1.20/32', '10.30.1.21/32'],
      to: ['10.30.2.10/32'],
      protocol: 'tcp' as const,
      ports: [[5432, 5432]] as Array<[number, number]>,
      action: 'allow' as const,
    },
    {
      from: ['10.30.1.0/24'],
      to: ['0.0.0.0/0'],
      protocol: 'udp' as const,
      ports: [[53, 53]] as Array<[number, number]>,
      action: 'allow' as const,
    },
  ];

  it('allows the network itself first, the scenario rules into it in order, then denies other networks and the internet', () => {
    const out = nsgRules({ ...dmz, internet: false, firewall: { default: 'deny', rules } });
    expect(out.map((r) => [r.name, r.direction, r.priority, r.access])).toEqual([
      ['gd-within-network', 'Inbound', 100, 'Allow'],
      ['gd-rule-1-in', 'Inbound', 200, 'Allow'],
      ['gd-rule-3-in', 'Inbound', 202, 'Allow'],
      ['gd-rule-3-out', 'Outbound', 202, 'Allow'],
      ['gd-deny-other-networks', 'Inbound', 4096, 'Deny'],
      ['gd-no-internet', 'Outbound', 4096, 'Deny'],
    ]);
    const web = out.find((r) => r.name === 'gd-rule-1-in')!;
    expect(web).toMatchObject({
      protocol: 'Tcp',
      sourceAddressPrefix: '10.30.66.0/24',
      destinationAddressPrefix: '10.30.1.0/24',
      destinationPortRanges: ['80', '443'],
    });
    expect(out.find((r) => r.name === 'gd-rule-3-out')).toMatchObject({
      protocol: 'Udp',
      sourceAddressPrefix: '10.30.1.0/24',
      destinationAddressPrefix: '*',
      destinationPortRange: '53',
    });
  });

  it('puts a rule on the network its destination lies in, with single addresses as plain IPs', () => {
    const out = nsgRules({
      name: 'gd-d1-i1-internal',
      cidr: '10.30.2.0/24',
      internet: false,
      firewall: { default: 'deny', rules },
    });
    const db = out.find((r) => r.name === 'gd-rule-2-in')!;
    expect(db).toMatchObject({
      sourceAddressPrefixes: ['10.30.1.20', '10.30.1.21'],
      destinationAddressPrefix: '10.30.2.10',
      destinationPortRange: '5432',
    });
    expect(out.some((r) => r.name.startsWith('gd-rule-1'))).toBe(false);
  });

  it("opens nothing to the internet unless a rule comes from anywhere, and then only to the rule's ports", () => {
    const open = nsgRules({
      ...dmz,
      internet: true,
      firewall: {
        default: 'deny',
        rules: [{ from: ['0.0.0.0/0'], to: ['10.30.1.20/32'], protocol: 'tcp', ports: [[443, 443]], action: 'allow' }],
      },
    });
    expect(open.filter((r) => r.sourceAddressPrefix === '*' && r.direction === 'Inbound')).toEqual([
      expect.objectContaining({ destinationAddressPrefix: '10.30.1.20', destinationPortRange: '443', access: 'Allow' }),
    ]);
    expect(open.some((r) => r.name === 'gd-no-internet')).toBe(false);
  });

  it('without a firewall denies other networks; with default allow adds no deny', () => {
    expect(nsgRules({ ...dmz, internet: true }).map((r) => r.name)).toEqual([
      'gd-within-network',
      'gd-deny-other-networks',
    ]);
    expect(nsgRules({ ...dmz, internet: true, firewall: { default: 'allow', rules: [] } }).map((r) => r.name)).toEqual([
      'gd-within-network',
    ]);
  });

  it('keeps deny rules and ICMP as the scenario says', () => {
    const out = nsgRules({
      ...dmz,
      firewall: {
        default: 'allow',
        rules: [{ from: ['10.30.66.0/24'], to: ['10.30.1.0/24'], protocol: 'icmp', ports: [], action: 'deny' }],
      },
    });
    expect(out.find((r) => r.name === 'gd-rule-1-in')).toMatchObject({
      protocol: 'Icmp',
      access: 'Deny',
      destinationPortRange: '*',
    });
  });

  it('refuses more rules than priorities allow, naming the network', () => {
    const many = Array.from({ length: 3900 }, () => rules[0]!);
    expect(() => nsgRules({ ...dmz, firewall: { default: 'deny', rules: many } })).toThrow(/gd-d1-i1-dmz.*3900 rules/);
  });
});

describe('images and sizes', () => {
  it('maps catalog OS keys to marketplace images, overridable per platform and machine', () => {
    expect(chooseImage('m', 'ubuntu-22.04', undefined, {})).toMatchObject({
      urn: 'Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest',
      os: 'Linux',
      minDiskGb: 30,
    });
    expect(chooseImage('m', 'windows-server-2022', undefined, {})).toMatchObject({
      reference: {
        publisher: 'MicrosoftWindowsServer',
        offer: 'WindowsServer',
        sku: '2022-datacenter-azure-edition',
        version: 'latest',
      },
      os: 'Windows',
      minDiskGb: 127,
    });
    expect(
      chooseImage('m', 'ubuntu-22.04', undefined, { 'ubuntu-22.04': 'Canonical:ubuntu-24_04-lts:server' }).urn,
    ).toBe('Canonical:ubuntu-24_04-lts:server:latest');
    expect(chooseImage('m', 'ubuntu-22.04', 'Canonical:x:y:1.2.3', { 'ubuntu-22.04': 'a:b:c' }).urn).toBe(
      'Canonical:x:y:1.2.3',
    );
    const gallery =
      '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/lab/images/pg/versions/1.0.0';
    expect(chooseImage('m', 'debian-12', gallery, {}).reference).toEqual({ id: gallery });
  });

  it('says which machine has an unknown OS or a malformed image', () => {
    expect(() => chooseImage('gd-x-i1-a', 'plan9', undefined, {})).toThrow(
      /VM "gd-x-i1-a": no Azure image is known for OS "plan9"/,
    );
    expect(() => chooseImage('gd-x-i1-a', 'debian-12', 'debian', {})).toThrow(/"debian" is not an Azure image/);
  });

  it('picks the smallest burstable size that fits CPUs, memory and NICs', () => {
    expect(chooseSize({ cpus: 1, memoryMb: 2048, nics: 1 }, fallbackSizes)).toBe('Standard_B1ms');
    expect(chooseSize({ cpus: 2, memoryMb: 4096, nics: 3 }, fallbackSizes)).toBe('Standard_B2s');
    expect(chooseSize({ cpus: 4, memoryMb: 8192, nics: 1 }, fallbackSizes)).toBe('Standard_B4ms');
    expect(chooseSize({ cpus: 2, memoryMb: 2048, nics: 6 }, fallbackSizes)).toBe('Standard_D16s_v5');
    expect(chooseSize({ cpus: 64, memoryMb: 2048, nics: 1 }, fallbackSizes)).toBeUndefined();
  });
});

describe('names', () => {
  it('finds the instance resource group in any Glassdome name', () => {
    expect(ownerOf('gd-ab2c-i12-web-1')).toEqual({ deploymentId: 'ab2c', instance: 12, group: 'gd-ab2c-i12' });
    expect(ownerOf('gd-ab2c-i3')).toEqual({ deploymentId: 'ab2c', instance: 3, group: 'gd-ab2c-i3' });
    expect(ownerOf('web-1')).toBeUndefined();
  });

  it('parses the resource ids it builds', () => {
    const ids = resourceIds('s1');
    expect(parseResourceId(ids.subnet('gd-a-i1', 'gd-a-i1-lan'))).toEqual({
      group: 'gd-a-i1',
      type: 'Microsoft.Network/virtualNetworks/subnets',
      name: 'gd-a-i1-lan',
    });
    expect(parseResourceId(ids.vm('gd-a-i1', 'gd-a-i1-web'))).toEqual({
      group: 'gd-a-i1',
      type: 'Microsoft.Compute/virtualMachines',
      name: 'gd-a-i1-web',
    });
    expect(parseResourceId(ids.group('gd-a-i1'))?.group).toBe('gd-a-i1');
  });
});

describe('Azure errors', () => {
  it("reads a failed long-running operation's code and message", () => {
    expect(
      armFailure(
        new Error(
          'The long-running operation has failed. AllocationFailed. Allocation failed. We do not have sufficient capacity.',
        ),
      ),
    ).toEqual({ code: 'AllocationFailed', message: 'Allocation failed. We do not have sufficient capacity.' });
  });

  it('retries throttling and transient failures, and says what to do about the rest', () => {
    expect(classify({ status: 429, message: 'x' }, hints).code).toBe('rate_limited');
    expect(classify({ status: 409, code: 'AnotherOperationInProgress', message: 'x' }, hints).code).toBe('transient');
    expect(classify({ status: 503, message: 'x' }, hints).code).toBe('transient');
    expect(classify({ status: 403, code: 'AuthorizationFailed', message: 'x' }, hints).hint).toMatch(
      /Contributor role on subscription s1/,
    );
    expect(
      classify(
        {
          status: 409,
          code: 'MissingSubscriptionRegistration',
          message: "The subscription is not registered to use namespace 'Microsoft.Network'.",
        },
        hints,
      ).hint,
    ).toMatch(/az provider register --namespace Microsoft.Network/);
    expect(classify({ status: 409, code: 'SkuNotAvailable', message: 'x' }, hints)).toMatchObject({
      code: 'invalid_input',
      hint: expect.stringMatching(/platform\.azure\.vmSize/),
    });
    expect(
      classify(
        {
          status: 409,
          code: 'OperationNotAllowed',
          message: 'Operation could not be completed as it results in exceeding approved standardBSFamily Cores quota.',
        },
        hints,
      ).hint,
    ).toMatch(/quota/);
    expect(classify({ code: 'AADSTS7000215', message: 'Invalid client secret provided.' }, hints).hint).toMatch(
      /client secret/,
    );
    expect(classify({ status: 404, code: 'ResourceNotFound', message: 'x' }, hints).code).toBe('not_found');
    expect(new AppError('rate_limited', 'x').retryable).toBe(true);
  });
});
