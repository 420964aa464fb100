// Creating VMs on the ESXi host, from one of two disk sources: a template VM's disk, or a cloud image converted on the
// appliance and uploaded once per datastore into glassdome-images/. Either disk is copied into the VM's own folder as a
// thin host disk (CopyVirtualDisk_Task), and the same VM is built around it.
import { AppError } from '../../errors.ts';
import type { CallOptions, MachineSpec } from '../platform.ts';
import type { EsxiConfig } from './config.ts';
import { waitFor, type ConvertedImage, type ImageCache } from './images.ts';
import { buildSeedIso } from '../shared/seed-iso.ts';
import { asArray, faultTypeOf, unwrap, xsiType, type MoRef, type VimClient } from './soap.ts';
import * as spec from './vm-spec.ts';

export interface Inventory {
  vim: VimClient;
  datacenter: MoRef;
  vmFolder: MoRef;
  pool: MoRef;
  host: MoRef;
  networkSystem: MoRef;
  browser: MoRef | undefined;
}

/** What machine creation needs from the driver. */
export interface MachineHost {
  config: EsxiConfig;
  images: ImageCache;
  runTask(i: Inventory, method: string, args: Record<string, unknown>, o?: CallOptions): Promise<unknown>;
  findVm(i: Inventory, name: string, o?: CallOptions): Promise<MoRef | undefined>;
  vmProps(i: Inventory, vm: MoRef, paths: string[], o?: CallOptions): Promise<Record<string, unknown> | undefined>;
  destroyVm(i: Inventory, vm: MoRef | undefined, name: string, o?: CallOptions): Promise<void>;
  onUploaded?: (e: { key: string; ms: number; bytes: number }) => void;
}

/** The disk a VM is built around, and the hardware that suits it. */
interface DiskSource {
  /** Datastore path of the disk to copy. */
  file: string;
  capacityKb: number;
  guestId: string;
  version?: string;
  firmware?: string;
  controllerType: string;
}

/** Shared cache of uploaded images on the datastore. Not owned by any deployment: teardown keeps it, listOwned skips it. */
export const imageFolder = 'glassdome-images';

