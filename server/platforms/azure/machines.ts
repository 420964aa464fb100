// Machines on Azure. A VM boots as soon as ARM creates it, so "creating" a machine prepares everything but the VM
// (its NICs on their subnets with their fixed addresses, public IPs where asked, the image, size and plan checked
// against the region) and the VM itself is created at its first start; its creation then runs on in the background
// (capacity failures retried), and waitForAddress waits for it. Stopping deallocates (nothing is billed for
// compute); destroying deletes the VM with its NICs and OS disk (deleteOption) and then whatever is left tagged.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type { VirtualMachine, VirtualMachineInstanceView } from '@azure/arm-compute';
import { AppError } from '../../errors.ts';
import type { MachineRef, MachineSpec, PowerState } from '../platform.ts';
import { backoffDelay } from '../shared/retry.ts';
import { sleep } from '../shared/wait.ts';
import type { Arm } from './clients.ts';
import type { AzureConfig } from './config.ts';
import { armFailure, azureError, capacityCodes } from './errors.ts';
import { chooseImage } from './images.ts';
import {
  nicName,
  osDiskName,
  ownerOf,
  ownerTags,
  parseResourceId,
  publicIpName,
  resourceIds,
  tags,
  type Owner,
} from './names.ts';
import { uplinkId } from './networks.ts';
import type { Region } from './region.ts';

const generateKeyPair = promisify(crypto.generateKeyPair);

/** An OpenSSH `ssh-rsa` public key whose private half is thrown away: Azure wants a key for its admin account. */
async function throwawaySshKey(): Promise<string> {
  const { publicKey } = await generateKeyPair('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const mpint = (b64: string) => {
    const b = Buffer.from(b64, 'base64url');
    return b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
  };
  const str = (b: Buffer) =>
    Buffer.concat([Buffer.from([0, 0, 0, 0].map((_, i) => (b.length >>> (24 - 8 * i)) & 255)), b]);
  return `ssh-rsa ${Buffer.concat([str(Buffer.from('ssh-rsa')), str(mpint(jwk.e!)), str(mpint(jwk.n!))]).toString('base64')} glassdome-unused`;
}

/** A random admin password that satisfies Azure's rules (Windows needs one); it is never stored or shown. */
function throwawayPassword(): string {
  return `Gd-${crypto.randomBytes(18).toString('base64url')}-9a`;
}

export type AzurePower = 'starting' | 'running' | 'stopping' | 'stopped' | 'deallocating' | 'deallocated' | undefined;

export function powerOf(view: VirtualMachineInstanceView | undefined): AzurePower {
  const s = view?.statuses?.find((x) => x.code?.startsWith('PowerState/'))?.code?.slice('PowerState/'.length);
  return s as AzurePower;
}

/** The provisioning failure an instance view reports: `Code: message`. */
export function provisioningFailure(
  view: VirtualMachineInstanceView | undefined,
): { code: string; message: string } | undefined {
  const s = view?.statuses?.find((x) => x.code?.startsWith('ProvisioningState/failed'));
  if (!s) return undefined;
  return {
    code: s.code!.split('/')[2] ?? 'ProvisioningFailed',
    message: s.message ?? s.displayStatus ?? 'provisioning failed',
  };
}

export function toPowerState(vm: VirtualMachine | undefined): PowerState {
  if (!vm) return 'missing';
  return powerOf(vm.instanceView) === 'running' ? 'running' : 'stopped';
}

interface Background {
  promise: Promise<void>;
  controller: AbortController;
  error?: unknown;
  /** Its watch was given up (a cancelled run, a closed driver): its outcome says nothing about the VM. */
  abandoned: () => boolean;
}

