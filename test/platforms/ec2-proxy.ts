// An HTTP proxy in front of moto for the AWS driver tests and benchmark: it records every EC2 call (action, params,
// time), adds latency, answers chosen calls with EC2 errors (throttling, capacity), and can play the guests' side of
// GetConsoleOutput, which moto answers with a fixed text: a guest "boots" for a while after launch, then prints
// its first-boot line. The driver cannot tell it from EC2; the tests say where they rely on it.
import http from 'node:http';
import type net from 'node:net';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';

export interface Ec2Call {
  action: string;
  params: URLSearchParams;
  at: number;
  /** The access key id the call was signed with. */
  accessKeyId?: string;
  /** The EC2 error code the proxy answered with, if it did. */
  fault?: string;
  /** When the proxy finished answering (ms since the epoch). */
  answeredAt?: number;
  /** RunInstances: the instances its answer launched. */
  instanceIds?: string[];
}

export interface Fault {
  status: number;
  code: string;
  message?: string;
  /** Pass the call to moto first and answer with the error anyway: the call happened, its answer was lost. */
  afterForward?: boolean;
}

export interface ProxyOptions {
  latencyMs?: number;
  /** Answers a call with an EC2 error instead of passing it to moto. */
  fault?: (call: { action: string; params: URLSearchParams }) => Fault | undefined | Promise<Fault | undefined>;
  /** Answers GetConsoleOutput with this text (undefined: moto answers). */
  console?: (instanceId: string) => Promise<string | undefined>;
}

export interface Ec2Proxy {
  endpoint: string;
  calls: Ec2Call[];
  options: ProxyOptions;
  /** When the proxy saw RunInstances answer with this instance (ms since the epoch). */
  launchedAt(instanceId: string): number | undefined;
  /** How many calls of each action. */
  count(action?: string): number;
  stop(): Promise<void>;
}

const xmlns = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startEc2Proxy(target: string, options: ProxyOptions = {}): Promise<Ec2Proxy> {
  const calls: Ec2Call[] = [];
  const launches = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks)).catch((e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(e));
      });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) {
    const params = new URLSearchParams(body.toString());
    const action = params.get('Action') ?? '';
    const keyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
    const call: Ec2Call = { action, params, at: Date.now(), ...(keyId ? { accessKeyId: keyId } : {}) };
    calls.push(call);
    res.on('finish', () => (call.answeredAt = Date.now()));
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    const fault = await options.fault?.({ action, params });
    if (fault) {
      call.fault = fault.code;
      if (fault.afterForward) await forward(req, body);
      res.writeHead(fault.status, { 'content-type': 'text/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${fault.code}</Code><Message>${escapeXml(fault.message ?? fault.code)}</Message></Error></Errors><RequestID>proxy-${calls.length}</RequestID></Response>`,
      );
      return;
    }
    if (action === 'GetConsoleOutput' && options.console) {
      const id = params.get('InstanceId') ?? '';
      const text = await options.console(id);
      if (text !== undefined) {
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<GetConsoleOutputResponse xmlns="${xmlns}"><requestId>proxy-${calls.length}</requestId><instanceId>${id}</instanceId><timestamp>${new Date().toISOString()}</timestamp><output>${Buffer.from(text).toString('base64')}</output></GetConsoleOutputResponse>`,
        );
        return;
      }
    }
    const url = new URL(req.url ?? '/', target);
    const upstream = http.request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (action !== 'RunInstances') {
        up.pipe(res);
        return;
      }
      // Launches are read on the way through, so simulated guests boot from the moment they were launched.
      const body: Buffer[] = [];
      up.on('data', (c: Buffer) => body.push(c));
      up.on('end', () => {
        const text = Buffer.concat(body);
        for (const m of text.toString().matchAll(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/g)) {
          launches.set(m[1]!, Date.now());
          (call.instanceIds ??= []).push(m[1]!);
        }
        res.end(text);
      });
    });
    upstream.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(e));
    });
    upstream.end(body);
  }

  /** Passes a call to moto and drops its answer. */
  function forward(req: http.IncomingMessage, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', target);
    return new Promise((resolve, reject) => {
      const upstream = http.request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (up) => {
        up.resume();
        up.on('end', resolve);
      });
      upstream.on('error', reject);
      upstream.end(body);
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    options,
    launchedAt: (id) => launches.get(id),
    count(action) {
      return action ? calls.filter((c) => c.action === action).length : calls.length;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * The guests' side of the console: an instance that has been running for `bootMs` (since its launch, when
 * `launchedAt` knows it, else since it was first seen running) prints the first-boot line its machine's first boot would print, `GLASSDOME-READY <machine name>`, or
 * `GLASSDOME-FAILED <name>: <reason>` for machines `failing` names. Read straight from moto, not through the proxy.
 */
export function simulatedGuests(
  moto: EC2Client,
  o: { bootMs: number; failing?: Record<string, string>; launchedAt?: (instanceId: string) => number | undefined },
): (instanceId: string) => Promise<string | undefined> {
  const runningSince = new Map<string, number>();
  return async (id) => {
    const r = await moto.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const inst = r.Reservations?.[0]?.Instances?.[0];
    const name = inst?.Tags?.find((t) => t.Key === 'glassdome:machine')?.Value;
    if (!inst || !name) return undefined;
    const lines = [
      '[    0.000000] Linux version 6.8.0-1008-aws (buildd@lcy02-amd64-080)',
      '[    2.113000] cloud-init[512]: Cloud-init v. 24.1 running init-local',
    ];
    if (inst.State?.Name !== 'running') return lines.join('\n');
    const since = runningSince.get(id) ?? o.launchedAt?.(id) ?? Date.now();
    runningSince.set(id, since);
    if (Date.now() - since < o.bootMs) return lines.join('\n');
    const reason = o.failing?.[name];
    lines.push(
      reason
        ? `[   41.000000] cloud-init[901]: GLASSDOME-FAILED ${name}: ${reason}`
        : `[   41.000000] cloud-init[901]: GLASSDOME-READY ${name} after 41.0 seconds`,
    );
    return lines.join('\n');
  };
}
