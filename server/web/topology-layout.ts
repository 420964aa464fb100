// The drawing of each instance as data: network columns under the router, machines under their first network with
// their addresses, links to the other networks they sit on, and the router's firewall rules named by network.
import type { FirewallRule } from '../model/plan.ts';
import type { Box, DeploymentModel, TopologyInstance } from '../../views/props.ts';

const col = 210;
const margin = 20;

export function topologyOf(model: DeploymentModel): TopologyInstance[] {
  const instances = [...new Set(model.machines.map((m) => m.instance))].sort((a, b) => a - b);
  return instances.map((inst) => {
    const routerM = model.machines.find((m) => m.instance === inst && m.role === 'router');
    const planned = model.plan.machines.find((m) => m.instance === inst && m.role === 'router');
    // A cloud's router is one-armed: its edge network is drawn as the router itself, linked to the networks it
    // serves (their internet egress, or all of them with a VPN); the cloud routes between the others.
    const cloud = planned?.router?.cloud !== undefined;
    const edgeKey = cloud ? planned!.nics[0]?.networkKey : undefined;
    const nets = model.networks.filter((n) => n.instance === inst && n.key !== edgeKey);
    const served = (key: string) =>
      !cloud ||
      planned!.router!.vpn !== undefined ||
      model.plan.networks.find((p) => p.key === key)?.egress === 'router';
    const machines = model.machines.filter((m) => m.instance === inst && m.role !== 'router');
    const width = Math.max(nets.length * col + margin * 2, 460);
    const hasUplink = planned?.router?.uplinkNic !== undefined;
    // Room for the uplink above the router only when there is one.
    const routerY = hasUplink ? 64 : 14;
    const netY = routerM ? routerY + 86 : 30;
    const networks = nets.map((n, i) => ({
      key: n.key,
      name: n.name,
      cidr: n.cidr,
      ...(n.vlan === undefined ? {} : { vlan: n.vlan }),
      internet: n.internet,
      x: margin + i * col,
      y: netY,
      w: col - 20,
      h: 46,
    }));
    const netBox = new Map(networks.map((n) => [n.key, n]));
    const links: TopologyInstance['links'] = [];
    let uplink: Box | undefined;
    let router: TopologyInstance['router'];
    if (routerM) {
      router = {
        x: width / 2 - 90,
        y: routerY,
        w: 180,
        h: 46,
        hostname: routerM.hostname,
        state: routerM.state,
        key: routerM.key,
        addresses: routerM.plannedAddresses,
        ...(cloud
          ? {
              sub: [
                ...(planned!.router!.nat.length > 0 ? ['internet egress'] : []),
                ...(planned!.router!.vpn ? ['VPN'] : []),
              ].join(', '),
            }
          : {}),
      };
      for (const n of networks.filter((x) => served(x.key)))
        links.push({ x1: width / 2, y1: router.y + router.h, x2: n.x + n.w / 2, y2: n.y, kind: 'router' });
      if (hasUplink) {
        uplink = { x: width / 2 - 60, y: 8, w: 120, h: 30 };
        links.push({ x1: width / 2, y1: uplink.y + uplink.h, x2: width / 2, y2: router.y, kind: 'uplink' });
      }
    }
    const perColumn = new Map<string, number>();
    const machineBoxes = machines.map((m) => {
      const nics = model.plan.machines.find((p) => p.key === m.key)?.nics ?? [];
      const primary = nics.find((n) => netBox.has(n.networkKey))?.networkKey ?? networks[0]?.key ?? '';
      const row = perColumn.get(primary) ?? 0;
      perColumn.set(primary, row + 1);
      const nb = netBox.get(primary) ?? { x: margin, y: netY, w: col - 20, h: 46 };
      const box = {
        key: m.key,
        hostname: m.hostname,
        os: m.os,
        state: m.state,
        addresses: m.addresses.length > 0 ? m.addresses : m.plannedAddresses,
        x: nb.x + 10,
        y: netY + 80 + row * 66,
        w: nb.w - 20,
        h: 52,
      };
      links.push({ x1: nb.x + nb.w / 2, y1: nb.y + nb.h, x2: box.x + box.w / 2, y2: box.y, kind: 'primary' });
      for (const nic of nics.slice(1)) {
        const other = netBox.get(nic.networkKey);
        if (other)
          links.push({
            x1: other.x + other.w / 2,
            y1: other.y + other.h,
            x2: box.x + box.w,
            y2: box.y + box.h / 2,
            kind: 'secondary',
          });
      }
      return box;
    });
    const rows = Math.max(0, ...perColumn.values());
    const nameOf = (cidr: string) => {
      const n = nets.find((x) => x.cidr === cidr);
      if (n) return n.name;
      const m = model.plan.machines.find((x) => x.instance === inst && x.nics.some((nic) => `${nic.ip}/32` === cidr));
      return m ? `${m.hostname} (${cidr.replace('/32', '')})` : cidr;
    };
    // The scenario's firewall as the plan resolved it: the router enforces it on premises, security groups and NSGs on
    // the clouds (a cloud's router adds its rules to the internet egress it carries).
    const rules = model.plan.firewall.rules.map((r: FirewallRule) => ({
      from: r.from.map(nameOf).join(', '),
      to: r.to.map(nameOf).join(', '),
      protocol: r.protocol,
      ports: r.ports.length === 0 ? 'all' : r.ports.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(', '),
      action: r.action,
    }));
    return {
      instance: inst,
      assignedTo: model.assigned.get(inst)?.username ?? null,
      width,
      height: netY + 80 + rows * 66 + 10,
      ...(uplink ? { uplink } : {}),
      ...(router ? { router } : {}),
      networks,
      machines: machineBoxes,
      links,
      rules,
      forwardDefault: model.plan.firewall.default,
    };
  });
}
