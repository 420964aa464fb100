// Microsoft.Resources: resource groups (PUT is synchronous, DELETE a long-running operation that deletes everything
// in the group and answers on a Location URL), resource listings with tag filters, and provider registration.
import { ArmError, armErrors } from './arm-error.ts';
import { view, type Ctx, type Route } from './routes.ts';
import { groupId, parseFilter, type ResourceGroup } from './store.ts';

function groupView(g: ResourceGroup) {
  return {
    id: g.id,
    name: g.name,
    type: 'Microsoft.Resources/resourceGroups',
    location: g.location,
    tags: g.tags,
    properties: { provisioningState: g.state },
  };
}

function existingGroup(ctx: Ctx): ResourceGroup {
  const g = ctx.sim.store.group(ctx.params.resourceGroupName!);
  if (!g) throw armErrors.resourceGroupNotFound(ctx.params.resourceGroupName!);
  return g;
}

const providerTypes: Record<string, string[]> = {
  'microsoft.compute': ['virtualMachines', 'disks', 'locations', 'locations/operations', 'skus'],
  'microsoft.network': [
    'virtualNetworks',
    'networkSecurityGroups',
    'networkInterfaces',
    'publicIPAddresses',
    'locations/operations',
  ],
  'microsoft.resources': ['resourceGroups', 'subscriptions'],
};

