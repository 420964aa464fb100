// Node network and SDN endpoints (relevant.md B10): node changes are staged until PUT /nodes/{node}/network
// reloads them; SDN zones, vnets and subnets stay pending until PUT /cluster/sdn applies them.
import { dieError, paramError } from './pve-error.ts';
import type { Handler, HandlerContext } from './sim.ts';
import { checkNode, flag, startTask, str, taskMs } from './sim.ts';
import type { Iface, NodeState, SdnObject } from './state.ts';

const controlKeys = new Set([
  'node',
  'iface',
  'delete',
  'digest',
  'lock-token',
  'pending',
  'running',
  'zone-id',
  'vnet-id',
]);

function node(ctx: HandlerContext): NodeState {
  return ctx.sim.state.nodes.get(checkNode(ctx)) as NodeState;
}

/** The interfaces as GET shows them: the staged file when there is one. */
function view(n: NodeState): Map<string, Iface> {
  return n.stagedNetwork ?? n.network;
}

function staged(n: NodeState): Map<string, Iface> {
  n.stagedNetwork ??= new Map([...n.network].map(([k, v]) => [k, { ...v }]));
  return n.stagedNetwork;
}

function ifaceValues(ctx: HandlerContext): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(ctx.params)) {
    if (controlKeys.has(k) || v === undefined) continue;
    out[k] = typeof v === 'boolean' ? (v ? 1 : 0) : Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

const listIfaces: Handler = (ctx) => {
  const type = ctx.params.type === undefined ? undefined : String(ctx.params.type);
  const n = node(ctx);
  const rows = [...view(n).values()].filter(
    (i) =>
      type === undefined ||
      i.type === type ||
      (type === 'any_bridge' && /bridge/i.test(i.type)) ||
      (type === 'any_local_bridge' && i.type === 'bridge'),
  );
  const extra =
    type === 'include_sdn' || type === 'any_bridge'
      ? [...ctx.sim.state.sdn.vnets.entries()]
          .filter(([, v]) => v.running)
          .map(([id]) => ({ iface: id, type: 'vnet', active: 1 }))
      : [];
  return [...rows, ...extra];
};

const createIface: Handler = (ctx) => {
  const n = node(ctx);
  const iface = str(ctx.params, 'iface');
  if (view(n).has(iface)) throw paramError({ iface: 'interface already exists' });
  staged(n).set(iface, { ...ifaceValues(ctx), iface, type: str(ctx.params, 'type'), active: 0 } as Iface);
  return null;
};

const getIface: Handler = (ctx) => {
  const iface = str(ctx.params, 'iface');
  const found = view(node(ctx)).get(iface);
  if (!found) throw dieError(`interface does not exist`);
  return { method: 'manual', ...found };
};

const updateIface: Handler = (ctx) => {
  const n = node(ctx);
  const iface = str(ctx.params, 'iface');
  const cur = staged(n).get(iface);
  if (!cur) throw dieError(`interface does not exist`);
  for (const k of String(ctx.params.delete ?? '')
    .split(/[,;\s]+/)
    .filter(Boolean))
    delete cur[k];
  Object.assign(cur, ifaceValues(ctx));
  return null;
};

const deleteIface: Handler = (ctx) => {
  const n = node(ctx);
  const iface = str(ctx.params, 'iface');
  if (!view(n).has(iface)) throw dieError(`interface does not exist`);
  staged(n).delete(iface);
  return null;
};

const reload: Handler = (ctx) => {
  const n = node(ctx);
  return startTask(ctx, n.name, 'srvreload', 'networking', async (t) => {
    await t.work(taskMs(ctx.sim, 'srvreload'));
    if (n.stagedNetwork) {
      n.network = new Map([...n.stagedNetwork].map(([k, v]) => [k, { ...v, active: 1 }]));
      n.stagedNetwork = undefined;
    }
  });
};

const revert: Handler = (ctx) => {
  node(ctx).stagedNetwork = undefined;
  return null;
};

type Kind = 'zones' | 'vnets' | 'subnets';
const idKey: Record<Kind, string> = { zones: 'zone', vnets: 'vnet', subnets: 'subnet' };

function current(o: SdnObject): Record<string, string | number> | undefined {
  if (o.deleted) return undefined;
  return o.pending ?? o.running;
}

/** GET on an SDN collection: the edited config by default, `running=1` applied only, `pending=1` with states. */
function sdnRow(kind: Kind, id: string, o: SdnObject, ctx: HandlerContext): Record<string, unknown> | undefined {
  const key = idKey[kind];
  // Subnets are keyed `<vnet>/<id>` here; PVE shows the bare `<zone>-<ip>-<mask>` id.
  id = kind === 'subnets' ? id.slice(id.indexOf('/') + 1) : id;
  if (flag(ctx.params, 'running')) return o.running ? { [key]: id, ...o.running } : undefined;
  if (flag(ctx.params, 'pending')) {
    const state = o.deleted ? 'deleted' : !o.running ? 'new' : o.pending ? 'changed' : undefined;
    return {
      [key]: id,
      ...(o.running ?? {}),
      ...(o.pending ? { pending: o.pending } : {}),
      ...(state ? { state } : {}),
    };
  }
  const values = current(o);
  return values ? { [key]: id, ...values } : undefined;
}

function sdnList(kind: Kind, filter?: (ctx: HandlerContext, id: string) => boolean): Handler {
  return (ctx) =>
    [...ctx.sim.state.sdn[kind].entries()]
      .filter(([id]) => !filter || filter(ctx, id))
      .map(([id, o]) => sdnRow(kind, id, o, ctx))
      .filter((r) => r !== undefined);
}

function sdnGet(kind: Kind, idOf: (ctx: HandlerContext) => string): Handler {
  return (ctx) => {
    const id = idOf(ctx);
    const o = ctx.sim.state.sdn[kind].get(id);
    const row = o && sdnRow(kind, id, o, ctx);
    if (!row) throw dieError(`sdn ${idKey[kind]} '${id}' does not exist`);
    return row;
  };
}

function sdnValues(ctx: HandlerContext): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(ctx.params)) {
    if (controlKeys.has(k) || ['zone', 'vnet', 'subnet'].includes(k) || v === undefined) continue;
    out[k] = typeof v === 'boolean' ? (v ? 1 : 0) : Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

function liveZone(ctx: HandlerContext, zone: string): Record<string, string | number> {
  const z = ctx.sim.state.sdn.zones.get(zone);
  const values = z && current(z);
  if (!values) throw paramError({ zone: `zone '${zone}' doesn't exist` });
  return values;
}

/** Zone-type rules for a vnet's tag: VLAN zones need one, unique and at most 4096; Simple zones take none. */
function checkVnet(ctx: HandlerContext, vnet: string, values: Record<string, string | number>): void {
  const zone = liveZone(ctx, String(values.zone));
  const tag = values.tag === undefined ? undefined : Number(values.tag);
  if (zone.type === 'vlan' || zone.type === 'qinq') {
    if (tag === undefined) throw paramError({ tag: 'missing vlan tag' });
    if (tag > 4096) throw paramError({ tag: 'vlan tag max value is 4096' });
    for (const [id, o] of ctx.sim.state.sdn.vnets) {
      const v = current(o);
      if (id !== vnet && v && v.zone === values.zone && Number(v.tag) === tag)
        throw paramError({ tag: `tag ${tag} already exists in vnet: ${id}` });
    }
  }
  if (zone.type === 'simple' && tag !== undefined)
    throw paramError({ tag: "vlan tag is not allowed on 'simple' zone" });
}

function sdnCreate(kind: Kind): Handler {
  return (ctx) => {
    const sdn = ctx.sim.state.sdn;
    const values = sdnValues(ctx);
    let id = str(ctx.params, idKey[kind]);
    if (kind === 'vnets') checkVnet(ctx, id, { ...values, zone: str(ctx.params, 'zone') });
    if (kind === 'vnets') values.zone = str(ctx.params, 'zone');
    if (kind === 'subnets') {
      const vnetId = str(ctx.params, 'vnet');
      const vnet = sdn.vnets.get(vnetId);
      const v = vnet && current(vnet);
      if (!v) throw dieError(`vnet '${vnetId}' does not exist`);
      if (Number(v.vlanaware ?? 0) === 1) throw dieError("vlanaware vnet can't have subnets");
      const [ip, mask] = id.split('/');
      id = `${vnetId}/${String(v.zone)}-${ip ?? id}-${mask ?? '32'}`;
      values.vnet = vnetId;
    }
    const existing = sdn[kind].get(id);
    if (existing && !existing.deleted)
      throw dieError(`sdn ${idKey[kind]} object ID '${id.split('/').pop() ?? id}' already defined`);
    if (kind === 'zones') values.type = str(ctx.params, 'type');
    sdn[kind].set(id, { running: existing?.running, pending: values, deleted: false });
    return null;
  };
}

function sdnUpdate(kind: Kind, idOf: (ctx: HandlerContext) => string): Handler {
  return (ctx) => {
    const id = idOf(ctx);
    const o = ctx.sim.state.sdn[kind].get(id);
    const cur = o && current(o);
    if (!o || !cur) throw dieError(`sdn ${idKey[kind]} '${id}' does not exist`);
    const next = { ...cur, ...sdnValues(ctx) };
    for (const k of String(ctx.params.delete ?? '')
      .split(/[,;\s]+/)
      .filter(Boolean))
      delete next[k];
    if (kind === 'vnets') checkVnet(ctx, id, next);
    o.pending = next;
    return null;
  };
}

function sdnDelete(kind: Kind, idOf: (ctx: HandlerContext) => string): Handler {
  return (ctx) => {
    const sdn = ctx.sim.state.sdn;
    const id = idOf(ctx);
    const o = sdn[kind].get(id);
    if (!o || !current(o)) throw dieError(`sdn ${idKey[kind]} '${id}' does not exist`);
    if (kind === 'vnets' && [...sdn.subnets.entries()].some(([sid, s]) => sid.startsWith(`${id}/`) && current(s)))
      throw dieError("Can't delete vnet if subnets exists");
    if (kind === 'zones' && [...sdn.vnets.values()].some((v) => current(v)?.zone === id))
      throw dieError(`Can't delete zone ${id}, it's used by vnets`);
    if (!o.running) sdn[kind].delete(id);
    else o.deleted = true;
    return null;
  };
}

const apply: Handler = (ctx) => {
  const sdn = ctx.sim.state.sdn;
  const first = [...ctx.sim.state.nodes.keys()][0] ?? 'pve';
  return startTask(ctx, first, 'reloadnetworkall', '', async (t) => {
    await t.work(taskMs(ctx.sim, 'reloadnetworkall'));
    for (const kind of ['zones', 'vnets', 'subnets'] as const) {
      for (const [id, o] of [...sdn[kind]]) {
        if (o.deleted) sdn[kind].delete(id);
        else if (o.pending) sdn[kind].set(id, { running: o.pending });
      }
    }
  });
};

const zoneId = (ctx: HandlerContext): string => str(ctx.params, 'zone');
const vnetId = (ctx: HandlerContext): string => str(ctx.params, 'vnet');
const subnetId = (ctx: HandlerContext): string => `${str(ctx.params, 'vnet')}/${str(ctx.params, 'subnet')}`;

export const networkHandlers: Record<string, Handler> = {
  'GET /nodes/{node}/network': listIfaces,
  'POST /nodes/{node}/network': createIface,
  'PUT /nodes/{node}/network': reload,
  'DELETE /nodes/{node}/network': revert,
  'GET /nodes/{node}/network/{iface}': getIface,
  'PUT /nodes/{node}/network/{iface}': updateIface,
  'DELETE /nodes/{node}/network/{iface}': deleteIface,
  'GET /cluster/sdn': () => [{ id: 'controllers' }, { id: 'vnets' }, { id: 'zones' }],
  'PUT /cluster/sdn': apply,
  'GET /cluster/sdn/zones': sdnList(
    'zones',
    (ctx, id) =>
      ctx.params.type === undefined || current(ctx.sim.state.sdn.zones.get(id) ?? {})?.type === ctx.params.type,
  ),
  'POST /cluster/sdn/zones': sdnCreate('zones'),
  'GET /cluster/sdn/zones/{zone}': sdnGet('zones', zoneId),
  'PUT /cluster/sdn/zones/{zone}': sdnUpdate('zones', zoneId),
  'DELETE /cluster/sdn/zones/{zone}': sdnDelete('zones', zoneId),
  'GET /cluster/sdn/vnets': sdnList('vnets'),
  'POST /cluster/sdn/vnets': sdnCreate('vnets'),
  'GET /cluster/sdn/vnets/{vnet}': sdnGet('vnets', vnetId),
  'PUT /cluster/sdn/vnets/{vnet}': sdnUpdate('vnets', vnetId),
  'DELETE /cluster/sdn/vnets/{vnet}': sdnDelete('vnets', vnetId),
  'GET /cluster/sdn/vnets/{vnet}/subnets': sdnList('subnets', (ctx, id) =>
    id.startsWith(`${str(ctx.params, 'vnet')}/`),
  ),
  'POST /cluster/sdn/vnets/{vnet}/subnets': sdnCreate('subnets'),
  'GET /cluster/sdn/vnets/{vnet}/subnets/{subnet}': sdnGet('subnets', subnetId),
  'PUT /cluster/sdn/vnets/{vnet}/subnets/{subnet}': sdnUpdate('subnets', subnetId),
  'DELETE /cluster/sdn/vnets/{vnet}/subnets/{subnet}': sdnDelete('subnets', subnetId),
};