export function createMachineBuilder(h: MachineHost) {
  const ds = h.config.datastore;
  // One upload per image and driver: concurrent creators wait on the same promise.
  const uploads = new Map<string, Promise<string>>();

  async function makeDirectory(i: Inventory, dir: string, o?: CallOptions): Promise<void> {
    try {
      await i.vim.call(
        'MakeDirectory',
        { _this: i.vim.content.fileManager, name: dir, datacenter: i.datacenter, createParentDirectories: true },
        o,
      );
    } catch (e) {
      if (faultTypeOf(e) !== 'FileAlreadyExists') throw e;
    }
  }

  /** Size of a file in the image folder, or undefined when it (or the folder) is not there. */
  async function imageSize(i: Inventory, name: string, o?: CallOptions): Promise<number | undefined> {
    if (!i.browser)
      throw new AppError('not_found', `[esxi] Datastore "${ds}" not found on ${h.config.host}`, {
        hint: "Set the platform's datastore to one the host has.",
      });
    try {
      const details = { fileType: true, fileSize: true, modification: false, fileOwner: false };
      const raw = await h.runTask(
        i,
        'SearchDatastore_Task',
        { _this: i.browser, datastorePath: `[${ds}] ${imageFolder}`, searchSpec: { details, matchPattern: [name] } },
        o,
      );
      const hit = asArray(
        (unwrap(raw) as { file?: unknown } | null)?.file as Array<{ path: string; fileSize?: number }> | undefined,
      ).find((f) => f.path === name);
      return hit?.fileSize === undefined ? undefined : Number(hit.fileSize);
    } catch (e) {
      if (faultTypeOf(e) === 'FileNotFound') return undefined;
      throw e;
    }
  }

  async function upload(i: Inventory, img: ConvertedImage): Promise<string> {
    const name = `${img.key}.vmdk`;
    const file = `[${ds}] ${imageFolder}/${name}`;
    const signal = AbortSignal.timeout(h.config.timeouts.imageMs);
    // A file of the same size is a finished upload (an interrupted PUT leaves a shorter one, which is replaced).
    if ((await imageSize(i, name, { signal })) === img.bytes) return file;
    await makeDirectory(i, `[${ds}] ${imageFolder}`, { signal });
    const started = Date.now();
    await i.vim.putFile(
      ds,
      `${imageFolder}/${name}`,
      { file: img.file, bytes: img.bytes },
      { signal, timeoutMs: h.config.timeouts.imageMs },
    );
    h.onUploaded?.({ key: img.key, ms: Date.now() - started, bytes: img.bytes });
    return file;
  }

  async function fromImage(i: Inventory, m: MachineSpec, source: string, o?: CallOptions): Promise<DiskSource> {
    const img = await h.images.prepare(source, o);
    let job = uploads.get(img.key);
    if (!job) {
      // The shared upload runs on its own timeout, not on one caller's signal, so an aborted caller does not fail the rest.
      // It is forgotten once settled: a later create checks the datastore again (cheap), so a deleted cache is re-uploaded.
      job = upload(i, img);
      uploads.set(img.key, job);
      job.then(
        () => uploads.delete(img.key),
        () => uploads.delete(img.key),
      );
    }
    const file = await waitFor(job, o?.signal);
    return {
      file,
      capacityKb: Math.ceil(img.capacityBytes / 1024),
      guestId: spec.guestIdForOs(m.os),
      controllerType: 'ParaVirtualSCSIController',
    };
  }

  async function fromTemplate(
    i: Inventory,
    m: MachineSpec,
    templateName: string,
    o?: CallOptions,
  ): Promise<DiskSource> {
    const template = await h.findVm(i, templateName, o);
    if (!template)
      throw new AppError(
        'not_found',
        `[esxi] Unable to create VM "${m.name}": template VM "${templateName}" not found`,
      );
    const tp =
      (await h.vmProps(
        i,
        template,
        ['config.hardware.device', 'config.guestId', 'config.version', 'config.firmware'],
        o,
      )) ?? {};
    const devices = spec.devicesOf(tp['config.hardware.device']);
    const disk = devices.find((d) => xsiType(d) === 'VirtualDisk');
    const controller = devices.find((d) => d.key === disk?.controllerKey);
    if (!disk?.backing?.fileName || !controller)
      throw new AppError(
        'invalid_input',
        `[esxi] Unable to create VM "${m.name}": template "${templateName}" has no disk`,
      );
    return {
      file: disk.backing.fileName,
      capacityKb: disk.capacityInKB ?? 0,
      guestId: String(tp['config.guestId'] ?? 'otherGuest64'),
      ...(tp['config.version'] ? { version: String(tp['config.version']) } : {}),
      ...(tp['config.firmware'] ? { firmware: String(tp['config.firmware']) } : {}),
      controllerType: xsiType(controller) ?? 'ParaVirtualSCSIController',
    };
  }

  /** A template if one is named or mapped for the OS, else the OS's cloud image. */
  function diskSource(i: Inventory, m: MachineSpec, o?: CallOptions): Promise<DiskSource> {
    const templateName = m.template ?? h.config.templates[m.os];
    if (templateName) return fromTemplate(i, m, templateName, o);
    const image = h.config.images[m.os];
    if (image) return fromImage(i, m, image, o);
    throw new AppError('invalid_input', `[esxi] Unable to create VM "${m.name}": no template or image for OS ${m.os}`, {
      hint: `Add templates.${m.os} (a template VM on the host) or images.${m.os} (a cloud image file on the appliance) to the platform settings.`,
    });
  }

  async function build(i: Inventory, m: MachineSpec, src: DiskSource, o?: CallOptions): Promise<MoRef> {
    const dir = spec.vmDir(ds, m.name);
    await makeDirectory(i, dir, o);
    const diskFile = `${dir}/${m.name}.vmdk`;
    await h.runTask(
      i,
      'CopyVirtualDisk_Task',
      {
        _this: i.vim.content.virtualDiskManager,
        sourceName: src.file,
        sourceDatacenter: i.datacenter,
        destName: diskFile,
        destDatacenter: i.datacenter,
        destSpec: { diskType: 'thin', adapterType: 'lsiLogic' },
        force: true,
      },
      o,
    );
    let isoFile: string | undefined;
    if (m.cloudInit) {
      await i.vim.putFile(ds, spec.seedIsoPath(m.name), buildSeedIso(m.cloudInit), o);
      isoFile = `[${ds}] ${spec.seedIsoPath(m.name)}`;
    }
    const configSpec = spec.createVmConfig({
      name: m.name,
      deploymentId: m.deploymentId,
      datastore: ds,
      guestId: src.guestId,
      ...(src.version ? { version: src.version } : {}),
      ...(src.firmware ? { firmware: src.firmware } : {}),
      cpus: m.cpus,
      memoryMb: m.memoryMb,
      controllerType: src.controllerType,
      diskFile,
      diskCapacityKb: src.capacityKb,
      nics: m.nics.map((n) => ({ portGroup: n.network.id, mac: n.mac })),
      ...(isoFile ? { isoFile } : {}),
    });
    const vm = (await h.runTask(
      i,
      'CreateVM_Task',
      { _this: i.vmFolder, config: configSpec, pool: i.pool, host: i.host },
      o,
    )) as MoRef;
    const created = await h.vmProps(i, vm, ['config.hardware.device'], o);
    await h.runTask(
      i,
      'ReconfigVM_Task',
      { _this: vm, spec: spec.finishVmConfig(spec.devicesOf(created?.['config.hardware.device']), m.diskGb) },
      o,
    );
    return vm;
  }

  return {
    /** Creates the VM, or returns the one a previous call finished; a half-created VM of this deployment is replaced. */
    async create(i: Inventory, m: MachineSpec, o?: CallOptions): Promise<{ id: string; name: string }> {
      const existing = await h.findVm(i, m.name, o);
      if (existing) {
        const p = await h.vmProps(i, existing, ['config.extraConfig'], o);
        const owner = spec.extraConfigValue(p?.['config.extraConfig'], spec.ownerKey);
        if (owner !== m.deploymentId) {
          throw new AppError(
            'conflict',
            `[esxi] Unable to create VM "${m.name}": a VM of that name exists and belongs to ${owner ? `deployment ${owner}` : 'no Glassdome deployment'}`,
          );
        }
        if (spec.extraConfigValue(p?.['config.extraConfig'], spec.stateKey) === 'created')
          return { id: existing.$value, name: m.name };
        await h.destroyVm(i, existing, m.name, o); // half-created by an interrupted call: replace it
      }
      const vm = await build(i, m, await diskSource(i, m, o), o);
      return { id: vm.$value, name: m.name };
    },
  };
}
