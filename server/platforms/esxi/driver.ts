// The ESXi driver: one standalone host over the vSphere SOAP API. Port groups on a standard vSwitch, VMs built from a
// template VM's disk or from a cloud image converted on the appliance (machines.ts; standalone ESXi has no clone),
// a NoCloud seed ISO on the datastore, ownership in extraConfig, capacity from the host's summary and the datastore.
// What each path needs is in README.md.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppError, errorMessage } from '../../errors.ts';
import type {
  CallOptions,
  DriverDeps,
  FirstBootDelivery,
  MachineRef,
  MachineSpec,
  MachineState,
  NetworkRef,
  NetworkSpec,
  OwnedResource,
  Platform,
  PlatformCapacity,
} from '../platform.ts';
import { addressTimeout, missingAddresses } from '../shared/expected-addresses.ts';
import { esxiConfigSchema, type EsxiConfig, type EsxiConfigInput } from './config.ts';
import { createImageCache, qemuImgVersion } from './images.ts';
import { inventoryFrom, inventoryPaths } from './inventory.ts';
import { createMachineBuilder, type Inventory } from './machines.ts';
import { asArray, connectVim, faultTypeOf, moRef, unwrap, type MoRef, type VimFault } from './soap.ts';
import { unable as unableTo } from '../shared/unable.ts';
import { pollUntil } from '../shared/wait.ts';
import { describeTrust } from '../shared/tls-trust.ts';
import * as spec from './vm-spec.ts';

export { esxiConfigSchema };

export interface EsxiDeps extends Pick<DriverDeps, 'secret' | 'cacheDir'> {
  /** WSDL path or URL overriding config.wsdl (tests load the reference copy; vcsim serves none). */
  wsdl?: string;
  /** Told when a cloud image was converted or uploaded (not for cache hits), with how long it took. */
  onImage?: (e: { step: 'converted' | 'uploaded'; key: string; ms: number; bytes: number }) => void;
}

const createPrivileges = [
  'VirtualMachine.Inventory.Create',
  'VirtualMachine.Config.AddNewDisk',
  'VirtualMachine.Interact.PowerOn',
  'Datastore.AllocateSpace',
  'Datastore.FileManagement',
  'Host.Config.Network',
  'Network.Assign',
];

/** `[esxi] Unable to <action> <kind> "<name>": <cause>`, keeping the code (transient, not_found...) and the cause. */
function unable(action: string, kind: string, name: string, e: unknown, hint?: string): AppError {
  const f = e instanceof AppError ? (e.cause as Partial<VimFault> | undefined) : undefined;
  return unableTo('esxi', action, kind, name, e, {
    ...(f?.faultType ? { cause: `${f.faultType}${f.message ? `: ${f.message}` : ''}` } : {}),
    ...(hint ? { hint } : {}),
  });
}

async function attempt<T>(action: string, kind: string, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof AppError && e.message.startsWith('[esxi] Unable to')) throw e;
    if (!(e instanceof AppError)) throw e; // aborts and programming errors pass through unchanged
    throw unable(action, kind, name, e);
  }
}

