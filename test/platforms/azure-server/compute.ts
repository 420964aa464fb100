// Microsoft.Compute: virtual machines (created from marketplace images onto existing NICs, with sizes, quotas,
// plans and OS profiles checked as the compute provider does), their power actions, instance view (with the VM
// Agent's status), the subscription's VM list (models, or with statusOnly their run-time statuses), boot
// diagnostics and deletion with deleteOption; managed disks; and the region catalogue: SKUs, usages, images.
import crypto from 'node:crypto';
import { ArmError, armErrors, type ArmErrorBody } from './arm-error.ts';
import { runningOn, startAction, startDelete, startPut } from './lro.ts';
import { page, view, type Ctx, type ImageSpec, type Route, type Sim, type SkuSpec } from './routes.ts';
import { resourceId, type ArmResource } from './store.ts';

const T = {
  vm: 'Microsoft.Compute/virtualMachines',
  disk: 'Microsoft.Compute/disks',
  nic: 'Microsoft.Network/networkInterfaces',
};
const reservedAdmins = [
  'administrator',
  'admin',
  'user',
  'user1',
  'test',
  'user2',
  'test1',
  'user3',
  'admin1',
  '1',
  '123',
  'a',
  'actuser',
  'adm',
  'admin2',
  'aspnet',
  'backup',
  'console',
  'david',
  'guest',
  'john',
  'owner',
  'root',
  'server',
  'sql',
  'support',
  'support_388945a0',
  'sys',
  'test2',
  'test3',
  'user4',
  'user5',
];

function group(ctx: Ctx) {
  const g = ctx.sim.store.group(ctx.params.resourceGroupName!);
  if (!g) throw armErrors.resourceGroupNotFound(ctx.params.resourceGroupName!);
  if (g.state === 'Deleting' && ctx.method !== 'GET')
    throw armErrors.conflict(
      'ResourceGroupBeingDeleted',
      `The resource group '${g.name}' is in deprovisioning state and cannot perform this operation.`,
    );
  return g;
}

function vmId(ctx: Ctx): string {
  return resourceId(ctx.sim.store.subscriptionId, ctx.params.resourceGroupName!, T.vm, ctx.params.name!);
}

function existingVm(ctx: Ctx): ArmResource {
  group(ctx);
  const r = ctx.sim.store.get(vmId(ctx));
  if (!r) throw armErrors.resourceNotFound(T.vm, ctx.params.name!, ctx.params.resourceGroupName!);
  return r;
}

function skuIn(sim: Sim, size: string): SkuSpec | undefined {
  return sim.skus.find((s) => s.name.toLowerCase() === size.toLowerCase());
}

function imageFor(sim: Sim, ref: any, location: string): { image: ImageSpec; version: string } | ArmError {
  const urn = `${ref?.publisher}:${ref?.offer}:${ref?.sku}:${ref?.version ?? 'latest'}`;
  const notFound = new ArmError(
    404,
    'PlatformImageNotFound',
    `The platform image '${urn}' is not available. Verify that all fields in the storage profile are correct. For more details about storage profile information, please refer to https://aka.ms/storageprofile`,
    { target: 'imageReference' },
  );
  const image = sim.images.find(
    (i) =>
      i.publisher.toLowerCase() === String(ref?.publisher).toLowerCase() &&
      i.offer.toLowerCase() === String(ref?.offer).toLowerCase() &&
      i.sku.toLowerCase() === String(ref?.sku).toLowerCase(),
  );
  if (!image || (image.locations && !image.locations.includes(location))) return notFound;
  const version =
    ref.version === undefined || ref.version === 'latest'
      ? image.versions[image.versions.length - 1]!
      : String(ref.version);
  if (!image.versions.includes(version)) return notFound;
  return { image, version };
}

function usage(sim: Sim, location: string): { cores: number; families: Record<string, number> } {
  const out = { cores: 0, families: {} as Record<string, number> };
  for (const r of sim.store.resources.values()) {
    if (
      r.type !== T.vm ||
      r.location !== location ||
      r.sim.power === 'deallocated' ||
      r.properties.provisioningState === 'Failed'
    )
      continue;
    const sku = skuIn(sim, r.properties.hardwareProfile.vmSize)!;
    out.cores += sku.vcpus;
    out.families[sku.family] = (out.families[sku.family] ?? 0) + sku.vcpus;
  }
  return out;
}

