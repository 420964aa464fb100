// The CLI's remote mode: the same commands, sent to a running appliance's JSON API with an API token.
// HTTPS with the appliance's own certificate: pass it with --ca FILE (or NODE_EXTRA_CA_CERTS).
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, type ErrorCode } from '../errors.ts';
import { restingDeploymentStates } from '../model/states.ts';
import { accessRemote } from './access.ts';

export interface RemoteOptions {
  server: string;
  token: string;
  ca?: string;
  timeoutMs?: number;
}

export function createRemote(opts: RemoteOptions) {
  const base = new URL(opts.server.endsWith('/') ? opts.server : `${opts.server}/`);
  const ca = opts.ca ? fs.readFileSync(opts.ca, 'utf8') : undefined;

  function call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return send<T>(method, route, payload ? { type: 'application/json', data: payload } : undefined);
  }

  /** Sends a file as the body (streamed, with its length) and returns the JSON answer. */
  function upload<T>(route: string, file: string, type: string): Promise<T> {
    return send<T>('POST', route, { type, file }, 'json', 0);
  }

  /** A text answer (a CSV export) instead of JSON. */
  function text(route: string): Promise<string> {
    return send<string>('GET', route, undefined, 'text');
  }

  function send<T>(
    method: string,
    route: string,
    body?: { type: string; data: string } | { type: string; file: string },
    answer: 'json' | 'text' = 'json',
    /** 0: no timeout (an upload takes as long as the file takes). */
    timeoutMs = opts.timeoutMs ?? 30_000,
  ): Promise<T> {
    const url = new URL(`api/v1${route}`, base);
    const mod = url.protocol === 'https:' ? https : http;
    const length = !body ? 0 : 'data' in body ? Buffer.byteLength(body.data) : fs.statSync(body.file).size;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          headers: {
            Authorization: `Bearer ${opts.token}`,
            Accept: answer === 'json' ? 'application/json' : 'text/csv, application/json',
            ...(body ? { 'Content-Type': body.type, 'Content-Length': length } : {}),
          },
          ...(ca ? { ca } : {}),
          ...(timeoutMs > 0 ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: any;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            if ((res.statusCode ?? 500) < 400 && answer === 'text') resolve(text as T);
            else if ((res.statusCode ?? 500) >= 400) {
              const e = json?.error;
              const code = (e?.code ?? (res.statusCode === 401 ? 'unauthorized' : 'internal')) as ErrorCode;
              reject(
                new AppError(
                  code in codeOk ? code : 'internal',
                  `${base.origin}: ${e?.message ?? `HTTP ${res.statusCode}`}`,
                  { ...(e?.hint ? { hint: e.hint } : {}), ...(e?.issues ? { issues: e.issues } : {}) },
                ),
              );
            } else resolve(json as T);
          });
        },
      );
      req.on('error', (cause) =>
        reject(
          new AppError('transient', `Unable to reach ${base.origin}: ${cause.message}`, {
            cause,
            hint: !/certificate|self[- ]signed|CERT_/i.test(
              `${cause.message} ${(cause as NodeJS.ErrnoException).code ?? ''}`,
            )
              ? 'Check --server.'
              : opts.ca
                ? `The appliance's certificate is not the one in ${opts.ca} (or signed by it): download it again from Settings > HTTPS and compare its SHA-256 fingerprint with \`openssl x509 -in ${opts.ca} -noout -fingerprint -sha256\`.`
                : 'Pass the appliance certificate with --ca FILE (Settings > HTTPS shows its fingerprint and lets you download it).',
          }),
        ),
      );
      if (body && 'file' in body) {
        const stream = fs.createReadStream(body.file);
        stream.on('error', (e) => req.destroy(e));
        stream.pipe(req);
      } else {
        if (body) req.write(body.data);
        req.end();
      }
    });
  }
  return { call, upload, text, origin: base.origin };
}

const codeOk: Record<ErrorCode, true> = {
  invalid_input: true,
  unauthorized: true,
  forbidden: true,
  not_found: true,
  conflict: true,
  too_large: true,
  rate_limited: true,
  platform_error: true,
  transient: true,
  timeout: true,
  internal: true,
};

interface RemoteMachine {
  key: string;
  state: string;
  platformId: string | null;
  addresses: string[];
  steps: Array<{ error: string | null }>;
}
interface RemoteDeployment {
  id: string;
  scenarioName: string;
  state: string;
  error: string | null;
  instances: number;
  createdAt: string;
  machines: RemoteMachine[];
}

const finalStates: readonly string[] = restingDeploymentStates;