export function createEsxiPlatform(input: EsxiConfigInput, deps: EsxiDeps): Platform {
  const config: EsxiConfig = esxiConfigSchema.parse(input);
  if (!deps.secret) throw new AppError('invalid_input', '[esxi] The platform has no password; edit it and type one');
  const password = deps.secret;
  const ds = config.datastore;
  let connecting: Promise<Inventory> | undefined;

  async function connect(): Promise<Inventory> {
    const vim = await connectVim({
      host: config.host,
      port: config.port,
      username: config.username,
      password,
      tls: config.tls,
      wsdl: deps.wsdl ?? config.wsdl,
      callTimeoutMs: config.timeouts.callMs,
    });
    const [dc] = await vim.list('Datacenter', ['vmFolder']);
    const [host] = await vim.list('HostSystem', ['configManager.networkSystem', 'parent']);
    if (!dc || !host) throw new AppError('platform_error', '[esxi] The host reports no datacenter or host system');
    // A missing datastore is reported by testConnection; the calls that need it fail on use.
    const store = (await vim.list('Datastore', ['name', 'browser'])).find((d) => d.props.name === ds);
    const [cr] = await vim.retrieve([host.props.parent as MoRef], 'ComputeResource', ['resourcePool']);
    return {
      vim,
      datacenter: dc.obj,
      vmFolder: dc.props.vmFolder as MoRef,
      pool: cr?.props.resourcePool as MoRef,
      host: host.obj,
      networkSystem: host.props['configManager.networkSystem'] as MoRef,
      browser: store?.props.browser as MoRef | undefined,
    };
  }

  const inv = (): Promise<Inventory> =>
    (connecting ??= connect().catch((e: unknown) => {
      connecting = undefined;
      throw e;
    }));

  const images = createImageCache({
    dir: deps.cacheDir ? path.join(deps.cacheDir, 'esxi-images') : path.join(tmpdir(), 'glassdome-esxi-images'),
    timeoutMs: config.timeouts.imageMs,
    onConverted: (e) => deps.onImage?.({ step: 'converted', key: e.key, ms: e.ms, bytes: e.bytes }),
  });

  const taskOpts = (o?: CallOptions) => ({
    timeoutMs: config.timeouts.taskMs,
    ...(o?.signal ? { signal: o.signal } : {}),
  });

  async function runTask(
    i: Inventory,
    method: string,
    args: Record<string, unknown>,
    o?: CallOptions,
    onPoll?: () => Promise<void>,
  ): Promise<unknown> {
    const task = await i.vim.call<MoRef>(method, args, o);
    return i.vim.waitForTask(method, task, { ...taskOpts(o), ...(onPoll ? { onPoll } : {}) });
  }

  async function findVm(i: Inventory, name: string, o?: CallOptions): Promise<MoRef | undefined> {
    const r = await i.vim.call<MoRef | null>(
      'FindChild',
      { _this: i.vim.content.searchIndex, entity: i.vmFolder, name },
      o,
    );
    return r ?? undefined;
  }

  /** The VM behind a ref: by MoRef when it still carries that name (ids can be reused), else by name. */
  async function resolveVm(i: Inventory, ref: MachineRef, o?: CallOptions): Promise<MoRef | undefined> {
    const byId = moRef('VirtualMachine', ref.id);
    try {
      const [r] = await i.vim.retrieve([byId], 'VirtualMachine', ['name'], o);
      if (r?.props.name === ref.name) return byId;
    } catch (e) {
      if (faultTypeOf(e) !== 'ManagedObjectNotFound') throw e;
    }
    return findVm(i, ref.name, o);
  }

  async function vmProps(
    i: Inventory,
    vm: MoRef,
    paths: string[],
    o?: CallOptions,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const [r] = await i.vim.retrieve([vm], 'VirtualMachine', paths, o);
      return r?.props;
    } catch (e) {
      if (faultTypeOf(e) === 'ManagedObjectNotFound') return undefined;
      throw e;
    }
  }

  async function portGroups(i: Inventory, o?: CallOptions) {
    const [r] = await i.vim.retrieve(
      [i.networkSystem],
      'HostNetworkSystem',
      ['networkInfo.portgroup', 'networkInfo.vswitch'],
      o,
    );
    return {
      portgroups: asArray(
        r?.props['networkInfo.portgroup'] as Array<{ spec: { name: string; vlanId: number; vswitchName: string } }>,
      ),
      vswitches: asArray(r?.props['networkInfo.vswitch'] as Array<{ name: string }>).map((v) => v.name),
    };
  }

  async function deleteFile(i: Inventory, path: string, o?: CallOptions): Promise<void> {
    try {
      await runTask(
        i,
        'DeleteDatastoreFile_Task',
        { _this: i.vim.content.fileManager, name: path, datacenter: i.datacenter },
        o,
      );
    } catch (e) {
      // ESXi says FileNotFound; vcsim says CannotDeleteFile for a path that is not there.
      if (faultTypeOf(e) === 'FileNotFound') return;
      if (faultTypeOf(e) === 'CannotDeleteFile' && !(await datastoreHas(i, path, o))) return;
      throw e;
    }
  }

  /** Files under the datastore root whose name matches, by folder. */
  async function searchDatastore(
    i: Inventory,
    patterns: string[],
    o?: CallOptions,
  ): Promise<Array<{ folder: string; file: string }>> {
    if (!i.browser)
      throw new AppError('not_found', `[esxi] Datastore "${ds}" not found on ${config.host}`, {
        hint: "Set the platform's datastore to one the host has.",
      });
    const raw = await runTask(
      i,
      'SearchDatastoreSubFolders_Task',
      { _this: i.browser, datastorePath: `[${ds}]`, searchSpec: { matchPattern: patterns } },
      o,
    );
    return asArray(unwrap(raw) as Array<{ folderPath: string; file?: unknown }>).flatMap((r) =>
      asArray(r.file as Array<{ path: string }> | undefined).map((f) => ({
        folder: r.folderPath.replace(/^\[[^\]]*\]\s*/, '').replace(/\/$/, ''),
        file: f.path,
      })),
    );
  }

  async function datastoreHas(i: Inventory, path: string, o?: CallOptions): Promise<boolean> {
    const rel = path.replace(/^\[[^\]]*\]\s*/, '');
    const base = rel.split('/').pop() ?? rel;
    const hits = await searchDatastore(i, [base], o);
    return (
      hits.some((h) => (h.folder ? `${h.folder}/${h.file}` : h.file) === rel) ||
      hits.some((h) => h.folder === rel || h.folder.startsWith(`${rel}/`))
    );
  }

  async function powerOff(i: Inventory, vm: MoRef, o?: CallOptions): Promise<void> {
    try {
      await runTask(i, 'PowerOffVM_Task', { _this: vm }, o);
    } catch (e) {
      if (faultTypeOf(e) !== 'InvalidPowerState') throw e;
    }
  }

  /** Answers the "guest has locked the CD-ROM door" question ESXi raises when a running guest's CD-ROM is emptied. */
  async function answerCdromQuestion(i: Inventory, vm: MoRef, o?: CallOptions): Promise<void> {
    const p = await vmProps(i, vm, ['runtime.question'], o);
    const q = p?.['runtime.question'] as
      { id: string; choice?: { choiceInfo?: unknown; defaultIndex?: number } } | undefined;
    if (!q?.id) return;
    const choices = asArray(
      q.choice?.choiceInfo as Array<{ key: string; label?: string; summary?: string }> | undefined,
    );
    const yes = choices.find((c) => /^yes$/i.test(c.label ?? c.summary ?? '')) ?? choices[q.choice?.defaultIndex ?? 0];
    if (yes) await i.vim.call('AnswerVM', { _this: vm, questionId: q.id, answerChoice: yes.key }, o);
  }

  async function detachSeed(i: Inventory, vm: MoRef, name: string, o?: CallOptions): Promise<void> {
    const p = await vmProps(i, vm, ['config.hardware.device'], o);
    const cdrom = spec.seedCdrom(spec.devicesOf(p?.['config.hardware.device']));
    if (cdrom)
      await runTask(i, 'ReconfigVM_Task', { _this: vm, spec: spec.detachCdromConfig(cdrom) }, o, () =>
        answerCdromQuestion(i, vm, o),
      );
    await deleteFile(i, `[${ds}] ${spec.seedIsoPath(name)}`, o);
  }

  async function destroyVm(i: Inventory, vm: MoRef | undefined, name: string, o?: CallOptions): Promise<void> {
    if (vm) {
      const p = await vmProps(i, vm, ['runtime.powerState'], o);
      if (p && p['runtime.powerState'] !== 'poweredOff') await powerOff(i, vm, o);
      try {
        if (p) await runTask(i, 'Destroy_Task', { _this: vm }, o);
      } catch (e) {
        if (faultTypeOf(e) !== 'ManagedObjectNotFound') throw e;
      }
    }
    // The VM's folder holds the seed ISO and anything an interrupted create left; its name carries the deployment id.
    if (await datastoreHas(i, spec.vmDir(ds, name), o)) await deleteFile(i, spec.vmDir(ds, name), o);
  }

  async function snapshotTree(i: Inventory, ref: MachineRef, o?: CallOptions) {
    const vm = await resolveVm(i, ref, o);
    if (!vm) throw new AppError('not_found', `[esxi] VM "${ref.name}" does not exist`);
    const p = await vmProps(i, vm, ['snapshot'], o);
    const info = p?.snapshot as { rootSnapshotList?: unknown } | undefined;
    return { vm, nodes: spec.flattenSnapshots(info?.rootSnapshotList) };
  }

  async function state(i: Inventory, ref: MachineRef, o?: CallOptions): Promise<MachineState & { tools?: string }> {
    const vm = await resolveVm(i, ref, o);
    const p =
      vm &&
      (await vmProps(i, vm, ['runtime.powerState', 'guest.net', 'guest.ipAddress', 'guest.toolsRunningStatus'], o));
    if (!p) return { power: 'missing', addresses: [] };
    const power = spec.powerStates[p['runtime.powerState'] as keyof typeof spec.powerStates] ?? 'stopped';
    return {
      power,
      addresses: power === 'running' ? spec.guestAddresses(p['guest.net'], p['guest.ipAddress']) : [],
      tools: p['guest.toolsRunningStatus'] as string | undefined,
    };
  }

  /** Polls until `done` returns a value, bounded by timeoutMs; growing intervals with jitter. */
  async function poll<T>(
    ref: MachineRef,
    what: string,
    o: CallOptions & { timeoutMs: number },
    done: (s: MachineState & { tools?: string }) => T | undefined,
  ): Promise<T> {
    const i = await inv();
    let last: MachineState & { tools?: string } = { power: 'missing', addresses: [] };
    const found = await pollUntil(
      async () => {
        last = await state(i, ref, o);
        if (last.power === 'missing') throw new AppError('not_found', `[esxi] VM "${ref.name}" does not exist`);
        const v = done(last);
        return v === undefined ? undefined : { v };
      },
      {
        deadline: Date.now() + o.timeoutMs,
        minMs: 250,
        maxMs: 5000,
        jitterMs: 100,
        ...(o.signal ? { signal: o.signal } : {}),
      },
    );
    if (found) return found.v;
    throw new AppError(
      'timeout',
      `[esxi] VM "${ref.name}" did not ${what} within ${Math.round(o.timeoutMs / 1000)} s (power ${last.power}, tools ${last.tools ?? 'unknown'})`,
      {
        hint: 'Check that the template or image has VMware Tools (open-vm-tools) and that its network comes up.',
      },
    );
  }

  const machines = createMachineBuilder({
    config,
    images,
    runTask,
    findVm,
    vmProps,
    destroyVm,
    onUploaded: (e) => deps.onImage?.({ step: 'uploaded', ...e }),
  });

  return {
    kind: 'esxi',
    supports: { snapshots: true, guestExec: false },

    async testConnection(o) {
      const details: string[] = [
        `Host ${config.host}:${config.port}, user ${config.username}`,
        describeTrust(config.tls),
      ];
      try {
        const i = await inv();
        const about = i.vim.content.about;
        details.push(`${about.fullName}; API type ${about.apiType}, API version ${i.vim.apiVersion}`);
        let ok = true;
        if (about.apiType !== 'HostAgent') {
          ok = false;
          details.push(
            'This is a vCenter Server, not a standalone ESXi host: point the platform at the ESXi host itself.',
          );
        }
        const datastores = (await i.vim.list('Datastore', ['name', 'summary.freeSpace'], o)).map((d) => ({
          name: String(d.props.name),
          free: Number(d.props['summary.freeSpace'] ?? 0),
        }));
        const networks = (await i.vim.list('Network', ['name'], o)).map((n) => String(n.props.name));
        const vms = (await i.vim.list('VirtualMachine', ['name'], o))
          .map((v) => String(v.props.name))
          .filter((n) => !n.startsWith('gd-'));
        const { vswitches } = await portGroups(i, o);
        const dsHit = datastores.find((d) => d.name === ds);
        details.push(
          dsHit
            ? `Datastore ${ds}: ${Math.round(dsHit.free / 2 ** 30)} GiB free`
            : `Datastore ${ds} not found (have: ${datastores.map((d) => d.name).join(', ') || 'none'})`,
        );
        details.push(
          vswitches.includes(config.vswitch)
            ? `vSwitch ${config.vswitch} present`
            : `vSwitch ${config.vswitch} not found (have: ${vswitches.join(', ') || 'none'})`,
        );
        details.push(
          networks.includes(config.uplinkPortGroup)
            ? `Uplink port group "${config.uplinkPortGroup}" present`
            : `Uplink port group "${config.uplinkPortGroup}" not found`,
        );
        ok &&= dsHit !== undefined && vswitches.includes(config.vswitch) && networks.includes(config.uplinkPortGroup);
        for (const [os, t] of Object.entries(config.templates)) {
          if (!vms.includes(t)) {
            ok = false;
            details.push(`Template "${t}" for ${os} not found`);
          }
        }
        for (const [os, file] of Object.entries(config.images)) {
          if (config.templates[os]) continue; // the template wins
          ok &&= existsSync(file);
          details.push(
            existsSync(file) ? `Image for ${os}: ${file}` : `Image file ${file} for ${os} not found on the appliance`,
          );
        }
        if (Object.keys(config.images).length) {
          const qemu = await qemuImgVersion();
          ok &&= qemu !== undefined;
          details.push(
            qemu ??
              'qemu-img not found on the appliance (Debian: apt-get install qemu-utils): cloud images cannot be converted',
          );
        }
        const granted = await i.vim.call<boolean[]>(
          'HasPrivilegeOnEntity',
          {
            _this: i.vim.content.authorizationManager,
            entity: i.vim.content.rootFolder,
            sessionId: await i.vim.sessionKey(),
            privId: createPrivileges,
          },
          o,
        );
        const missing = createPrivileges.filter((_, n) => asArray(granted)[n] !== true);
        details.push(
          missing.length
            ? `Missing privileges on the root folder: ${missing.join(', ')}`
            : 'The account can create VMs, port groups and datastore files',
        );
        ok &&= missing.length === 0;
        const osOf = Object.fromEntries(Object.entries(config.templates).map(([os, t]) => [t, os]));
        return {
          ok,
          product: `${about.name} ${about.version}`,
          version: `${about.version} build ${about.build}`,
          details,
          choices: {
            storages: datastores.map((d) => d.name),
            networks,
            templates: vms.map((v) => ({ id: v, name: v, ...(osOf[v] ? { os: osOf[v] } : {}) })),
          },
        };
      } catch (e) {
        if (o?.signal?.aborted) throw o.signal.reason;
        details.push(errorMessage(e), ...(e instanceof AppError && e.hint ? [e.hint] : []));
        return { ok: false, product: 'VMware ESXi', details };
      }
    },

    async ensureNetwork(net: NetworkSpec, o) {
      if (net.kind === 'uplink') return { id: config.uplinkPortGroup, name: config.uplinkPortGroup };
      // Without a VLAN the port group is untagged: isolated only on a vSwitch without physical uplinks.
      const vlanId = net.vlan ?? 0;
      return attempt('create', 'port group', net.name, async () => {
        const i = await inv();
        const existing = (await portGroups(i, o)).portgroups.find((p) => p.spec.name === net.name);
        const pgSpec = { name: net.name, vlanId, vswitchName: config.vswitch, policy: {} };
        if (existing && existing.spec.vlanId !== vlanId)
          await i.vim.call('UpdatePortGroup', { _this: i.networkSystem, pgName: net.name, portgrp: pgSpec }, o);
        if (!existing) {
          try {
            await i.vim.call('AddPortGroup', { _this: i.networkSystem, portgrp: pgSpec }, o);
          } catch (e) {
            // A concurrent or repeated create: it exists now, which is what was asked.
            if (faultTypeOf(e) !== 'AlreadyExists' && faultTypeOf(e) !== 'DuplicateName') throw e;
          }
        }
        return { id: net.name, name: net.name };
      });
    },

    async deleteNetwork(ref: NetworkRef, o) {
      if (ref.name === config.uplinkPortGroup) return;
      await attempt('delete', 'port group', ref.name, async () => {
        const i = await inv();
        try {
          await i.vim.call('RemovePortGroup', { _this: i.networkSystem, pgName: ref.id }, o);
        } catch (e) {
          if (faultTypeOf(e) !== 'NotFound') throw e;
        }
      });
    },

    async createMachine(m: MachineSpec, o) {
      return attempt('create', 'VM', m.name, async () => machines.create(await inv(), m, o));
    },

    async startMachine(ref, o) {
      await attempt('power on', 'VM', ref.name, async () => {
        const i = await inv();
        const vm = await resolveVm(i, ref, o);
        const p = vm && (await vmProps(i, vm, ['runtime.powerState'], o));
        if (!vm || !p) throw new AppError('not_found', `[esxi] VM "${ref.name}" does not exist`);
        if (p['runtime.powerState'] === 'poweredOn') return;
        try {
          await runTask(i, 'PowerOnVM_Task', { _this: vm }, o);
        } catch (e) {
          if (faultTypeOf(e) !== 'InvalidPowerState') throw e;
        }
      });
    },

    async stopMachine(ref, o) {
      await attempt('power off', 'VM', ref.name, async () => {
        const i = await inv();
        const vm = await resolveVm(i, ref, o);
        const p = vm && (await vmProps(i, vm, ['runtime.powerState', 'guest.toolsRunningStatus'], o));
        if (!vm || !p || p['runtime.powerState'] === 'poweredOff') return;
        if (
          !o?.force &&
          p['runtime.powerState'] === 'poweredOn' &&
          p['guest.toolsRunningStatus'] === 'guestToolsRunning'
        ) {
          try {
            await i.vim.call('ShutdownGuest', { _this: vm }, o);
            await poll(ref, 'shut down', { ...o, timeoutMs: config.timeouts.shutdownMs }, (s) =>
              s.power !== 'running' ? true : undefined,
            );
          } catch (e) {
            if (o?.signal?.aborted) throw e; // otherwise fall through to a hard power-off
          }
        }
        const now = await vmProps(i, vm, ['runtime.powerState'], o);
        if (now && now['runtime.powerState'] !== 'poweredOff') await powerOff(i, vm, o);
      });
    },

    async getMachineState(ref, o) {
      const s = await attempt('read', 'VM', ref.name, async () => state(await inv(), ref, o));
      return { power: s.power, addresses: s.addresses };
    },

    // VMware Tools reports what the guest has, DHCP leases from any network included: with `expect`, only the plan's
    // addresses count (a machine planned on 10.40.1.10 that reports 192.168.122.5 is not ready).
    async waitForAddress(ref, o) {
      let seen: string[] = [];
      let tools: string | undefined;
      try {
        return await poll(ref, 'report an address', o, (s) => {
          seen = s.addresses;
          tools = s.tools;
          if (o.expect && o.expect.length > 0)
            return missingAddresses(o.expect, s.addresses).length ? undefined : s.addresses;
          return s.addresses.length ? s.addresses : undefined;
        });
      } catch (e) {
        if (!(e instanceof AppError && e.code === 'timeout')) throw e;
        throw addressTimeout(
          'esxi',
          ref.name,
          o.timeoutMs,
          o.expect,
          seen,
          `VMware Tools ${tools ?? 'status unknown'}. ${o.expect?.length ? 'Check the network-config on the seed ISO and that no DHCP server on the port group hands out other addresses.' : 'Check that the template or image has VMware Tools (open-vm-tools) and that its network comes up.'}`,
        );
      }
    },

    async firstBootDelivery(o): Promise<FirstBootDelivery> {
      return attempt('check first-boot delivery on', 'host', config.host, async () => {
        const i = await inv();
        const stores = await i.vim.list('Datastore', ['name', 'summary.accessible'], o);
        const store = stores.find((d) => d.props.name === ds);
        const method = `NoCloud seed ISO on datastore ${ds}`;
        if (!store)
          return {
            method,
            complete: false,
            detail: `datastore "${ds}" does not exist on ${config.host} (have: ${stores.map((d) => String(d.props.name)).join(', ') || 'none'}): set the platform's datastore`,
          };
        if (String(store.props['summary.accessible']) === 'false')
          return { method, complete: false, detail: `datastore "${ds}" is not accessible on ${config.host}` };
        return {
          method,
          complete: true,
          detail: `full user-data on a NoCloud seed ISO (volume cidata) written to [${ds}] <machine>/<machine>-seed.iso and attached as a CD, removed once the machine is ready`,
        };
      });
    },

    async capacity(o): Promise<PlatformCapacity> {
      return attempt('read the capacity of', 'host', config.host, async () => {
        const i = await inv();
        const [host] = await i.vim.retrieve(
          [i.host],
          'HostSystem',
          ['summary.hardware.numCpuThreads', 'summary.hardware.memorySize', 'summary.quickStats.overallMemoryUsage'],
          o,
        );
        const vms = await i.vim.list('VirtualMachine', ['runtime.powerState', 'config.hardware.numCPU'], o);
        const store = (await i.vim.list('Datastore', ['name', 'summary.freeSpace'], o)).find(
          (d) => d.props.name === ds,
        );
        const threads = Number(host?.props['summary.hardware.numCpuThreads'] ?? 0);
        const totalMb = Math.floor(Number(host?.props['summary.hardware.memorySize'] ?? 0) / 2 ** 20);
        const usedMb = Number(host?.props['summary.quickStats.overallMemoryUsage'] ?? 0);
        const running = vms
          .filter((v) => v.props['runtime.powerState'] === 'poweredOn')
          .reduce((sum, v) => sum + Number(v.props['config.hardware.numCPU'] ?? 0), 0);
        const cpus = Math.max(0, Math.floor(threads * config.cpuOvercommit) - running);
        const memoryMb = Math.max(0, totalMb - usedMb);
        const storageGb = store ? Math.floor(Number(store.props['summary.freeSpace'] ?? 0) / 2 ** 30) : undefined;
        return {
          cpus,
          memoryMb,
          ...(storageGb === undefined ? {} : { storageGb }),
          detail:
            `host ${config.host}: ${threads} logical CPUs x ${config.cpuOvercommit} (cpuOvercommit) - ${running} vCPUs of powered-on VMs = ${cpus} vCPUs; ` +
            `${memoryMb} MiB of ${totalMb} MiB memory free; ` +
            `datastore ${ds}: ${storageGb === undefined ? 'not found' : `${storageGb} GiB free`}`,
        };
      });
    },

    // vSphere cannot see cloud-init itself: "ready" is VMware Tools running plus a usable address, which the guest
    // reaches after cloud-init's local and network stages have read the seed. Failures inside cloud-init are not visible.
    async waitForReady(ref, o) {
      await poll(ref, 'become ready', o, (s) =>
        s.tools === 'guestToolsRunning' && s.addresses.length ? true : undefined,
      );
      await attempt('detach the seed ISO from', 'VM', ref.name, async () => {
        const i = await inv();
        const vm = await resolveVm(i, ref, o);
        if (vm) await detachSeed(i, vm, ref.name, o);
      });
    },

    async createSnapshot(ref, name, o) {
      await attempt('snapshot', 'VM', ref.name, async () => {
        const i = await inv();
        const { vm, nodes } = await snapshotTree(i, ref, o);
        if (nodes.some((n) => n.name === name)) return;
        await runTask(
          i,
          'CreateSnapshot_Task',
          { _this: vm, name, description: 'Glassdome', memory: false, quiesce: false },
          o,
        );
      });
    },

    async listSnapshots(ref, o) {
      return attempt('list snapshots of', 'VM', ref.name, async () => {
        const i = await inv();
        const vm = await resolveVm(i, ref, o);
        const p = vm && (await vmProps(i, vm, ['snapshot'], o));
        if (!p) throw new AppError('not_found', `[esxi] VM "${ref.name}" does not exist`);
        return spec.snapshotInfos((p.snapshot as { rootSnapshotList?: unknown } | undefined)?.rootSnapshotList);
      });
    },

    async revertSnapshot(ref, name, o) {
      await attempt('revert', 'VM', ref.name, async () => {
        const i = await inv();
        const hit = (await snapshotTree(i, ref, o)).nodes.find((n) => n.name === name);
        if (!hit) throw new AppError('not_found', `[esxi] Snapshot "${name}" does not exist`);
        await runTask(i, 'RevertToSnapshot_Task', { _this: hit.snapshot }, o);
      });
    },

    async deleteSnapshot(ref, name, o) {
      await attempt('delete a snapshot of', 'VM', ref.name, async () => {
        const i = await inv();
        const hit = (await snapshotTree(i, ref, o)).nodes.find((n) => n.name === name);
        if (!hit) return;
        try {
          await runTask(i, 'RemoveSnapshot_Task', { _this: hit.snapshot, removeChildren: false }, o);
        } catch (e) {
          if (faultTypeOf(e) !== 'ManagedObjectNotFound') throw e;
        }
      });
    },

    async destroyMachine(ref, o) {
      await attempt('destroy', 'VM', ref.name, async () => {
        const i = await inv();
        await destroyVm(i, await resolveVm(i, ref, o), ref.name, o);
      });
    },

    async listOwned(deploymentId, o) {
      const prefix = spec.namePrefix(deploymentId);
      const i = await inv();
      const out: OwnedResource[] = [];
      const vms = await i.vim.list('VirtualMachine', ['name', 'config.extraConfig'], o);
      const vmNames = new Set<string>();
      for (const v of vms) {
        const name = String(v.props.name);
        if (
          name.startsWith(prefix) ||
          spec.extraConfigValue(v.props['config.extraConfig'], spec.ownerKey) === deploymentId
        ) {
          out.push({ kind: 'machine', id: v.obj.$value, name });
          vmNames.add(name);
        }
      }
      for (const pg of (await portGroups(i, o)).portgroups)
        if (pg.spec.name.startsWith(prefix)) out.push({ kind: 'network', id: pg.spec.name, name: pg.spec.name });
      // Seed ISOs and disks in folders whose VM is gone (an interrupted create or destroy). A live VM's folder
      // goes with the VM, so its files are not listed separately.
      for (const f of await searchDatastore(i, ['*-seed.iso', '*.vmdk'], o)) {
        if (!f.folder.startsWith(prefix) || vmNames.has(f.folder)) continue;
        const path = `[${ds}] ${f.folder}/${f.file}`;
        out.push({ kind: f.file.endsWith('-seed.iso') ? 'other' : 'disk', id: path, name: f.file });
      }
      return out;
    },

    async inventory(o) {
      return attempt('read the inventory of', 'host', config.host, async () => {
        const i = await inv();
        const vms = await i.vim.list(
          'VirtualMachine',
          o?.config ? [...inventoryPaths, 'config.hardware.device'] : inventoryPaths,
          o,
        );
        const vlans = o?.config
          ? new Map((await portGroups(i, o)).portgroups.map((pg) => [pg.spec.name, Number(pg.spec.vlanId)]))
          : new Map<string, number>();
        return inventoryFrom(vms, o ?? {}, vlans);
      });
    },

    async close() {
      const c = connecting;
      connecting = undefined;
      if (c)
        await c.then(
          (i) => i.vim.logout(),
          () => undefined,
        );
    },
  };
}
