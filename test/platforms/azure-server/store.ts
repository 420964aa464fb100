// The ARM test server's inventory: resource groups and the resources in them, keyed by lower-cased id (ARM ids are
// case-insensitive), with a creation count per id so tests can assert that nothing was created twice.

export interface ArmResource {
  id: string;
  /** Canonical type, e.g. `Microsoft.Network/networkInterfaces`; subnets are `.../virtualNetworks/subnets`. */
  type: string;
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  properties: Record<string, any>;
  sku?: Record<string, unknown>;
  plan?: Record<string, unknown>;
  /** Simulation data (power, boot times, the op in progress); never returned. */
  sim: Record<string, any>;
}

export interface ResourceGroup {
  id: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  state: 'Succeeded' | 'Deleting';
}

export interface ArmStore {
  subscriptionId: string;
  groups: Map<string, ResourceGroup>;
  resources: Map<string, ArmResource>;
  /** Lower-cased id -> how many times a request brought it into existence. */
  created: Map<string, number>;
  group(name: string): ResourceGroup | undefined;
  get(id: string): ArmResource | undefined;
  put(r: ArmResource): void;
  remove(id: string): void;
  inGroup(rg: string): ArmResource[];
  childrenOf(parentId: string): ArmResource[];
  /** What exists: every resource group and resource id. */
  inventory(): string[];
}

export function createStore(subscriptionId: string): ArmStore {
  const groups = new Map<string, ResourceGroup>();
  const resources = new Map<string, ArmResource>();
  const created = new Map<string, number>();
  return {
    subscriptionId,
    groups,
    resources,
    created,
    group: (name) => groups.get(name.toLowerCase()),
    get: (id) => resources.get(id.toLowerCase()),
    put(r) {
      const key = r.id.toLowerCase();
      if (!resources.has(key)) created.set(key, (created.get(key) ?? 0) + 1);
      resources.set(key, r);
    },
    remove: (id) => void resources.delete(id.toLowerCase()),
    inGroup: (rg) => [...resources.values()].filter((r) => r.resourceGroup.toLowerCase() === rg.toLowerCase()),
    childrenOf: (parentId) =>
      [...resources.values()].filter((r) => r.id.toLowerCase().startsWith(`${parentId.toLowerCase()}/`)),
    inventory: () => [...[...groups.values()].map((g) => g.id), ...[...resources.values()].map((r) => r.id)],
  };
}

export function groupId(sub: string, rg: string): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}`;
}

export function resourceId(sub: string, rg: string, type: string, name: string): string {
  return `${groupId(sub, rg)}/providers/${type}/${name}`;
}

/** The parts of a resource id: its group, provider type path and names. */
export function parseId(id: string): { sub: string; rg: string; type: string; name: string } | undefined {
  const m =
    /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)(?:\/([^/]+)\/([^/]+))?$/i.exec(
      id,
    );
  if (!m) return undefined;
  return { sub: m[1]!, rg: m[2]!, type: m[5] ? `${m[3]}/${m[5]}` : m[3]!, name: m[6] ?? m[4]! };
}

/**
 * The OData `$filter`s ARM lists take that the driver uses: `tagName eq 'k' [and tagValue eq 'v']`,
 * `resourceType eq 't'` and `location eq 'l'` (joined by `and`). Anything else is a 400, as on ARM.
 */
export function parseFilter(
  filter: string | null,
): ((x: { tags?: Record<string, string>; type?: string; location?: string }) => boolean) | { error: string } {
  if (!filter) return () => true;
  const clauses = filter
    .split(/\s+and\s+/i)
    .map((c) => /^\s*(tagName|tagValue|resourceType|location)\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(c));
  if (clauses.some((c) => !c)) return { error: `Invalid $filter '${filter}'.` };
  const get = (k: string) => clauses.find((c) => c![1]!.toLowerCase() === k.toLowerCase())?.[2]?.replaceAll("''", "'");
  const tagName = get('tagName');
  const tagValue = get('tagValue');
  const type = get('resourceType');
  const location = get('location');
  if (tagValue !== undefined && tagName === undefined) return { error: 'tagValue needs tagName in $filter.' };
  return (x) => {
    if (tagName !== undefined) {
      const key = Object.keys(x.tags ?? {}).find((k) => k.toLowerCase() === tagName.toLowerCase());
      if (key === undefined) return false;
      if (tagValue !== undefined && x.tags![key] !== tagValue) return false;
    }
    if (type !== undefined && x.type?.toLowerCase() !== type.toLowerCase()) return false;
    if (location !== undefined && x.location?.toLowerCase() !== location.toLowerCase()) return false;
    return true;
  };
}
