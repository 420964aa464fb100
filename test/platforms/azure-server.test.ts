// The ARM test server itself, spoken to over raw HTTPS: that it follows the protocol the driver relies on (long-
// running operations with Azure-AsyncOperation and Location, 404 once deleted, cascading resource group deletion,
// api-versions per provider, throttling, registration and permission errors, the token endpoint), so that the
// driver's tests against it mean something.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { opensslMissingReason, startArmServer, type ArmServer, type ArmServerOptions } from './azure-server/index.ts';

const missing = opensslMissingReason();
const servers: ArmServer[] = [];
afterEach(async () => Promise.all(servers.splice(0).map((s) => s.close())));

async function server(o: ArmServerOptions = {}) {
  const s = await startArmServer({ speed: 1000, ...o });
  servers.push(s);
  return s;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

function call(
  s: ArmServer,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const full = url.startsWith('https://') ? url : `${s.url}${url}`;
  return new Promise((resolve, reject) => {
    const req = https.request(
      full,
      {
        method,
        ca: readFileSync(s.caFile),
        headers: { authorization: `Bearer ${s.staticToken}`, 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text && /json/.test(String(res.headers['content-type'])) ? JSON.parse(text) : text,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

const rg = (s: ArmServer, name: string) =>
  `/subscriptions/${s.subscriptionId}/resourcegroups/${name}?api-version=2025-04-01`;
const nsg = (s: ArmServer, group: string, name: string) =>
  `/subscriptions/${s.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/networkSecurityGroups/${name}?api-version=2025-05-01`;

async function settle(s: ArmServer, url: string): Promise<Answer> {
  for (let i = 0; i < 200; i++) {
    const a = await call(s, 'GET', url);
    if (a.status !== 202 && a.body?.status !== 'InProgress') return a;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${url} never settled`);
}

describe.skipIf(missing !== undefined)('ARM test server protocol', () => {
  it("creates with 201 and Azure-AsyncOperation, reports InProgress then Succeeded, and the resource's terminal state", async () => {
    const s = await server({ timing: { networkOpMs: [50_000, 50_000] } });
    expect((await call(s, 'PUT', rg(s, 'g1'), { location: 'westeurope', tags: { a: 'b' } })).status).toBe(201);
    expect((await call(s, 'PUT', rg(s, 'g1'), { location: 'westeurope' })).status).toBe(200);
    const put = await call(s, 'PUT', nsg(s, 'g1', 'n1'), { location: 'westeurope', properties: { securityRules: [] } });
    expect(put.status).toBe(201);
    expect(put.body.properties.provisioningState).toBe('Updating');
    const monitor = String(put.headers['azure-asyncoperation']);
    expect(monitor).toMatch(
      new RegExp(
        `^${s.url}/subscriptions/${s.subscriptionId}/providers/Microsoft.Network/locations/westeurope/operations/[0-9a-f-]+\\?api-version=2025-05-01$`,
      ),
    );
    expect((await call(s, 'GET', monitor)).body.status).toBe('InProgress');
    expect((await settle(s, monitor)).body).toMatchObject({ status: 'Succeeded', endTime: expect.any(String) });
    expect((await call(s, 'GET', nsg(s, 'g1', 'n1'))).body.properties.provisioningState).toBe('Succeeded');
  });

  it('deletes with 202 and Location (202 while running, then 204), then answers 404; deleting again is 204', async () => {
    const s = await server();
    await call(s, 'PUT', rg(s, 'g1'), { location: 'westeurope' });
    await settle(
      s,
      String(
        (await call(s, 'PUT', nsg(s, 'g1', 'n1'), { location: 'westeurope', properties: {} })).headers[
          'azure-asyncoperation'
        ],
      ),
    );
    const del = await call(s, 'DELETE', nsg(s, 'g1', 'n1'));
    expect(del.status).toBe(202);
    expect(del.headers['azure-asyncoperation']).toBeDefined();
    expect((await settle(s, String(del.headers.location))).status).toBe(204);
    const gone = await call(s, 'GET', nsg(s, 'g1', 'n1'));
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('ResourceNotFound');
    expect((await call(s, 'DELETE', nsg(s, 'g1', 'n1'))).status).toBe(204);
  });

  it('deletes a resource group with everything in it, polled on its Location', async () => {
    const s = await server();
    await call(s, 'PUT', rg(s, 'g1'), { location: 'westeurope' });
    await settle(
      s,
      String(
        (await call(s, 'PUT', nsg(s, 'g1', 'n1'), { location: 'westeurope', properties: {} })).headers[
          'azure-asyncoperation'
        ],
      ),
    );
    const del = await call(s, 'DELETE', rg(s, 'g1'));
    expect(del.status).toBe(202);
    expect(del.headers['azure-asyncoperation']).toBeUndefined();
    expect((await call(s, 'PUT', nsg(s, 'g1', 'n2'), { location: 'westeurope', properties: {} })).body.error.code).toBe(
      'ResourceGroupBeingDeleted',
    );
    expect((await settle(s, String(del.headers.location))).status).toBe(200);
    expect((await call(s, 'GET', rg(s, 'g1'))).body.error.code).toBe('ResourceGroupNotFound');
    expect(s.inventory()).toEqual([]);
  });

  it('fails an operation with its error in the status monitor and on the Location URL', async () => {
    const s = await server({
      faults: [
        {
          method: 'DELETE',
          path: /networkSecurityGroups/,
          effect: { kind: 'lroFail', error: { code: 'InternalServerError', message: 'boom' } },
        },
      ],
    });
    await call(s, 'PUT', rg(s, 'g1'), { location: 'westeurope' });
    await settle(
      s,
      String(
        (await call(s, 'PUT', nsg(s, 'g1', 'n1'), { location: 'westeurope', properties: {} })).headers[
          'azure-asyncoperation'
        ],
      ),
    );
    const del = await call(s, 'DELETE', nsg(s, 'g1', 'n1'));
    expect((await settle(s, String(del.headers['azure-asyncoperation']))).body).toMatchObject({
      status: 'Failed',
      error: { code: 'InternalServerError', message: 'boom' },
    });
    const result = await call(s, 'GET', String(del.headers.location));
    expect(result.status).toBe(500);
    expect(result.body.error.code).toBe('InternalServerError');
    expect((await call(s, 'GET', nsg(s, 'g1', 'n1'))).status).toBe(200);
  });

  it('checks the api-version of each provider, the token, the subscription and the role', async () => {
    const s = await server({ role: 'Reader', unregistered: ['Microsoft.Compute'] });
    expect((await call(s, 'GET', rg(s, 'g1').replace('2025-04-01', '2019-01-01'))).body.error.code).toBe(
      'NoRegisteredProviderFound',
    );
    expect((await call(s, 'GET', `/subscriptions/${s.subscriptionId}/resourcegroups`)).body.error.code).toBe(
      'MissingApiVersionParameter',
    );
    expect((await call(s, 'GET', nsg(s, 'g1', 'n1').replace('2025-05-01', '2025-04-01'))).body.error.code).toBe(
      'NoRegisteredProviderFound',
    );
    expect((await call(s, 'GET', rg(s, 'g1'), undefined, { authorization: 'Bearer forged' })).status).toBe(401);
    expect(
      (await call(s, 'GET', rg(s, 'g1').replace(s.subscriptionId, '00000000-0000-0000-0000-000000000000'))).body.error
        .code,
    ).toBe('SubscriptionNotFound');
    const denied = await call(s, 'PUT', rg(s, 'g1'), { location: 'westeurope' });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(
      /does not have authorization to perform action 'Microsoft.Resources\/subscriptions\/resourceGroups\/write'/,
    );
    const vm = await call(
      s,
      'GET',
      `/subscriptions/${s.subscriptionId}/resourceGroups/g1/providers/Microsoft.Compute/virtualMachines/v?api-version=2026-03-01`,
    );
    expect(vm.status).toBe(409);
    expect(vm.body.error.code).toBe('MissingSubscriptionRegistration');
  });

  it('throttles with 429 and Retry-After when told to', async () => {
    const s = await server({
      faults: [{ path: /resourcegroups/i, effect: { kind: 'throttle', retryAfterSec: 7 }, times: 1 }],
    });
    const first = await call(s, 'GET', rg(s, 'g1'));
    expect(first.status).toBe(429);
    expect(first.headers['retry-after']).toBe('7');
    expect((await call(s, 'GET', rg(s, 'g1'))).status).toBe(404);
  });

  it("lists the subscription's VMs in pages: models, or with statusOnly their statuses; $expand needs a $filter", async () => {
    const s = await server({ pageSize: 2 });
    const vmUrl = (rg: string, name: string) =>
      `/subscriptions/${s.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
    for (const [i, power] of ['running', 'running', 'deallocated'].entries())
      s.store.put({
        id: vmUrl('g1', `vm${i}`),
        type: 'Microsoft.Compute/virtualMachines',
        name: `vm${i}`,
        resourceGroup: 'g1',
        location: 'westeurope',
        tags: { team: 'red' },
        properties: { provisioningState: 'Succeeded', hardwareProfile: { vmSize: 'Standard_B1s' } },
        sim: { power },
      });
    const list = `/subscriptions/${s.subscriptionId}/providers/Microsoft.Compute/virtualMachines?api-version=2026-03-01`;
    const all = async (url: string) => {
      const items: any[] = [];
      for (let next: string | undefined = url, pages = 0; next; pages++) {
        expect(pages).toBeLessThan(5);
        const a = await call(s, 'GET', next);
        expect(a.status).toBe(200);
        items.push(...a.body.value);
        next = a.body.nextLink;
      }
      return items;
    };
    const models = await all(list);
    expect(models.map((v) => v.name)).toEqual(['vm0', 'vm1', 'vm2']);
    expect(models[0]).toMatchObject({
      tags: { team: 'red' },
      properties: { hardwareProfile: { vmSize: 'Standard_B1s' } },
    });
    expect(models[0].properties.instanceView).toBeUndefined();
    const statuses = await all(`${list}&statusOnly=true`);
    expect(statuses.map((v) => [v.name, v.properties.instanceView.statuses.map((x: any) => x.code)])).toEqual([
      ['vm0', ['ProvisioningState/succeeded', 'PowerState/running']],
      ['vm1', ['ProvisioningState/succeeded', 'PowerState/running']],
      ['vm2', ['ProvisioningState/succeeded', 'PowerState/deallocated']],
    ]);
    expect(statuses[0].properties.hardwareProfile).toBeUndefined();
    const expand = await call(s, 'GET', `${list}&$expand=instanceView`);
    expect(expand.status).toBe(400);
    expect(expand.body.error.code).toBe('InvalidParameter');
  });

  it('reports the VM Agent in the instance view: Not Ready while the guest boots, then Ready; none deallocated', async () => {
    const s = await server({ speed: 100 });
    const id = `/subscriptions/${s.subscriptionId}/resourceGroups/g1/providers/Microsoft.Compute/virtualMachines/vm0`;
    const vm = {
      id,
      type: 'Microsoft.Compute/virtualMachines',
      name: 'vm0',
      resourceGroup: 'g1',
      location: 'westeurope',
      tags: {},
      properties: { provisioningState: 'Succeeded' },
      sim: { power: 'running' } as Record<string, any>,
    };
    s.store.put(vm);
    s.store.groups.set('g1', { id: '', name: 'g1', location: 'westeurope', tags: {}, state: 'Succeeded' });
    const agent = async () =>
      (await call(s, 'GET', `${id}/instanceView?api-version=2026-03-01`)).body.vmAgent?.statuses?.[0];
    s.guests.boot(vm);
    expect(await agent()).toMatchObject({
      displayStatus: 'Not Ready',
      message: 'VM status blob is found but not yet populated.',
    });
    // The agent starts 7.8 simulated seconds into the boot: 78 ms at this speed.
    await new Promise((r) => setTimeout(r, 120));
    expect(await agent()).toMatchObject({ code: 'ProvisioningState/succeeded', displayStatus: 'Ready' });
    vm.sim.power = 'deallocated';
    s.guests.halt(vm);
    expect(await agent()).toBeUndefined();
  });

  it('issues tokens for the client credentials grant and refuses a wrong secret with AADSTS7000215', async () => {
    const s = await server();
    const form = (secret: string) =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: s.clientId,
        client_secret: secret,
        scope: `${s.url}/.default`,
      }).toString();
    const ok = await call(s, 'POST', `/${s.tenantId}/oauth2/v2.0/token`, form(s.clientSecret), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(ok.body).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
    expect(
      (await call(s, 'GET', rg(s, 'g1'), undefined, { authorization: `Bearer ${ok.body.access_token}` })).status,
    ).toBe(404);
    const bad = await call(s, 'POST', `/${s.tenantId}/oauth2/v2.0/token`, form('nope'), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(bad.status).toBe(401);
    expect(bad.body.error_description).toMatch(/^AADSTS7000215: Invalid client secret provided/);
    s.tokens.expireAll();
    expect(
      (await call(s, 'GET', rg(s, 'g1'), undefined, { authorization: `Bearer ${ok.body.access_token}` })).status,
    ).toBe(401);
  });
});
