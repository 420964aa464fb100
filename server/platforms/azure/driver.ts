// The Azure driver: an isolated range per instance in its own resource group (a VNet with a subnet and NSG per
// scenario network, NICs, VMs from marketplace images with first boot as customData), over ARM with the Azure SDK.
// Azure has no channel into a guest: readiness is read from the serial console (boot diagnostics); no snapshots.
import { addressTimeout, missingAddresses } from '../shared/expected-addresses.ts';
import type { TokenCredential } from '@azure/core-auth';
import { AppError } from '../../errors.ts';
import type { CallOptions, DriverDeps, MachineRef, Platform } from '../platform.ts';
import { connectArm } from './clients.ts';
import { azureConfigSchema, type AzureConfig } from './config.ts';
import { checkConnection } from './connection.ts';
import { createInventory, listOwned } from './inventory.ts';
import { createMachines } from './machines.ts';
import { createNetworks } from './networks.ts';
import { createReadiness } from './readiness.ts';
import { createRegion } from './region.ts';

export { azureConfigSchema };

export type AzureDeps = Pick<DriverDeps, 'secret'> & {
  /** A credential to use instead of the client secret (tests). */
  credential?: TokenCredential;
};

export async function createAzurePlatform(config: AzureConfig, deps: AzureDeps): Promise<Platform> {
  const arm = await connectArm(config, deps);
  const lifetime = new AbortController();
  const region = createRegion(arm, config);
  const networks = createNetworks(arm, config);
  const machines = createMachines(arm, config, region, lifetime.signal);
  const readiness = createReadiness(arm, config, machines);
  const inventory = createInventory(arm, config, region);
  const noSnapshots = (ref: MachineRef): never => {
    throw new AppError(
      'invalid_input',
      `[azure] Unable to snapshot VM "${ref.name}": the Azure driver does not take snapshots`,
      { hint: 'Redeploy the machine to return it to its first state.' },
    );
  };
  const s = (opts?: CallOptions) => opts?.signal;

  return {
    kind: 'azure',
    supports: { snapshots: false, guestExec: false },

    testConnection: (opts) => checkConnection(arm, config, region, s(opts)),
    ensureNetwork: (spec, opts) => networks.ensure(spec, s(opts)),
    deleteNetwork: (ref, opts) => networks.remove(ref, s(opts)),
    createMachine: (spec, opts) => machines.create(spec, s(opts)),
    startMachine: (ref, opts) =>
      machines.start(ref, {
        ...(opts?.signal ? { signal: opts.signal } : {}),
        ...(opts?.spec ? { spec: opts.spec } : {}),
      }),
    stopMachine: (ref, opts) => machines.stop(ref, opts?.force ?? false, s(opts)),
    getMachineState: (ref, opts) => machines.state(ref, s(opts)),
    async waitForAddress(ref, opts) {
      const started = Date.now();
      const addresses = await readiness.waitForAddress(ref, opts);
      // A NIC keeps the address it was created with: a planned one it lacks will not come later.
      if (missingAddresses(opts.expect, addresses).length === 0) return addresses;
      const fresh = await readiness
        .waitForAddress(ref, { ...opts, timeoutMs: Math.max(1, opts.timeoutMs - (Date.now() - started)) })
        .catch(() => addresses);
      if (missingAddresses(opts.expect, fresh).length === 0) return fresh;
      throw addressTimeout(
        'azure',
        ref.name,
        opts.timeoutMs,
        opts.expect,
        fresh,
        'The NICs are created with the planned addresses; look at the NIC in the Azure portal.',
      );
    },

    async firstBootDelivery() {
      return {
        method: 'Azure customData',
        complete: true,
        detail:
          "the whole cloud-config as each VM's customData (its size is checked per machine before the VM is created)",
      };
    },
    waitForReady: (ref, opts) => readiness.waitForReady(ref, opts),
    async destroyMachine(ref, opts) {
      readiness.forget(ref);
      await machines.destroy(ref, s(opts));
    },
    listOwned: (deploymentId, opts) => listOwned(arm, config, deploymentId, s(opts)),
    inventory: (opts) => inventory(opts),
    createSnapshot: async (ref) => noSnapshots(ref),
    listSnapshots: async (ref) => noSnapshots(ref),
    revertSnapshot: async (ref) => noSnapshots(ref),
    deleteSnapshot: async (ref) => noSnapshots(ref),
    async close() {
      lifetime.abort(new AppError('conflict', '[azure] the platform was closed'));
      arm.agent.destroy();
    },
  };
}