export const resourceGroupRoutes: Route[] = [
  {
    method: 'GET',
    path: '/resourcegroups',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/resourceGroups/read',
    handle(ctx) {
      const match = parseFilter(ctx.query.get('$filter'));
      if ('error' in match) throw armErrors.badRequest('InvalidFilterInQueryString', match.error);
      return {
        status: 200,
        body: {
          value: [...ctx.sim.store.groups.values()]
            .filter((g) => match({ tags: g.tags, location: g.location }))
            .map(groupView),
        },
      };
    },
  },
  {
    method: 'PUT',
    path: '/resourcegroups/{resourceGroupName}',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/resourceGroups/write',
    handle(ctx) {
      const { sim, params, body } = ctx;
      const name = params.resourceGroupName!;
      if (!/^[-\w._()]{1,90}$/.test(name) || name.endsWith('.'))
        throw armErrors.badRequest(
          'InvalidResourceGroup',
          `The provided resource group name '${name}' has these invalid characters or is too long.`,
        );
      const location = String(body?.location ?? '');
      if (!sim.locations.includes(location.toLowerCase()))
        throw armErrors.badRequest(
          'LocationNotAvailableForResourceGroup',
          `The provided location '${location}' is not available for resource group. List of available regions is '${sim.locations.join(',')}'.`,
        );
      const existing = sim.store.group(name);
      if (existing?.state === 'Deleting')
        throw armErrors.conflict(
          'ResourceGroupBeingDeleted',
          `The resource group '${existing.name}' is in deprovisioning state and cannot perform this operation.`,
        );
      if (existing && existing.location !== location.toLowerCase())
        throw armErrors.conflict(
          'InvalidResourceGroupLocation',
          `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.location}'.`,
        );
      const g: ResourceGroup = existing ?? {
        id: groupId(sim.store.subscriptionId, name),
        name,
        location: location.toLowerCase(),
        tags: {},
        state: 'Succeeded',
      };
      g.tags = { ...(body?.tags ?? {}) };
      if (!existing) {
        sim.store.groups.set(name.toLowerCase(), g);
        sim.store.created.set(g.id.toLowerCase(), (sim.store.created.get(g.id.toLowerCase()) ?? 0) + 1);
      }
      return { status: existing ? 200 : 201, body: groupView(g) };
    },
  },
  {
    method: 'GET',
    path: '/resourcegroups/{resourceGroupName}',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/resourceGroups/read',
    handle: (ctx) => ({ status: 200, body: groupView(existingGroup(ctx)) }),
  },
  {
    method: 'HEAD',
    path: '/resourcegroups/{resourceGroupName}',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/resourceGroups/read',
    handle: (ctx) => ({ status: ctx.sim.store.group(ctx.params.resourceGroupName!) ? 204 : 404 }),
  },
  {
    method: 'DELETE',
    path: '/resourcegroups/{resourceGroupName}',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/resourceGroups/delete',
    handle(ctx) {
      const { sim } = ctx;
      const g = existingGroup(ctx);
      // A second DELETE while one runs is accepted and ends with it.
      const running = g.state === 'Deleting' ? sim.ops.running().find((o) => o.target === g.id) : undefined;
      const op =
        running ??
        sim.ops.start({
          namespace: 'Microsoft.Resources',
          location: g.location,
          apiVersion: ctx.apiVersion,
          target: g.id,
          simMs: sim.clock.pick(sim.clock.timing.rgDeleteMs),
          ...(ctx.lroFailure ? { failure: ctx.lroFailure, fail: () => void (g.state = 'Succeeded') } : {}),
          complete: () => {
            for (const r of sim.store.inGroup(g.name)) {
              sim.store.remove(r.id);
            }
            sim.store.groups.delete(g.name.toLowerCase());
          },
        });
      g.state = 'Deleting';
      return {
        status: 202,
        headers: sim.ops.headers(op, sim.base, sim.store.subscriptionId, { async: false, location: true }),
      };
    },
  },
  {
    method: 'GET',
    path: '/resourcegroups/{resourceGroupName}/resources',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/resourceGroups/resources/read',
    handle(ctx) {
      const g = existingGroup(ctx);
      const match = parseFilter(ctx.query.get('$filter'));
      if ('error' in match) throw armErrors.badRequest('InvalidFilterInQueryString', match.error);
      const value = ctx.sim.store
        .inGroup(g.name)
        .filter((r) => !r.type.endsWith('/subnets') && match(r))
        .map((r) => {
          const v = view(r);
          return {
            id: v.id,
            name: v.name,
            type: v.type,
            location: v.location,
            tags: v.tags,
            ...(r.sku ? { sku: r.sku } : {}),
          };
        });
      return { status: 200, body: { value } };
    },
  },
  {
    method: 'GET',
    path: '/operationresults/{operationId}',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/resourceGroups/read',
    handle(ctx) {
      const { sim } = ctx;
      const op = sim.ops.get(ctx.params.operationId!);
      if (!op) throw armErrors.notFound(`Operation ${ctx.params.operationId}`);
      if (op.status === 'InProgress')
        return {
          status: 202,
          headers: sim.ops.headers(op, sim.base, sim.store.subscriptionId, { async: false, location: true }),
        };
      if (op.status === 'Failed') throw new ArmError(op.failStatus, op.error!.code, op.error!.message);
      return { status: 200 };
    },
  },
  {
    method: 'GET',
    path: '/providers/{resourceProviderNamespace}',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/providers/read',
    handle(ctx) {
      const ns = ctx.params.resourceProviderNamespace!;
      const types = providerTypes[ns.toLowerCase()];
      if (!types) throw armErrors.notFound(`Provider namespace '${ns}'`);
      const canonical =
        ns.toLowerCase() === 'microsoft.compute'
          ? 'Microsoft.Compute'
          : ns.toLowerCase() === 'microsoft.network'
            ? 'Microsoft.Network'
            : 'Microsoft.Resources';
      const registrationState = ctx.sim.registered.has(ns.toLowerCase()) ? 'Registered' : 'NotRegistered';
      return {
        status: 200,
        body: {
          id: `/subscriptions/${ctx.sim.store.subscriptionId}/providers/${canonical}`,
          namespace: canonical,
          registrationState,
          registrationPolicy: 'RegistrationRequired',
          resourceTypes: types.map((t) => ({ resourceType: t, locations: ctx.sim.locations, apiVersions: [] })),
        },
      };
    },
  },
  {
    method: 'POST',
    path: '/providers/{resourceProviderNamespace}/register',
    api: 'resources',
    action: 'Microsoft.Resources/subscriptions/providers/register/action',
    handle(ctx) {
      ctx.sim.registered.add(ctx.params.resourceProviderNamespace!.toLowerCase());
      return {
        status: 200,
        body: { namespace: ctx.params.resourceProviderNamespace, registrationState: 'Registering' },
      };
    },
  },
];