export function createMachines(arm: Arm, config: AzureConfig, region: Region, lifetime: AbortSignal) {
  const ids = resourceIds(config.subscriptionId);
  const pending = new Map<string, VirtualMachine>();
  const background = new Map<string, Background>();
  const addresses = new Map<string, string[]>();
  let sshKey: Promise<string> | undefined;
  const key = (name: string) => name.toLowerCase();
  const vmWhat = (action: string, name: string) => ({ action, resource: 'VM', name });

  function ownerFor(name: string, action: string): Owner {
    const owner = ownerOf(name);
    if (!owner)
      throw new AppError(
        'invalid_input',
        `[azure] Unable to ${action} VM "${name}": its name must be gd-<deployment>-i<instance>-<name>`,
      );
    return owner;
  }

  /** The VM definition for a spec: image, size and plan checked against the region; nothing is created. */
  async function definition(spec: MachineSpec, owner: Owner, signal?: AbortSignal): Promise<VirtualMachine> {
    const options = spec.options ?? {};
    const override = typeof options.image === 'string' ? options.image : spec.template;
    const image = chooseImage(spec.name, spec.os, override, config.images);
    const vmSize = typeof options.vmSize === 'string' ? options.vmSize : config.vmSize;
    const [verified, size] = await Promise.all([
      region.verifyImage(spec.name, image, signal),
      region.sizeFor(
        spec.name,
        { cpus: spec.cpus, memoryMb: spec.memoryMb, nics: spec.nics.length, ...(vmSize ? { vmSize } : {}) },
        signal,
      ),
    ]);
    const userData = spec.cloudInit?.userData;
    const customData = userData ? Buffer.from(userData, 'utf8').toString('base64') : undefined;
    if (customData && customData.length > 87_380)
      throw new AppError(
        'invalid_input',
        `[azure] Unable to create VM "${spec.name}": its first-boot data is ${Math.round(customData.length / 1024)} KB once encoded, over Azure's 85 KB for customData`,
        {
          hint: "Make the machine's files smaller, or fetch large files at first boot instead.",
        },
      );
    const windows = image.os === 'Windows';
    if (windows && spec.hostname.length > 15)
      throw new AppError(
        'invalid_input',
        `[azure] Unable to create VM "${spec.name}": Windows computer names have at most 15 characters, "${spec.hostname}" has ${spec.hostname.length}`,
        { hint: 'Give the machine a shorter name.' },
      );
    sshKey ??= throwawaySshKey();
    const admin = config.adminUsername;
    return {
      location: config.location,
      tags: { ...ownerTags(owner), [tags.machine]: spec.name },
      ...(verified.plan ? { plan: verified.plan } : {}),
      hardwareProfile: { vmSize: size },
      storageProfile: {
        imageReference: verified.image.reference,
        osDisk: {
          name: osDiskName(spec.name),
          createOption: 'FromImage',
          deleteOption: 'Delete',
          caching: 'ReadWrite',
          diskSizeGB: Math.max(spec.diskGb, image.minDiskGb),
          managedDisk: { storageAccountType: config.diskType },
        },
      },
      osProfile: {
        computerName: spec.hostname,
        adminUsername: admin,
        ...(customData ? { customData } : {}),
        ...(windows
          ? {
              adminPassword: throwawayPassword(),
              windowsConfiguration: { provisionVMAgent: true, enableAutomaticUpdates: false },
            }
          : {
              linuxConfiguration: {
                disablePasswordAuthentication: true,
                ssh: { publicKeys: [{ path: `/home/${admin}/.ssh/authorized_keys`, keyData: await sshKey }] },
              },
            }),
      },
      networkProfile: {
        networkInterfaces: spec.nics.map((_, j) => ({
          id: ids.nic(owner.group, spec.name, j),
          primary: j === 0,
          deleteOption: 'Delete' as const,
        })),
      },
      diagnosticsProfile: { bootDiagnostics: { enabled: true } },
    };
  }

  async function getVm(rg: string, name: string, signal?: AbortSignal): Promise<VirtualMachine | undefined> {
    return arm.find(
      vmWhat('read', name),
      (o) => arm.compute.virtualMachines.get(rg, name, { expand: 'instanceView', ...o }),
      signal,
    );
  }

  /** Sends the VM's PUT; its provisioning then runs on in the background, its capacity failures retried. */
  async function submitCreate(rg: string, name: string, body: VirtualMachine, signal?: AbortSignal): Promise<void> {
    background.get(key(name))?.controller.abort();
    const controller = new AbortController();
    const watch = AbortSignal.any([
      controller.signal,
      lifetime,
      AbortSignal.timeout(config.timeouts.operationMs),
      ...(signal ? [signal] : []),
    ]);
    const put = () =>
      arm.compute.virtualMachines.createOrUpdate(rg, name, body, {
        abortSignal: watch,
        updateIntervalInMs: config.vmPollIntervalMs,
      });
    let poller = put();
    try {
      await poller.submitted();
    } catch (e) {
      throw azureError(e, vmWhat('create', name), arm.hints, signal);
    }
    const entry: Background = { controller, promise: Promise.resolve(), abandoned: () => watch.aborted };
    entry.promise = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await poller.pollUntilDone({ abortSignal: watch });
          return;
        } catch (e) {
          const f = armFailure(e);
          if (!watch.aborted && f.code && capacityCodes.has(f.code) && attempt <= config.capacityRetries) {
            await sleep(backoffDelay(attempt, { baseMs: 5 * config.pollIntervalMs, maxMs: 60_000 }), watch);
            poller = put();
            continue;
          }
          throw azureError(e, vmWhat('create', name), arm.hints, watch.aborted ? watch : undefined);
        }
      }
    })();
    settleBackground(name, entry, watch);
  }

  /**
   * Keeps a background operation's failure for whoever waits for the machine next; forgets it when it succeeded or
   * was only abandoned (a cancelled run, a closed driver), so a later wait asks Azure instead of repeating an abort.
   */
  function settleBackground(name: string, entry: Background, watch: AbortSignal): void {
    const forget = () => background.get(key(name)) === entry && background.delete(key(name));
    entry.promise.then(forget, (e: unknown) => (watch.aborted ? forget() : (entry.error = e)));
    background.set(key(name), entry);
  }

  async function submitStart(rg: string, name: string, signal?: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const watch = AbortSignal.any([controller.signal, lifetime, ...(signal ? [signal] : [])]);
    const entry: Background = {
      controller,
      abandoned: () => watch.aborted,
      promise: arm.lro(
        vmWhat('start', name),
        (o) =>
          arm.compute.virtualMachines.start(rg, name, { ...o, abortSignal: AbortSignal.any([o.abortSignal, watch]) }),
        watch,
      ),
    };
    settleBackground(name, entry, watch);
  }

  /** The private addresses of a VM's NICs, read once (they are fixed for the NIC's life). */
  async function nicAddresses(rg: string, vm: VirtualMachine, signal?: AbortSignal): Promise<string[]> {
    const known = addresses.get(key(vm.name ?? ''));
    if (known) return known;
    const nics = vm.networkProfile?.networkInterfaces ?? [];
    const found = await Promise.all(
      nics.map(async (n) => {
        const nic = parseResourceId(n.id ?? '');
        if (!nic) return [];
        const got = await arm.find(
          { action: 'read', resource: 'network interface', name: nic.name },
          (o) => arm.network.networkInterfaces.get(nic.group, nic.name, o),
          signal,
        );
        return (got?.ipConfigurations ?? []).flatMap((c) => (c.privateIPAddress ? [c.privateIPAddress] : []));
      }),
    );
    const list = found.flat();
    if (list.length > 0 && vm.name) addresses.set(key(vm.name), list);
    return list;
  }

  return {
    getVm,
    nicAddresses,
    /** The background creation or start of a VM this process submitted, if one is still running or failed. */
    background: (name: string) => background.get(key(name)),
    /** The NIC addresses known without asking (from the NICs' creation in this process). */
    knownAddresses: (name: string) => addresses.get(key(name)),

    async create(spec: MachineSpec, signal?: AbortSignal): Promise<MachineRef> {
      const owner = ownerFor(spec.name, 'create');
      if (owner.deploymentId !== spec.deploymentId)
        throw new AppError(
          'invalid_input',
          `[azure] Unable to create VM "${spec.name}": it is not named after deployment ${spec.deploymentId}`,
        );
      if (spec.nics.length === 0)
        throw new AppError('invalid_input', `[azure] Unable to create VM "${spec.name}": it has no network interface`);
      const vnet = ids.vnet(owner.group).toLowerCase();
      for (const nic of spec.nics)
        if (nic.network.id === uplinkId || !nic.network.id.toLowerCase().startsWith(`${vnet}/subnets/`))
          throw new AppError(
            'invalid_input',
            `[azure] Unable to create VM "${spec.name}": its NIC on "${nic.network.name}" is not on a subnet of its instance's VNet ${owner.group}`,
            {
              hint: 'On Azure a machine reaches the internet through a network marked internet: true, not through the uplink.',
            },
          );
      // Checked before anything is created for the machine: image, size, first-boot data.
      const body = await definition(spec, owner, signal);
      await Promise.all(
        spec.nics.map(async (nic, j): Promise<string | undefined> => {
          let publicIp: { id: string } | undefined;
          if (nic.publicIp) {
            const name = publicIpName(spec.name, j);
            const pip = await arm.lro(
              { action: 'create', resource: 'public IP address', name },
              (o) =>
                arm.network.publicIPAddresses.beginCreateOrUpdate(
                  owner.group,
                  name,
                  {
                    location: config.location,
                    tags: body.tags!,
                    sku: { name: 'Standard', tier: 'Regional' },
                    publicIPAllocationMethod: 'Static',
                    publicIPAddressVersion: 'IPv4',
                  },
                  o,
                ),
              signal,
            );
            publicIp = { id: pip.id! };
          }
          const name = nicName(spec.name, j);
          const made = await arm.lro(
            { action: 'create', resource: 'network interface', name },
            (o) =>
              arm.network.networkInterfaces.beginCreateOrUpdate(
                owner.group,
                name,
                {
                  location: config.location,
                  tags: body.tags!,
                  ipConfigurations: [
                    {
                      name: 'ipconfig1',
                      subnet: { id: nic.network.id },
                      primary: true,
                      ...(nic.ip
                        ? { privateIPAllocationMethod: 'Static', privateIPAddress: nic.ip }
                        : { privateIPAllocationMethod: 'Dynamic' }),
                      ...(publicIp ? { publicIPAddress: publicIp } : {}),
                    },
                  ],
                },
                o,
              ),
            signal,
          );
          return made.ipConfigurations?.[0]?.privateIPAddress;
        }),
      ).then((list) => {
        // Known from here on: a NIC keeps its address for its life.
        if (list.every((a) => a !== undefined)) addresses.set(key(spec.name), list as string[]);
      });
      pending.set(key(spec.name), body);
      return { id: ids.vm(owner.group, spec.name), name: spec.name };
    },

    async start(ref: MachineRef, opts: { signal?: AbortSignal; spec?: MachineSpec }): Promise<void> {
      const { signal } = opts;
      const owner = ownerFor(ref.name, 'start');
      const rg = owner.group;
      const vm = await getVm(rg, ref.name, signal);
      const body = async () => {
        const known = pending.get(key(ref.name));
        if (known) return known;
        if (opts.spec) return definition(opts.spec, owner, signal);
        const nic = await arm.find(
          { action: 'start', resource: 'VM', name: ref.name },
          (o) => arm.network.networkInterfaces.get(rg, nicName(ref.name, 0), o),
          signal,
        );
        if (!nic) throw new AppError('not_found', `[azure] Unable to start VM "${ref.name}": it does not exist`);
        throw new AppError(
          'platform_error',
          `[azure] Unable to start VM "${ref.name}": its NICs were prepared by a Glassdome process that ended before creating the VM, and this one was not given its definition`,
          {
            hint: "Retry the deployment; the executor passes the machine's definition to startMachine.",
          },
        );
      };
      if (!vm) return submitCreate(rg, ref.name, await body(), signal);
      const failure = provisioningFailure(vm.instanceView);
      if (vm.provisioningState === 'Failed') {
        if (failure && !pending.has(key(ref.name)) && !opts.spec)
          throw new AppError(
            'platform_error',
            `[azure] Unable to start VM "${ref.name}": its creation failed: ${failure.code}: ${failure.message}`,
          );
        return submitCreate(rg, ref.name, await body(), signal);
      }
      if (vm.provisioningState === 'Creating' || vm.provisioningState === 'Updating') return;
      const power = powerOf(vm.instanceView);
      if (power === 'running' || power === 'starting') return;
      const running = background.get(key(ref.name));
      if (running && running.error === undefined) await running.promise.catch(() => undefined);
      return submitStart(rg, ref.name, signal);
    },

    async stop(ref: MachineRef, force: boolean, signal?: AbortSignal): Promise<void> {
      const rg = ownerFor(ref.name, 'stop').group;
      const running = background.get(key(ref.name));
      if (running && running.error === undefined) await running.promise.catch(() => undefined);
      const vm = await getVm(rg, ref.name, signal);
      if (!vm || vm.provisioningState === 'Failed') return;
      const power = powerOf(vm.instanceView);
      if (power === 'deallocated') return;
      if (power !== 'stopped')
        await arm.lro(
          vmWhat('power off', ref.name),
          (o) => arm.compute.virtualMachines.powerOff(rg, ref.name, { ...o, skipShutdown: force }),
          signal,
        );
      // Deallocated, a stopped VM costs nothing for compute; its NICs keep their fixed addresses.
      await arm.lro(
        vmWhat('deallocate', ref.name),
        (o) => arm.compute.virtualMachines.deallocate(rg, ref.name, o),
        signal,
      );
    },

    async state(ref: MachineRef, signal?: AbortSignal): Promise<{ power: PowerState; addresses: string[] }> {
      const owner = ownerOf(ref.name);
      const rg = parseResourceId(ref.id)?.group ?? owner?.group;
      if (!rg) return { power: 'missing', addresses: [] };
      const vm = await getVm(rg, ref.name, signal);
      if (!vm) {
        // Created but never started: its NICs exist and the VM does not yet.
        const nic = await arm.find(
          { action: 'read', resource: 'VM', name: ref.name },
          (o) => arm.network.networkInterfaces.get(rg, nicName(ref.name, 0), o),
          signal,
        );
        return { power: nic?.tags?.[tags.machine] === ref.name ? 'stopped' : 'missing', addresses: [] };
      }
      const power = toPowerState(vm);
      return { power, addresses: power === 'running' ? await nicAddresses(rg, vm, signal) : [] };
    },

    async destroy(ref: MachineRef, signal?: AbortSignal): Promise<void> {
      const owner = ownerOf(ref.name);
      const rg = parseResourceId(ref.id)?.group ?? owner?.group;
      if (!rg) return;
      background.get(key(ref.name))?.controller.abort();
      background.delete(key(ref.name));
      pending.delete(key(ref.name));
      addresses.delete(key(ref.name));
      const group = await arm.find(
        { action: 'destroy', resource: 'VM', name: ref.name },
        (o) => arm.resources.resourceGroups.get(rg, o),
        signal,
      );
      if (!group) return;
      try {
        await arm.lro(vmWhat('delete', ref.name), (o) => arm.compute.virtualMachines.delete(rg, ref.name, o), signal);
      } catch (e) {
        if (!(e instanceof AppError && e.code === 'not_found')) throw e;
      }
      // Whatever the VM's deletion did not take (NICs of a VM never started, public IPs), by its tag.
      const leftovers = async () => {
        const out: Array<{ id: string; type: string; name: string }> = [];
        const list = arm.resources.resources.listByResourceGroup(rg, {
          filter: `tagName eq '${tags.machine}' and tagValue eq '${ref.name}'`,
          ...(signal ? { abortSignal: signal } : {}),
        });
        try {
          for await (const r of list) if (r.id && r.type && r.name) out.push({ id: r.id, type: r.type, name: r.name });
        } catch (e) {
          if ((e as { statusCode?: number }).statusCode === 404) return [];
          throw azureError(e, vmWhat('destroy', ref.name), arm.hints, signal);
        }
        return out;
      };
      const order = [
        'microsoft.network/networkinterfaces',
        'microsoft.network/publicipaddresses',
        'microsoft.compute/disks',
      ];
      let left = await leftovers();
      if (left.length === 0) return;
      for (const type of order)
        await Promise.all(
          left
            .filter((r) => r.type.toLowerCase() === type)
            .map((r) =>
              arm.lro(
                { action: 'delete', resource: type.split('/')[1]!.replace(/s$/, ''), name: r.name },
                (o) =>
                  type === 'microsoft.network/networkinterfaces'
                    ? arm.network.networkInterfaces.beginDelete(rg, r.name, o)
                    : type === 'microsoft.network/publicipaddresses'
                      ? arm.network.publicIPAddresses.beginDelete(rg, r.name, o)
                      : arm.compute.disks.delete(rg, r.name, o),
                signal,
              ),
            ),
        );
      left = await leftovers();
      if (left.length > 0)
        throw new AppError(
          'platform_error',
          `[azure] Unable to destroy VM "${ref.name}": still present: ${left.map((r) => `${r.type} ${r.name}`).join(', ')}`,
          { hint: `Delete them in resource group ${rg}, or destroy the deployment again.` },
        );
    },
  };
}

export type Machines = ReturnType<typeof createMachines>;