function quotaError(family: string, location: string, limit: number, current: number, more: number): ArmError {
  return armErrors.conflict(
    'OperationNotAllowed',
    `Operation could not be completed as it results in exceeding approved ${family} Cores quota. Additional details - Deployment Model: Resource Manager, Location: ${location}, Current Limit: ${limit}, Current Usage: ${current}, Additional Required: ${more}, (Minimum) New Limit Required: ${current + more}. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by specifying parameters listed in the 'Details' section for deployment to succeed. Please read more about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability/per-vm-quota-requests`,
  );
}

/**
 * The VM Agent's part of an instance view, shaped as Azure reports it: Ready once the guest's agent reports, Not Ready
 * while it has not yet or no longer does (a stopped VM's agent is unresponsive); absent while the VM is deallocated.
 */
function vmAgentView(sim: Sim, vm: ArmResource): Record<string, unknown> | undefined {
  const power = vm.sim.power as string | undefined;
  if (power === undefined || power === 'deallocated' || power === 'deallocating') return undefined;
  const state = power === 'running' ? sim.guests.agent(vm) : power === 'starting' ? 'starting' : 'unresponsive';
  const time = new Date(sim.clock.now()).toISOString();
  if (state === 'ready')
    return {
      vmAgentVersion: '2.12.0.4',
      statuses: [
        {
          code: 'ProvisioningState/succeeded',
          level: 'Info',
          displayStatus: 'Ready',
          message: 'Guest Agent is running',
          time,
        },
      ],
      extensionHandlers: [],
    };
  return {
    vmAgentVersion: 'Unknown',
    statuses: [
      {
        code: 'ProvisioningState/Unavailable',
        level: 'Warning',
        displayStatus: 'Not Ready',
        message: state === 'starting' ? 'VM status blob is found but not yet populated.' : 'VM Agent is unresponsive.',
        time,
      },
    ],
  };
}

function instanceView(sim: Sim, vm: ArmResource): Record<string, unknown> {
  const ps = String(vm.properties.provisioningState);
  const statuses: Array<Record<string, unknown>> = [];
  if (ps === 'Failed' && vm.sim.failure) {
    const f = vm.sim.failure as ArmErrorBody;
    statuses.push({
      code: `ProvisioningState/failed/${f.code}`,
      level: 'Error',
      displayStatus: 'Provisioning failed',
      message: f.message,
      time: vm.sim.failedAt,
    });
  } else
    statuses.push({
      code: `ProvisioningState/${ps.toLowerCase()}`,
      level: 'Info',
      displayStatus: ps === 'Succeeded' ? 'Provisioning succeeded' : ps,
    });
  const powerNames: Record<string, string> = {
    starting: 'VM starting',
    running: 'VM running',
    stopping: 'VM stopping',
    stopped: 'VM stopped',
    deallocating: 'VM deallocating',
    deallocated: 'VM deallocated',
  };
  if (vm.sim.power)
    statuses.push({ code: `PowerState/${vm.sim.power}`, level: 'Info', displayStatus: powerNames[vm.sim.power] });
  const agent = vmAgentView(sim, vm);
  return {
    computerName: vm.sim.computerName,
    osName: vm.sim.os === 'Windows' ? 'Windows Server 2022 Datacenter Azure Edition' : 'ubuntu',
    osVersion: vm.sim.os === 'Windows' ? '10.0.20348' : '22.04',
    ...(agent ? { vmAgent: agent } : {}),
    hyperVGeneration: 'V2',
    statuses,
  };
}

/** The run-time statuses (provisioning, power) of an instance view: what a statusOnly list carries per VM. */
function statusesOf(sim: Sim, vm: ArmResource): Record<string, unknown> {
  return { statuses: instanceView(sim, vm).statuses };
}

function vmView(sim: Sim, vm: ArmResource, expand: boolean): Record<string, unknown> {
  const v = view(vm) as { properties: Record<string, unknown> };
  return { ...v, properties: { ...v.properties, ...(expand ? { instanceView: instanceView(sim, vm) } : {}) } };
}

