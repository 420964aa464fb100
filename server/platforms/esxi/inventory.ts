// The ESXi inventory in one PropertyCollector retrieve over every VM: the ones whose extra config or name says they
// are Glassdome's, with power, vCPUs, memory, CPU load, VMware Tools and the guest's addresses (which vSphere reports
// in the same batch), and their NICs' port groups with the VLAN each port group carries.
import { deploymentOfName, type InventoryMachine, type InventoryOptions } from '../platform.ts';
import type { PropertyResult } from './soap.ts';
import { devicesOf, extraConfigValue, guestAddresses, ownerKey, powerStates } from './vm-spec.ts';

export const inventoryPaths = [
  'name',
  'config.template',
  'config.extraConfig',
  'config.hardware.numCPU',
  'config.hardware.memoryMB',
  'runtime.powerState',
  'runtime.maxCpuUsage',
  'summary.quickStats.overallCpuUsage',
  'guest.toolsRunningStatus',
  'guest.net',
  'guest.ipAddress',
];

/** The inventory from one retrieve (with `config.hardware.device` when NICs are wanted) and the port groups' VLANs. */
export function inventoryFrom(
  vms: PropertyResult[],
  opts: InventoryOptions,
  vlans: Map<string, number>,
): InventoryMachine[] {
  const wanted = opts.deploymentIds ? new Set(opts.deploymentIds) : undefined;
  const out: InventoryMachine[] = [];
  for (const v of vms) {
    const p = v.props;
    if (String(p['config.template']) === 'true') continue;
    const name = String(p.name ?? '');
    const tagged = extraConfigValue(p['config.extraConfig'], ownerKey);
    const deploymentId = tagged ?? deploymentOfName(name);
    if (!deploymentId || (wanted && !wanted.has(deploymentId))) continue;
    const power = powerStates[p['runtime.powerState'] as keyof typeof powerStates] ?? 'stopped';
    const used = Number(p['summary.quickStats.overallCpuUsage'] ?? NaN);
    const max = Number(p['runtime.maxCpuUsage'] ?? NaN);
    const tools = p['guest.toolsRunningStatus'] as string | undefined;
    const m: InventoryMachine = {
      id: v.obj.$value,
      name,
      deploymentId,
      owner: tagged ? 'tag' : 'name',
      power,
      ...(p['config.hardware.numCPU'] !== undefined ? { cpus: Number(p['config.hardware.numCPU']) } : {}),
      ...(p['config.hardware.memoryMB'] !== undefined ? { memoryMb: Number(p['config.hardware.memoryMB']) } : {}),
      ...(Number.isFinite(used) && max > 0 ? { cpuLoad: Math.min(1, used / max) } : {}),
      // vSphere carries the guest's view in the same batch: no extra call either way.
      ...(tools !== undefined ? { agent: power === 'running' && tools === 'guestToolsRunning' } : {}),
      addresses: power === 'running' ? guestAddresses(p['guest.net'], p['guest.ipAddress']) : [],
    };
    if (opts.config)
      m.nics = devicesOf(p['config.hardware.device']).flatMap((d) => {
        const portGroup = d.backing?.deviceName;
        if (typeof portGroup !== 'string' || d.macAddress === undefined) return [];
        const vlan = vlans.get(portGroup);
        return [
          {
            network: portGroup,
            ...(vlan === undefined ? {} : { vlan }),
            mac: String(d.macAddress).toLowerCase(),
          },
        ];
      });
    out.push(m);
  }
  return out;
}
