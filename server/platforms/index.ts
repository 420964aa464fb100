// The driver registry: one exhaustive entry per platform kind, each a config schema and a factory with the same
// signature, create(config, deps). Heavy SDKs are imported lazily inside the factories, so starting the appliance
// loads only the drivers it uses.
import type { z } from 'zod';
import { AppError } from '../errors.ts';
import { platformKinds, type PlatformKind } from '../model/platform-kind.ts';
import type { DriverDeps, Platform } from './platform.ts';
import { awsConfigSchema } from './aws/config.ts';
import { azureConfigSchema } from './azure/config.ts';
import { esxiConfigSchema } from './esxi/config.ts';
import { proxmoxConfigSchema } from './proxmox/config.ts';
import { createSimulatorPlatform, simulatorConfigSchema } from './simulator.ts';

export type { DriverDeps };

export interface Driver {
  title: string;
  /** False for targets whose driver has not landed yet; the UI lists them as coming. */
  available: boolean;
  /** The stored config (never the secret, which the platform record keeps sealed). */
  configSchema: z.ZodType;
  /** What the platform's secret is, for forms and the CLI; absent when the driver takes none. */
  secret?: { label: string };
  create(config: unknown, deps: DriverDeps): Promise<Platform>;
}

export const drivers: Record<PlatformKind, Driver> = {
  simulator: {
    title: 'Simulator (built in)',
    available: true,
    configSchema: simulatorConfigSchema,
    async create(config, deps) {
      return createSimulatorPlatform(simulatorConfigSchema.parse(config), deps);
    },
  },
  proxmox: {
    title: 'Proxmox VE',
    available: true,
    configSchema: proxmoxConfigSchema,
    secret: { label: 'API token secret (or password)' },
    async create(config, deps) {
      const { createProxmoxPlatform } = await import('./proxmox/driver.ts');
      return createProxmoxPlatform(proxmoxConfigSchema.parse(config), deps);
    },
  },
  esxi: {
    title: 'VMware ESXi',
    available: true,
    configSchema: esxiConfigSchema,
    secret: { label: 'Password' },
    async create(config, deps) {
      const { createEsxiPlatform } = await import('./esxi/driver.ts');
      return createEsxiPlatform(esxiConfigSchema.parse(config), deps);
    },
  },
  aws: {
    title: 'AWS EC2',
    available: true,
    configSchema: awsConfigSchema,
    secret: { label: 'Secret access key (for temporary credentials: the key, a space, then the session token)' },
    async create(config, deps) {
      const { createAwsPlatform } = await import('./aws/driver.ts');
      return createAwsPlatform(awsConfigSchema.parse(config), deps);
    },
  },
  azure: {
    title: 'Microsoft Azure',
    available: true,
    configSchema: azureConfigSchema,
    secret: { label: 'Client secret' },
    async create(config, deps) {
      const { createAzurePlatform } = await import('./azure/driver.ts');
      return createAzurePlatform(azureConfigSchema.parse(config), deps);
    },
  },
};

export function driverFor(kind: string): Driver {
  if (!(platformKinds as readonly string[]).includes(kind))
    throw new AppError('invalid_input', `Unknown platform kind "${kind}"; expected one of ${platformKinds.join(', ')}`);
  return drivers[kind as PlatformKind];
}