function validateOsProfile(p: any, os: 'Linux' | 'Windows') {
  const bad = (message: string, target: string) => armErrors.invalidParameter(message, target);
  if (!p) throw bad("Required parameter 'osProfile' is missing (null).", 'osProfile');
  const computer = String(p.computerName ?? '');
  const max = os === 'Windows' ? 15 : 64;
  if (!computer || computer.length > max || !/^[a-zA-Z0-9][a-zA-Z0-9-]*$/.test(computer))
    throw bad(
      `Computer name '${computer}' is invalid: it must be 1-${max} letters, digits or hyphens for a ${os} VM.`,
      'computerName',
    );
  const admin = String(p.adminUsername ?? '');
  if (!admin) throw bad("Required parameter 'adminUsername' is missing (null).", 'adminUsername');
  if (reservedAdmins.includes(admin.toLowerCase()))
    throw bad('The Admin Username specified is not allowed.', 'adminUsername');
  if (p.customData !== undefined) {
    const s = String(p.customData);
    if (s.length > 87_380 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s))
      throw bad(
        'Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters.',
        'customData',
      );
  }
  if (os === 'Windows') {
    const pw = String(p.adminPassword ?? '');
    const classes = [/[a-z]/, /[A-Z]/, /\d/, /[^a-zA-Z0-9]/].filter((re) => re.test(pw)).length;
    if (pw.length < 12 || pw.length > 123 || classes < 3)
      throw bad(
        'The supplied password must be between 12-123 characters long and must satisfy at least 3 of password complexity requirements from the following: 1) Contains an uppercase character 2) Contains a lowercase character 3) Contains a numeric digit 4) Contains a special character 5) Control characters are not allowed',
        'adminPassword',
      );
    return;
  }
  const linux = p.linuxConfiguration ?? {};
  const keys: any[] = linux.ssh?.publicKeys ?? [];
  if (linux.disablePasswordAuthentication && keys.length === 0)
    throw bad(
      'Authentication using either SSH or by user name and password must be enabled in Linux profile.',
      'linuxConfiguration',
    );
  if (!linux.disablePasswordAuthentication && !p.adminPassword && keys.length === 0)
    throw bad(
      'Authentication using either SSH or by user name and password must be enabled in Linux profile.',
      'linuxConfiguration',
    );
  for (const k of keys) {
    if (k.path !== `/home/${admin}/.ssh/authorized_keys`)
      throw bad(
        `Destination path for SSH public keys is currently limited to its default value /home/${admin}/.ssh/authorized_keys due to a known issue in Linux provisioning agent.`,
        'linuxConfiguration.ssh.publicKeys.path',
      );
    if (!/^(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/]+={0,2}( .*)?$/.test(String(k.keyData ?? '')))
      throw bad(
        'The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.',
        'linuxConfiguration.ssh.publicKeys.keyData',
      );
  }
}

function detachNics(sim: Sim, vm: ArmResource, deleteThem: boolean) {
  for (const n of vm.properties.networkProfile?.networkInterfaces ?? []) {
    const nic = sim.store.get(n.id);
    if (!nic) continue;
    delete nic.properties.virtualMachine;
    if (deleteThem && (n.properties?.deleteOption ?? n.deleteOption) === 'Delete') sim.store.remove(nic.id);
  }
}

