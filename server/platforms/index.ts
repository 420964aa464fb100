// The driver registry: one exhaustive entry per platform kind, each a config schema and a factory.
// Heavy SDKs are imported lazily inside the factories, so starting the appliance loads only what it uses.
import path from 'node:path';
import type { z } from 'zod';
import type { Db } from '../db/client.ts';
import { AppError } from '../errors.ts';
import { platformKinds, type PlatformKind } from './kinds.ts';
import type { Platform } from './platform.ts';
import { esxiConfigSchema, type EsxiConfigInput } from './esxi/config.ts';
import { proxmoxConfigSchema } from './proxmox/config.ts';
import { createSimulatorPlatform, simulatorConfigSchema } from './simulator.ts';

export interface DriverDeps {
  db: Db;
  /** The platform record's id: scopes a driver's state (the simulator's inventory, caches). */
  platformId: string;
  /** The opened secret (password, token, key) of the platform record, if it has one. */
  secret?: string;
  /** A folder the driver may keep caches in (converted disk images); inside the appliance's data folder. */
  cacheDir?: string;
}

export interface Driver {
  title: string;
  /** False for targets whose driver has not landed yet; the UI lists them as coming. */
  available: boolean;
  configSchema: z.ZodType;
  create(config: unknown, deps: DriverDeps): Promise<Platform>;
}

function notYetAvailable(kind: PlatformKind, title: string): Driver {
  return {
    title,
    available: false,
    configSchema: simulatorConfigSchema,
    async create() {
      throw new AppError('invalid_input', `[${kind}] The ${title} driver is not part of this version of Glassdome`, { hint: 'Use another platform.' });
    },
  };
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
    async create(config, deps) {
      const { createProxmoxPlatform } = await import('./proxmox/driver.ts');
      return createProxmoxPlatform(proxmoxConfigSchema.parse(config), deps);
    },
  },
  esxi: {
    title: 'VMware ESXi',
    available: true,
    // The password is the platform's sealed secret, never part of its stored config.
    configSchema: esxiConfigSchema.omit({ password: true }),
    async create(config, deps) {
      if (!deps.secret) throw new AppError('invalid_input', '[esxi] The platform has no password; edit it and type one');
      const { createEsxiPlatform } = await import('./esxi/driver.ts');
      return createEsxiPlatform({ ...(config as Record<string, unknown>), password: deps.secret } as EsxiConfigInput, deps.cacheDir ? { cacheDir: path.join(deps.cacheDir, 'esxi-images') } : {});
    },
  },
  aws: notYetAvailable('aws', 'AWS EC2'),
  azure: notYetAvailable('azure', 'Azure'),
};

export function driverFor(kind: string): Driver {
  if (!(platformKinds as readonly string[]).includes(kind))
    throw new AppError('invalid_input', `Unknown platform kind "${kind}"; expected one of ${platformKinds.join(', ')}`);
  return drivers[kind as PlatformKind];
}
