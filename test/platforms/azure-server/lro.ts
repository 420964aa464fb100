// How the Network and Compute providers of the test server answer writes: PUT 201/200 with Azure-AsyncOperation and
// a non-terminal provisioningState, DELETE and actions 202 with Location and Azure-AsyncOperation; the status
// monitor and operation-result routes those headers point to.
import { ArmError, armErrors, type ArmErrorBody } from './arm-error.ts';
import type { Operation } from './operations.ts';
import { view, type Ctx, type Reply, type Route } from './routes.ts';
import type { ArmResource } from './store.ts';

function namespaceOf(type: string): string {
  return type.split('/')[0]!;
}

/** Stores `r` (new or replaced) in a non-terminal state and starts the operation that ends its provisioning. */
export function startPut(
  ctx: Ctx,
  r: ArmResource,
  o: {
    created: boolean;
    simMs: number;
    pending?: string;
    done?: () => ArmErrorBody | void;
    failed?: (e: ArmErrorBody) => void;
    view?: (r: ArmResource) => unknown;
  },
): Reply {
  const { sim } = ctx;
  r.properties.provisioningState = o.pending ?? 'Updating';
  r.sim.etag = crypto.randomUUID();
  sim.store.put(r);
  const live = () => sim.store.get(r.id) === r;
  const op = sim.ops.start({
    namespace: namespaceOf(r.type),
    location: r.location,
    apiVersion: ctx.apiVersion,
    target: r.id,
    simMs: o.simMs,
    ...(ctx.lroFailure ? { failure: ctx.lroFailure } : {}),
    fail: (e) => {
      if (!live()) return;
      r.properties.provisioningState = 'Failed';
      o.failed?.(e);
    },
    complete: () => {
      if (!live()) return undefined;
      const error = o.done?.();
      r.properties.provisioningState = error ? 'Failed' : 'Succeeded';
      if (error) o.failed?.(error);
      return error;
    },
  });
  r.sim.op = op.id;
  return {
    status: o.created ? 201 : 200,
    body: (o.view ?? view)(r),
    headers: sim.ops.headers(op, sim.base, sim.store.subscriptionId, { async: true, location: false }),
  };
}

/** Marks `r` Deleting and starts the operation that removes it (and runs `done`). */
export function startDelete(ctx: Ctx, r: ArmResource, o: { simMs: number; done?: () => void }): Reply {
  const { sim } = ctx;
  r.properties.provisioningState = 'Deleting';
  const op = sim.ops.start({
    namespace: namespaceOf(r.type),
    location: r.location,
    apiVersion: ctx.apiVersion,
    target: r.id,
    simMs: o.simMs,
    ...(ctx.lroFailure
      ? { failure: ctx.lroFailure, fail: () => void (r.properties.provisioningState = 'Succeeded') }
      : {}),
    result: { status: 204 },
    complete: () => {
      if (sim.store.get(r.id) !== r) return;
      o.done?.();
      sim.store.remove(r.id);
    },
  });
  return {
    status: 202,
    headers: sim.ops.headers(op, sim.base, sim.store.subscriptionId, { async: true, location: true }),
  };
}

/** An action (start, powerOff, ...) on `r`: 202, then `done` when it ends. */
export function startAction(
  ctx: Ctx,
  r: ArmResource,
  o: { simMs: number; done: () => void; failed?: () => void },
): Reply {
  const { sim } = ctx;
  const op = sim.ops.start({
    namespace: namespaceOf(r.type),
    location: r.location,
    apiVersion: ctx.apiVersion,
    target: r.id,
    simMs: o.simMs,
    ...(ctx.lroFailure ? { failure: ctx.lroFailure, fail: () => o.failed?.() } : {}),
    result: { status: 200 },
    complete: () => {
      if (sim.store.get(r.id) === r) o.done();
    },
  });
  r.sim.op = op.id;
  return {
    status: 202,
    headers: sim.ops.headers(op, sim.base, sim.store.subscriptionId, { async: true, location: true }),
  };
}

/** The operation still running on `id` (or on anything under it), if any. */
export function runningOn(ctx: Ctx, id: string): Operation | undefined {
  const key = id.toLowerCase();
  return ctx.sim.ops
    .running()
    .find(
      (op) =>
        op.target !== undefined && (op.target.toLowerCase() === key || op.target.toLowerCase().startsWith(`${key}/`)),
    );
}

function operation(ctx: Ctx): Operation {
  const op = ctx.sim.ops.get(ctx.params.operationId!);
  if (!op || op.namespace.toLowerCase() !== ctx.params.namespace!.toLowerCase())
    throw armErrors.notFound(`Operation ${ctx.params.operationId}`);
  return op;
}

export const operationRoutes: Route[] = (['network', 'compute'] as const).flatMap((api): Route[] => {
  const ns = api === 'network' ? 'Microsoft.Network' : 'Microsoft.Compute';
  return [
    {
      method: 'GET',
      path: `/providers/${ns}/locations/{location}/operations/{operationId}`,
      api,
      action: `${ns}/locations/operations/read`,
      handle(ctx) {
        const op = operation({ ...ctx, params: { ...ctx.params, namespace: ns } });
        // While it runs, the status monitor says when to look again, as the first answer did.
        const again =
          op.status === 'InProgress'
            ? ctx.sim.ops.headers(op, ctx.sim.base, ctx.sim.store.subscriptionId, { async: false, location: false })
            : {};
        return {
          status: 200,
          body: ctx.sim.ops.statusBody(op, ctx.sim.base, ctx.sim.store.subscriptionId),
          headers: again,
        };
      },
    },
    {
      method: 'GET',
      path: `/providers/${ns}/locations/{location}/operationResults/{operationId}`,
      api,
      action: `${ns}/locations/operationResults/read`,
      handle(ctx) {
        const { sim } = ctx;
        const op = operation({ ...ctx, params: { ...ctx.params, namespace: ns } });
        if (op.status === 'InProgress')
          return {
            status: 202,
            headers: sim.ops.headers(op, sim.base, sim.store.subscriptionId, { async: true, location: true }),
          };
        if (op.status === 'Failed') throw new ArmError(op.failStatus, op.error!.code, op.error!.message);
        return op.result.status === 204
          ? { status: 204 }
          : { status: 200, ...(op.result.body === undefined ? {} : { body: op.result.body }) };
      },
    },
  ];
});