function power(ctx: Ctx, action: 'start' | 'powerOff' | 'deallocate' | 'restart'): ReturnType<Route['handle']> {
  const { sim } = ctx;
  const vm = existingVm(ctx);
  const ps = vm.properties.provisioningState;
  if (ps === 'Creating' || ps === 'Deleting' || ps === 'Failed' || runningOn(ctx, vm.id))
    throw armErrors.conflict(
      'OperationNotAllowed',
      `Operation '${action}' is not allowed on VM '${vm.name}' since the VM is ${ps === 'Failed' ? 'in a failed state' : 'busy with another operation'}.`,
    );
  const target = { start: 'running', restart: 'running', powerOff: 'stopped', deallocate: 'deallocated' }[action];
  const transitional = { start: 'starting', restart: 'starting', powerOff: 'stopping', deallocate: 'deallocating' }[
    action
  ];
  const already =
    action === 'start'
      ? vm.sim.power === 'running'
      : action === 'powerOff'
        ? vm.sim.power === 'stopped' || vm.sim.power === 'deallocated'
        : action === 'deallocate'
          ? vm.sim.power === 'deallocated'
          : false;
  if ((action === 'start' || action === 'restart') && vm.sim.power !== 'running') {
    const sku = skuIn(sim, vm.properties.hardwareProfile.vmSize)!;
    const u = usage(sim, vm.location);
    const famLimit = sim.quota.families[sku.family];
    if (
      vm.sim.power === 'deallocated' &&
      famLimit !== undefined &&
      (u.families[sku.family] ?? 0) + sku.vcpus > famLimit
    )
      throw quotaError(sku.family, vm.location, famLimit, u.families[sku.family] ?? 0, sku.vcpus);
  }
  const prior = vm.sim.power;
  if (!already) {
    vm.sim.power = transitional;
    if (action !== 'start') sim.guests.halt(vm);
  }
  return startAction(ctx, vm, {
    simMs: already ? 200 : sim.clock.pick(sim.clock.timing.vmPowerMs),
    failed: () => void (vm.sim.power = prior),
    done: () => {
      if (already) return;
      vm.sim.power = target;
      if (target === 'running') sim.guests.boot(vm);
    },
  });
}