/** Runs one CLI command against the appliance; returns the exit code, or undefined for commands it does not serve. */
export async function runRemote(
  remote: ReturnType<typeof createRemote>,
  command: string,
  args: string[],
  o: {
    platform?: string | undefined;
    instances?: number | undefined;
    json: boolean;
    wait: boolean;
    out?: string | undefined;
    confirm?: boolean;
  },
  print: (s?: string) => void,
): Promise<number | undefined> {
  const finalCode = (state: string) => {
    print(`final state: ${state}`);
    return ['ready', 'destroyed', 'cancelled', 'cancelling'].includes(state) ? 0 : 1;
  };
  const follow = async (id: string, until: readonly string[]) => {
    let last = '';
    for (;;) {
      const d = await remote.call<RemoteDeployment>('GET', `/deployments/${id}`);
      const ready = d.machines.filter((m) => m.state === 'ready').length;
      const removed = d.machines.filter((m) => m.state === 'destroyed').length;
      const tearingDown = d.state === 'destroying' || d.state === 'destroyed' || d.state === 'destroy_failed';
      const line = tearingDown
        ? `${d.state}: ${removed}/${d.machines.length} machines removed`
        : `${d.state}: ${ready}/${d.machines.length} machines ready`;
      if (line !== last) print(line);
      last = line;
      if (until.includes(d.state)) return d.state;
      await sleep(1000);
    }
  };
  const need = (v: string | undefined, name: string) => {
    if (!v) throw new AppError('invalid_input', `missing ${name}; see glassdome --help`);
    return v;
  };
  switch (command) {
    case 'deploy': {
      const file = need(args[0], 'FILE');
      let yaml: string;
      try {
        yaml = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new AppError('invalid_input', `cannot read ${file}: ${(e as Error).message}`);
      }
      const d = await remote.call<RemoteDeployment>('POST', '/deployments', {
        yaml,
        file: path.basename(file),
        platform: o.platform ?? 'simulator',
        ...(o.instances ? { instances: o.instances } : {}),
      });
      print(
        `deployment ${d.id}: ${d.scenarioName} on ${remote.origin}, ${d.instances} instance(s), ${d.machines.length} machines`,
      );
      if (!o.wait) {
        print(`running on the appliance; follow it with: glassdome --server ${remote.origin} status ${d.id}`);
        return 0;
      }
      return finalCode(await follow(d.id, finalStates));
    }
    case 'status': {
      const id = args[0] ?? (await remote.call<Array<{ id: string }>>('GET', '/deployments'))[0]?.id;
      if (!id) throw new AppError('not_found', 'There are no deployments yet');
      const d = await remote.call<RemoteDeployment>('GET', `/deployments/${id}`);
      if (o.json) print(JSON.stringify(d, null, 2));
      else {
        print(`${d.id}  ${d.scenarioName}  ${d.state}${d.error ? `: ${d.error}` : ''}`);
        for (const m of d.machines)
          print(
            `  ${m.key.padEnd(22)} ${m.state.padEnd(10)} ${(m.platformId ?? '-').padEnd(8)} ${m.addresses.join(', ')}${m.steps.find((x) => x.error) ? `  ${m.steps.find((x) => x.error)!.error}` : ''}`,
          );
      }
      return d.state === 'failed' || d.state === 'destroy_failed' ? 1 : 0;
    }
    case 'list': {
      const rows = await remote.call<Array<RemoteDeployment>>('GET', '/deployments');
      if (o.json) print(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) print('No deployments yet. Start one with: glassdome deploy FILE');
      else
        for (const r of rows)
          print(
            `${r.id}  ${r.state.padEnd(14)} ${r.scenarioName.padEnd(24)} x${r.instances}  ${r.createdAt}${r.error ? `  ${r.error}` : ''}`,
          );
      return 0;
    }
    case 'cancel': {
      const id = need(args[0], 'ID');
      await remote.call('POST', `/deployments/${id}/cancel`);
      return finalCode(await follow(id, finalStates));
    }
    case 'retry': {
      const id = need(args[0], 'ID');
      await remote.call('POST', `/deployments/${id}/retry`);
      if (!o.wait) return finalCode('deploying');
      return finalCode(await follow(id, finalStates));
    }
    case 'destroy': {
      const id = need(args[0], 'ID');
      await remote.call('POST', `/deployments/${id}/destroy${o.confirm ? '?confirm=true' : ''}`);
      return finalCode(await follow(id, ['destroyed', 'destroy_failed']));
    }
    case 'platforms': {
      for (const p of await remote.call<Array<{ name: string; kind: string; id: string }>>('GET', '/platforms'))
        print(`${p.name.padEnd(16)} ${p.kind.padEnd(10)} ${p.id}`);
      return 0;
    }
    case 'access':
      return accessRemote(remote, args, { out: o.out, json: o.json }, print);
    default:
      return undefined;
  }
}