export const computeRoutes: Route[] = [
  {
    method: 'GET',
    path: '/providers/Microsoft.Compute/virtualMachines',
    api: 'compute',
    action: 'Microsoft.Compute/virtualMachines/read',
    handle(ctx) {
      const { sim, query } = ctx;
      // As documented for List All: $expand=instanceView only with a (scale set) $filter; statusOnly=true is the way
      // to every VM's run-time status, and then each VM comes with that and its identity, not its model.
      if (query.get('$expand') !== null && query.get('$filter') === null)
        throw armErrors.invalidParameter(
          "The $expand query option 'instanceView' can only be specified with a valid $filter option.",
          '$expand',
        );
      if (query.get('$filter') !== null)
        throw armErrors.invalidParameter(
          `The $filter '${query.get('$filter')}' is not supported: the allowed value is 'virtualMachineScaleSet/id' eq '<scale set id>'.`,
          '$filter',
        );
      const statusOnly = (query.get('statusOnly') ?? '').toLowerCase() === 'true';
      const vms = [...sim.store.resources.values()].filter((r) => r.type === T.vm);
      return page(
        ctx,
        vms.map((vm) =>
          statusOnly
            ? {
                id: vm.id,
                name: vm.name,
                type: vm.type,
                location: vm.location,
                properties: { instanceView: statusesOf(sim, vm) },
              }
            : vmView(sim, vm, false),
        ),
      );
    },
  },
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{name}',
    api: 'compute',
    action: 'Microsoft.Compute/virtualMachines/read',
    handle: (ctx) => ({
      status: 200,
      body: vmView(ctx.sim, existingVm(ctx), (ctx.query.get('$expand') ?? '').toLowerCase() === 'instanceview'),
    }),
  },
  {
    method: 'PUT',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{name}',
    api: 'compute',
    action: 'Microsoft.Compute/virtualMachines/write',
    handle(ctx) {
      const { sim, body } = ctx;
      const g = group(ctx);
      const id = vmId(ctx);
      const old = sim.store.get(id);
      if (
        old &&
        (old.properties.provisioningState === 'Creating' ||
          old.properties.provisioningState === 'Deleting' ||
          runningOn(ctx, old.id))
      )
        throw armErrors.conflict(
          'OperationNotAllowed',
          `Operation 'PUT' is not allowed on VM '${old.name}' since another operation is in progress on it.`,
        );
      const location = String(body?.location ?? '').toLowerCase();
      if (!sim.locations.includes(location))
        throw armErrors.badRequest(
          'LocationNotAvailableForResourceType',
          `The provided location '${body?.location}' is not available for resource type 'Microsoft.Compute/virtualMachines'.`,
        );
      const p = body?.properties ?? {};
      const size = String(p.hardwareProfile?.vmSize ?? '');
      const sku = skuIn(sim, size);
      if (!sku)
        throw armErrors.invalidParameter(
          `The value ${size} provided for the VM size is not valid. The valid sizes in the current region are: ${sim.skus.map((s) => s.name).join(',')}.`,
          'vmSize',
        );
      if ((sim.restrictedSkus[location] ?? []).some((s) => s.toLowerCase() === size.toLowerCase()))
        throw armErrors.conflict(
          'SkuNotAvailable',
          `The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: ${sku.name}' is currently not available in location '${location}'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.`,
        );
      const found = imageFor(sim, p.storageProfile?.imageReference, location);
      if (found instanceof ArmError) throw found;
      const { image, version } = found;
      const urn = `${image.publisher}:${image.offer}:${image.sku}`;
      if (image.plan) {
        const plan = body?.plan;
        if (
          !plan ||
          String(plan.name).toLowerCase() !== image.sku.toLowerCase() ||
          String(plan.product).toLowerCase() !== image.offer.toLowerCase() ||
          String(plan.publisher).toLowerCase() !== image.publisher.toLowerCase()
        )
          throw armErrors.badRequest(
            'VMMarketplaceInvalidInput',
            `Creating a virtual machine from Marketplace image or a custom image sourced from a Marketplace image requires Plan information in the request. VM: '${id}'.`,
          );
        if (sim.unacceptedTerms.some((u) => u.toLowerCase() === urn.toLowerCase()))
          throw armErrors.badRequest(
            'ResourcePurchaseValidationFailed',
            `User failed validation to purchase resources. Error message: 'You have not accepted the legal terms on this subscription: '${sim.store.subscriptionId}' for this plan. Before the subscription can be used, you need to accept the legal terms of the image. To read and accept legal terms, use the Azure CLI commands described at https://go.microsoft.com/fwlink/?linkid=2110637 or the PowerShell commands available at https://go.microsoft.com/fwlink/?linkid=862451.'`,
          );
      }
      const os = p.storageProfile?.osDisk;
      if (os?.diskSizeGB !== undefined && Number(os.diskSizeGB) < image.sizeGb)
        throw armErrors.invalidParameter(
          `The specified disk size ${os.diskSizeGB} GB is smaller than the size of the corresponding disk in the VM image: ${image.sizeGb} GB. This is not allowed. Please choose equal or greater size or do not specify an explicit size.`,
          'osDisk.diskSizeGB',
        );
      validateOsProfile(p.osProfile, image.os);
      const nics: any[] = p.networkProfile?.networkInterfaces ?? [];
      if (nics.length === 0)
        throw armErrors.invalidParameter('At least one network interface is required.', 'networkProfile');
      if (nics.length > 1 && nics.filter((n) => n.properties?.primary ?? n.primary).length !== 1)
        throw armErrors.invalidParameter(
          `Virtual machine ${ctx.params.name} must have one network interface set as the primary.`,
          'networkProfile',
        );
      if (nics.length > sku.maxNics)
        throw armErrors.badRequest(
          'NetworkInterfaceCountExceeded',
          `The number of network interfaces for virtual machine ${ctx.params.name} exceeds the maximum allowed for the virtual machine size ${sku.name}. The number of network interfaces is ${nics.length} and the maximum allowed is ${sku.maxNics}.`,
        );
      for (const n of nics) {
        const nic = sim.store.get(String(n.id ?? ''));
        if (!nic || nic.type !== T.nic) throw armErrors.notFound(`Resource ${n.id}`);
        if (nic.location !== location)
          throw armErrors.badRequest(
            'NicNotInSameLocation',
            `Network interface ${nic.id} is in location ${nic.location}, not ${location}.`,
          );
        const owner = nic.properties.virtualMachine?.id;
        if (owner && owner.toLowerCase() !== id.toLowerCase())
          throw armErrors.badRequest(
            'NicInUse',
            `Network Interface ${nic.id} is used by existing resource ${owner}. In order to use the network interface, it must be dissociated from the resource.`,
          );
        if (nic.properties.provisioningState !== 'Succeeded')
          throw armErrors.conflict(
            'NicNotReady',
            `Network interface ${nic.id} is not ready (provisioning state ${nic.properties.provisioningState}).`,
          );
      }
      if (!old || old.properties.provisioningState === 'Failed') {
        const u = usage(sim, location);
        const famLimit = sim.quota.families[sku.family];
        if (famLimit !== undefined && (u.families[sku.family] ?? 0) + sku.vcpus > famLimit)
          throw quotaError(sku.family, location, famLimit, u.families[sku.family] ?? 0, sku.vcpus);
        if (u.cores + sku.vcpus > sim.quota.cores)
          throw quotaError('Total Regional', location, sim.quota.cores, u.cores, sku.vcpus);
      }

      const creating = !old || old.properties.provisioningState === 'Failed';
      const r: ArmResource = old ?? {
        id,
        type: T.vm,
        name: ctx.params.name!,
        resourceGroup: g.name,
        location,
        tags: {},
        properties: {},
        sim: {},
      };
      r.tags = { ...(body?.tags ?? {}) };
      if (body?.plan) r.plan = body.plan;
      const diskName = String(os?.name ?? `${r.name}_OsDisk_1_${crypto.randomBytes(16).toString('hex')}`);
      const diskId = resourceId(sim.store.subscriptionId, g.name, T.disk, diskName);
      const { customData, adminPassword, ...osProfile } = p.osProfile;
      r.sim.customData = customData ? Buffer.from(String(customData), 'base64').toString('utf8') : r.sim.customData;
      r.sim.computerName = osProfile.computerName;
      r.sim.os = image.os;
      r.properties = {
        vmId: r.properties.vmId ?? crypto.randomUUID(),
        hardwareProfile: { vmSize: sku.name },
        storageProfile: {
          imageReference: { ...p.storageProfile.imageReference, exactVersion: version },
          osDisk: {
            osType: image.os,
            name: diskName,
            createOption: 'FromImage',
            caching: 'ReadWrite',
            deleteOption: os?.deleteOption ?? 'Detach',
            diskSizeGB: os?.diskSizeGB ?? image.sizeGb,
            managedDisk: { id: diskId, storageAccountType: os?.managedDisk?.storageAccountType ?? 'Premium_LRS' },
          },
          dataDisks: [],
        },
        osProfile: { ...osProfile, secrets: [], allowExtensionOperations: true, requireGuestProvisionSignal: true },
        networkProfile: {
          networkInterfaces: nics.map((n) => ({
            id: n.id,
            properties: {
              primary: Boolean(n.properties?.primary ?? n.primary ?? nics.length === 1),
              deleteOption: n.properties?.deleteOption ?? n.deleteOption ?? 'Detach',
            },
          })),
        },
        ...(p.diagnosticsProfile ? { diagnosticsProfile: p.diagnosticsProfile } : {}),
        timeCreated: r.properties.timeCreated ?? new Date().toISOString(),
      };
      for (const n of nics) sim.store.get(n.id)!.properties.virtualMachine = { id };
      if (creating) {
        r.sim.power = 'starting';
        r.sim.failure = undefined;
      }
      return startPut(ctx, r, {
        created: !old,
        pending: creating ? 'Creating' : 'Updating',
        simMs: creating ? sim.clock.pick(sim.clock.timing.vmCreateMs) : 1000,
        view: (x) => vmView(sim, x, false),
        failed: (e) => {
          r.sim.failure = e;
          r.sim.failedAt = new Date().toISOString();
          r.sim.power = undefined;
        },
        done: () => {
          if (!creating) return;
          const disk: ArmResource = {
            id: diskId,
            type: T.disk,
            name: diskName,
            resourceGroup: g.name,
            location,
            tags: {},
            properties: {
              osType: image.os,
              diskSizeGB: r.properties.storageProfile.osDisk.diskSizeGB,
              diskState: 'Attached',
              provisioningState: 'Succeeded',
              creationData: { createOption: 'FromImage' },
            },
            sim: { vm: id },
            sku: { name: r.properties.storageProfile.osDisk.managedDisk.storageAccountType },
          };
          sim.store.put(disk);
          r.sim.power = 'running';
          sim.guests.boot(r);
        },
      });
    },
  },
  {
    method: 'DELETE',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{name}',
    api: 'compute',
    action: 'Microsoft.Compute/virtualMachines/delete',
    handle(ctx) {
      const { sim } = ctx;
      group(ctx);
      const vm = sim.store.get(vmId(ctx));
      if (!vm) return { status: 204 };
      sim.guests.halt(vm);
      vm.sim.power = vm.sim.power ? 'stopping' : undefined;
      return startDelete(ctx, vm, {
        simMs: sim.clock.pick(sim.clock.timing.vmDeleteMs),
        done: () => {
          detachNics(sim, vm, true);
          const os = vm.properties.storageProfile?.osDisk;
          const disk = os ? sim.store.get(os.managedDisk.id) : undefined;
          if (disk) {
            if (os.deleteOption === 'Delete') sim.store.remove(disk.id);
            else {
              disk.properties.diskState = 'Unattached';
              disk.sim.vm = undefined;
            }
          }
        },
      });
    },
  },
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{name}/instanceView',
    api: 'compute',
    action: 'Microsoft.Compute/virtualMachines/instanceView/read',
    handle: (ctx) => ({ status: 200, body: instanceView(ctx.sim, existingVm(ctx)) }),
  },
  ...(['start', 'powerOff', 'deallocate', 'restart'] as const).map((action): Route => ({
    method: 'POST',
    path: `/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{name}/${action}`,
    api: 'compute',
    action: `Microsoft.Compute/virtualMachines/${action === 'powerOff' ? 'powerOff' : action}/action`,
    handle: (ctx) => power(ctx, action),
  })),
  {
    method: 'POST',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{name}/retrieveBootDiagnosticsData',
    api: 'compute',
    action: 'Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action',
    handle(ctx) {
      const vm = existingVm(ctx);
      if (!vm.properties.diagnosticsProfile?.bootDiagnostics?.enabled)
        throw armErrors.conflict(
          'OperationNotAllowed',
          `Boot diagnostics is not enabled for virtual machine '${vm.name}'. Enable it to retrieve the boot diagnostics data.`,
        );
      if (vm.properties.diagnosticsProfile.bootDiagnostics.storageUri)
        throw armErrors.conflict(
          'OperationNotAllowed',
          'Retrieving boot diagnostics data is only supported with managed boot diagnostics storage.',
        );
      const minutes = Number(ctx.query.get('sasUriExpirationTimeInMinutes') ?? 120);
      return {
        status: 200,
        body: {
          consoleScreenshotBlobUri: ctx.sim.guests
            .blobUrl(vm, ctx.sim.base, minutes)
            .replace('.serialconsole.log', '.screenshot.bmp'),
          serialConsoleLogBlobUri: ctx.sim.guests.blobUrl(vm, ctx.sim.base, minutes),
        },
      };
    },
  },
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/disks/{name}',
    api: 'disks',
    action: 'Microsoft.Compute/disks/read',
    handle(ctx) {
      group(ctx);
      const d = ctx.sim.store.get(
        resourceId(ctx.sim.store.subscriptionId, ctx.params.resourceGroupName!, T.disk, ctx.params.name!),
      );
      if (!d) throw armErrors.resourceNotFound(T.disk, ctx.params.name!, ctx.params.resourceGroupName!);
      return { status: 200, body: view(d) };
    },
  },
  {
    method: 'DELETE',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/disks/{name}',
    api: 'disks',
    action: 'Microsoft.Compute/disks/delete',
    handle(ctx) {
      group(ctx);
      const d = ctx.sim.store.get(
        resourceId(ctx.sim.store.subscriptionId, ctx.params.resourceGroupName!, T.disk, ctx.params.name!),
      );
      if (!d) return { status: 204 };
      if (d.sim.vm) throw armErrors.conflict('OperationNotAllowed', `Disk ${d.name} is attached to VM ${d.sim.vm}.`);
      return startDelete(ctx, d, { simMs: ctx.sim.clock.pick(ctx.sim.clock.timing.nicOpMs) });
    },
  },
  {
    method: 'GET',
    path: '/providers/Microsoft.Compute/skus',
    api: 'computeSkus',
    action: 'Microsoft.Compute/skus/read',
    handle(ctx) {
      const { sim } = ctx;
      const m = /^location eq '([^']+)'$/i.exec(ctx.query.get('$filter') ?? '');
      const locations = m ? [m[1]!.toLowerCase()] : sim.locations;
      const value = sim.skus.flatMap((s) =>
        locations.map((loc) => {
          const restricted = (sim.restrictedSkus[loc] ?? []).some((x) => x.toLowerCase() === s.name.toLowerCase());
          return {
            resourceType: 'virtualMachines',
            name: s.name,
            tier: 'Standard',
            size: s.name.replace(/^Standard_/, ''),
            family: s.family,
            locations: [loc],
            locationInfo: [{ location: loc, zones: ['1', '2', '3'], zoneDetails: [] }],
            capabilities: [
              { name: 'vCPUs', value: String(s.vcpus) },
              { name: 'MemoryGB', value: String(s.memoryGb) },
              { name: 'MaxNetworkInterfaces', value: String(s.maxNics) },
              { name: 'HyperVGenerations', value: 'V1,V2' },
            ],
            restrictions: restricted
              ? [
                  {
                    type: 'Location',
                    values: [loc],
                    restrictionInfo: { locations: [loc] },
                    reasonCode: 'NotAvailableForSubscription',
                  },
                ]
              : [],
          };
        }),
      );
      return { status: 200, body: { value } };
    },
  },
  {
    method: 'GET',
    path: '/providers/Microsoft.Compute/locations/{location}/usages',
    api: 'compute',
    action: 'Microsoft.Compute/locations/usages/read',
    handle(ctx) {
      const { sim } = ctx;
      const loc = ctx.params.location!.toLowerCase();
      const u = usage(sim, loc);
      const families = [...new Set(sim.skus.map((s) => s.family))];
      return {
        status: 200,
        body: {
          value: [
            {
              unit: 'Count',
              currentValue: u.cores,
              limit: sim.quota.cores,
              name: { value: 'cores', localizedValue: 'Total Regional vCPUs' },
            },
            {
              unit: 'Count',
              currentValue: [...sim.store.resources.values()].filter((r) => r.type === T.vm && r.location === loc)
                .length,
              limit: 25000,
              name: { value: 'virtualMachines', localizedValue: 'Virtual Machines' },
            },
            ...families.map((f) => ({
              unit: 'Count',
              currentValue: u.families[f] ?? 0,
              limit: sim.quota.families[f] ?? sim.quota.cores,
              name: { value: f, localizedValue: `${f} vCPUs` },
            })),
          ],
        },
      };
    },
  },
  {
    method: 'GET',
    path: '/providers/Microsoft.Compute/locations/{location}/publishers/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions',
    api: 'compute',
    action: 'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read',
    handle(ctx) {
      const { sim, params } = ctx;
      const loc = params.location!.toLowerCase();
      const found = imageFor(sim, { publisher: params.publisher, offer: params.offer, sku: params.sku }, loc);
      if (found instanceof ArmError) throw armErrors.notFound('Artifact: VMImage');
      let versions = [...found.image.versions];
      if (/name\s+desc/i.test(ctx.query.get('$orderby') ?? '')) versions.reverse();
      const top = Number(ctx.query.get('$top') ?? 0);
      if (top > 0) versions = versions.slice(0, top);
      const base = `/Subscriptions/${sim.store.subscriptionId}/Providers/Microsoft.Compute/Locations/${loc}/Publishers/${found.image.publisher}/ArtifactTypes/VMImage/Offers/${found.image.offer}/Skus/${found.image.sku}/Versions`;
      return { status: 200, body: versions.map((v) => ({ location: loc, name: v, id: `${base}/${v}` })) };
    },
  },
  {
    method: 'GET',
    path: '/providers/Microsoft.Compute/locations/{location}/publishers/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions/{version}',
    api: 'compute',
    action: 'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read',
    handle(ctx) {
      const { sim, params } = ctx;
      const loc = params.location!.toLowerCase();
      const found = imageFor(
        sim,
        { publisher: params.publisher, offer: params.offer, sku: params.sku, version: params.version },
        loc,
      );
      if (found instanceof ArmError) throw armErrors.notFound('Artifact: VMImage');
      const { image, version } = found;
      return {
        status: 200,
        body: {
          location: loc,
          name: version,
          id: `/Subscriptions/${sim.store.subscriptionId}/Providers/Microsoft.Compute/Locations/${loc}/Publishers/${image.publisher}/ArtifactTypes/VMImage/Offers/${image.offer}/Skus/${image.sku}/Versions/${version}`,
          properties: {
            ...(image.plan ? { plan: { publisher: image.publisher, name: image.sku, product: image.offer } } : {}),
            osDiskImage: { operatingSystem: image.os },
            dataDiskImages: [],
            hyperVGeneration: 'V2',
            architecture: 'x64',
          },
        },
      };
    },
  },
];
