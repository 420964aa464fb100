// The vSphere (vim25) SOAP layer over node-soap: session cookie and re-login, MoRef and xsi:type helpers,
// faults turned into AppError, PropertyCollector retrieval, a task waiter and datastore file transfer.
// Quirks of node-soap and vcsim it works around are described in the vsphere reference notes; each is marked here.
import { createReadStream } from 'node:fs';
import type https from 'node:https';
import type { AxiosInstance } from 'axios';
import { AppError, type ErrorCode } from '../../errors.ts';
import { createHttpsAgent, type TlsTrust } from '../shared/tls-trust.ts';
import { pollUntil } from '../shared/wait.ts';

export interface MoRef {
  attributes: { type: string };
  $value: string;
}

export const moRef = (type: string, value: string): MoRef => ({ attributes: { type }, $value: value });

/** A value of a polymorphic field: node-soap never infers xsi:type. Write derived-type fields in XSD order. */
export function typed<T extends object>(type: string, fields: T): T & { attributes: object } {
  return { attributes: { xsi_type: { type, xmlns: 'urn:vim25' } }, ...fields };
}

/** An xsd:anyType string (OptionValue.value). The prefix must be literally `xsd`, or vcsim silently stores nothing. */
export const xsdString = (value: string) => ({
  attributes: { xsi_type: { type: 'string', xmlns: 'http://www.w3.org/2001/XMLSchema', prefix: 'xsd' } },
  $value: value,
});

/** The xsi:type of a parsed value, whatever prefix the document used (vcsim writes `XMLSchema-instance:type`). */
export function xsiType(value: unknown): string | undefined {
  const attrs = (value as { attributes?: Record<string, unknown> } | null)?.attributes;
  if (!attrs) return undefined;
  // A bare `type` attribute is a MoRef's own type, not an xsi:type.
  const key = Object.keys(attrs).find((k) => k.endsWith(':type'));
  const t = key ? attrs[key] : undefined;
  return typeof t === 'string' ? t.replace(/^[^:]*:/, '') : undefined;
}

/** A scalar anyType value as parsed ({ attributes, $value }) or plain. */
export function anyValue(value: unknown): unknown {
  return value !== null && typeof value === 'object' && '$value' in value
    ? (value as { $value: unknown }).$value
    : value;
}

/** A property value as parsed: scalars lose their { attributes, $value } wrapper, ArrayOfX becomes an array. */
export function unwrap(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  if ('$value' in value) {
    const v = value as { attributes?: { type?: unknown }; $value: unknown };
    return typeof v.attributes?.type === 'string' ? moRef(v.attributes.type, String(v.$value)) : v.$value;
  }
  const t = xsiType(value);
  if (t?.startsWith('ArrayOf')) {
    const key = Object.keys(value).find((k) => k !== 'attributes');
    return key ? asArray((value as Record<string, unknown>)[key]) : [];
  }
  return value;
}

export const asArray = <T>(v: T | T[] | null | undefined): T[] => (v == null ? [] : Array.isArray(v) ? v : [v]);

/** What a vSphere fault was; kept as the AppError's cause. */
export interface VimFault {
  faultType: string;
  message: string;
  method: string;
}

const transientFaults = new Set([
  'TaskInProgress',
  'ResourceInUse',
  'ConcurrentAccess',
  'HostCommunication',
  'ResourceNotAvailable',
]);
const faultCodes: Record<string, ErrorCode> = {
  InvalidLogin: 'unauthorized',
  NotAuthenticated: 'unauthorized',
  NoPermission: 'forbidden',
  ManagedObjectNotFound: 'not_found',
  NotFound: 'not_found',
  FileNotFound: 'not_found',
  InvalidArgument: 'invalid_input',
};

export function faultCode(faultType: string): ErrorCode {
  return transientFaults.has(faultType) ? 'transient' : (faultCodes[faultType] ?? 'platform_error');
}

export function vimFault(method: string, faultType: string, message: string): AppError {
  const cause: VimFault = { faultType, message, method };
  return new AppError(faultCode(faultType), `[esxi] ${method}: ${faultType}${message ? `: ${message}` : ''}`, {
    cause,
  });
}

/** The vSphere fault type behind an error, if it came from the host. */
export function faultTypeOf(e: unknown): string | undefined {
  const c = e instanceof AppError ? (e.cause as Partial<VimFault> | undefined) : undefined;
  return typeof c?.faultType === 'string' ? c.faultType : undefined;
}

/** Fault from a LocalizedMethodFault (TaskInfo.error, missingSet.fault). */
export function localizedFault(method: string, lmf: unknown): AppError {
  const f = lmf as { fault?: unknown; localizedMessage?: string } | null;
  return vimFault(method, xsiType(f?.fault) ?? 'UnknownFault', f?.localizedMessage ?? '');
}

function toAppError(method: string, e: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (e instanceof AppError) return e;
  const fault = (
    e as { root?: { Envelope?: { Body?: { Fault?: { faultstring?: string; detail?: Record<string, unknown> } } } } }
  ).root?.Envelope?.Body?.Fault;
  if (fault) {
    const detail = Object.values(fault.detail ?? {})[0];
    const name = Object.keys(fault.detail ?? {})[0]?.replace(/Fault$/, '');
    return vimFault(method, xsiType(detail) ?? name ?? 'UnknownFault', fault.faultstring ?? '');
  }
  const code = (e as { code?: string }).code;
  const msg = e instanceof Error ? e.message : String(e);
  // Network-level failures (refused, reset, timed out) are worth retrying; anything else is the host's answer.
  const transient =
    code !== undefined &&
    /^(ECONN|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|ECONNABORTED|ERR_SOCKET)/.test(code);
  return new AppError(transient ? 'transient' : 'platform_error', `[esxi] ${method}: ${msg}`, { cause: e });
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface VimConnectOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  tls: TlsTrust;
  /** WSDL path or URL; default the host's own https://HOST/sdk/vimService.wsdl. */
  wsdl?: string;
  callTimeoutMs: number;
}

export interface PropertyResult {
  obj: MoRef;
  props: Record<string, unknown>;
}

export interface ServiceContent {
  about: {
    fullName: string;
    name: string;
    version: string;
    build: string;
    apiType: string;
    apiVersion: string;
    productLineId?: string;
  };
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager: MoRef;
  sessionManager: MoRef;
  authorizationManager: MoRef;
  fileManager: MoRef;
  virtualDiskManager: MoRef;
  searchIndex: MoRef;
  [k: string]: unknown;
}

export interface VimClient {
  readonly content: ServiceContent;
  /** The API version the requests claim (SOAPAction urn:vim25/<v>). */
  readonly apiVersion: string;
  readonly baseUrl: string;
  call<T = unknown>(method: string, args: Record<string, unknown>, opts?: CallOptions): Promise<T>;
  retrieve(objs: MoRef[], type: string, paths: string[], opts?: CallOptions): Promise<PropertyResult[]>;
  /** Every object of `type` in the inventory, with the given properties. */
  list(type: string, paths: string[], opts?: CallOptions): Promise<PropertyResult[]>;
  waitForTask(
    method: string,
    task: MoRef,
    opts: CallOptions & { timeoutMs: number; onPoll?: () => Promise<void> },
  ): Promise<unknown>;
  /** PUT a file to a datastore over /folder (with the session cookie): a buffer, or a local file streamed from disk. */
  putFile(
    datastore: string,
    path: string,
    body: Buffer | { file: string; bytes: number },
    opts?: CallOptions & { timeoutMs?: number },
  ): Promise<void>;
  sessionKey(): Promise<string>;
  logout(): Promise<void>;
}

/** Highest version both sides know: the WSDL's own and the host's. Versions compare numerically per part. */
export function pickApiVersion(host: string, wsdlMax: string | undefined): string {
  if (!wsdlMax) return host;
  const a = host.split('.').map(Number);
  const b = wsdlMax.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? host : wsdlMax;
  }
  return host;
}

// The local vim25 WSDL shipped with the tests is vSphere 7.0 U2; a host's own WSDL matches the host.
const localWsdlVersion = '7.0.2.0';

type SoapMethod = (args: unknown, options?: unknown) => Promise<[unknown, ...unknown[]]>;

export async function connectVim(opts: VimConnectOptions): Promise<VimClient> {
  const [{ default: axios }, soap] = await Promise.all([import('axios'), import('soap')]);
  const agent: https.Agent = createHttpsAgent(opts.tls, {
    driver: 'esxi',
    maxSockets: 8,
    renewHint: 'Host > Manage > Security & users > Certificates',
  });
  const baseUrl = `https://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const cookies = new Map<string, string>();
  const http: AxiosInstance = axios.create({ httpsAgent: agent, timeout: opts.callTimeoutMs, maxRedirects: 0 });
  // node-soap keeps no cookies: the session lives in vmware_soap_session, so keep every Set-Cookie and send them back.
  http.interceptors.request.use((req) => {
    if (cookies.size) req.headers.set('Cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    return req;
  });
  http.interceptors.response.use((res) => {
    for (const c of asArray(res.headers['set-cookie'] as string[] | undefined)) {
      const [pair] = c.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair && eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return res;
  });

  const wsdl = opts.wsdl ?? `${baseUrl}/sdk/vimService.wsdl`;
  const client = await soap
    .createClientAsync(wsdl, { request: http as never, endpoint: `${baseUrl}/sdk` })
    .catch((e: unknown) => {
      throw new AppError(
        'platform_error',
        `[esxi] Unable to load the vSphere WSDL from ${wsdl}: ${e instanceof Error ? e.message : String(e)}`,
        {
          cause: e,
          hint: 'Check the host address, port and TLS trust settings.',
        },
      );
    });
  // The WSDL hard-codes https://localhost/sdk/vimService.
  client.setEndpoint(`${baseUrl}/sdk`);

  const invoke = async <T>(method: string, args: Record<string, unknown>, o?: CallOptions): Promise<T> => {
    const fn = (client as unknown as Record<string, SoapMethod | undefined>)[`${method}Async`];
    if (!fn) throw new AppError('internal', `[esxi] Unknown vSphere method ${method}`);
    try {
      const [result] = await fn.call(client, args, { signal: o?.signal, timeout: opts.callTimeoutMs });
      return (result as { returnval?: T } | null)?.returnval as T;
    } catch (e) {
      throw toAppError(method, e, o?.signal);
    }
  };

  const sc = await invoke<ServiceContent>('RetrieveServiceContent', {
    _this: moRef('ServiceInstance', 'ServiceInstance'),
  });
  // A real host picks the API version from SOAPAction; never claim more than the WSDL describes.
  const apiVersion =
    opts.wsdl && !/^https?:/.test(opts.wsdl)
      ? pickApiVersion(sc.about.apiVersion, localWsdlVersion)
      : sc.about.apiVersion;
  client.setSOAPAction(`urn:vim25/${apiVersion}`);

  let loggingIn: Promise<void> | undefined;
  const login = (): Promise<void> =>
    (loggingIn ??= (async () => {
      cookies.clear();
      await invoke('Login', { _this: sc.sessionManager, userName: opts.username, password: opts.password });
    })().finally(() => {
      loggingIn = undefined;
    }));

  // An expired or terminated session faults NotAuthenticated: log in again once and repeat the call.
  const withSession = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (loggingIn) await loggingIn;
    try {
      return await fn();
    } catch (e) {
      if (faultTypeOf(e) !== 'NotAuthenticated') throw e;
      await login();
      return fn();
    }
  };

  const call = <T>(method: string, args: Record<string, unknown>, o?: CallOptions) =>
    withSession(() => invoke<T>(method, args, o));

  const retrieveOnce = async (specSet: unknown, o?: CallOptions): Promise<PropertyResult[]> => {
    const out: PropertyResult[] = [];
    let page = await invoke<{ token?: string; objects?: unknown[] } | null>(
      'RetrievePropertiesEx',
      { _this: sc.propertyCollector, specSet, options: {} },
      o,
    );
    for (;;) {
      for (const raw of asArray(page?.objects) as Array<{ obj: MoRef; propSet?: unknown; missingSet?: unknown }>) {
        const props: Record<string, unknown> = {};
        for (const p of asArray(raw.propSet) as Array<{ name: string; val: unknown }>) props[p.name] = unwrap(p.val);
        for (const m of asArray(raw.missingSet) as Array<{ path: string; fault: unknown }>) {
          // vcsim answers without a session and reports NotAuthenticated per property; a real host faults the call.
          const f = localizedFault('RetrievePropertiesEx', m.fault);
          if (faultTypeOf(f) === 'NotAuthenticated') throw f;
        }
        out.push({ obj: raw.obj, props });
      }
      if (!page?.token) return out;
      page = await invoke('ContinueRetrievePropertiesEx', { _this: sc.propertyCollector, token: page.token }, o);
    }
  };

  const retrieve = (objs: MoRef[], type: string, paths: string[], o?: CallOptions) =>
    withSession(() =>
      retrieveOnce([{ propSet: [{ type, pathSet: paths }], objectSet: objs.map((obj) => ({ obj, skip: false })) }], o),
    );

  const list = (type: string, paths: string[], o?: CallOptions) =>
    withSession(async () => {
      const view = await invoke<MoRef>(
        'CreateContainerView',
        { _this: sc.viewManager, container: sc.rootFolder, type: [type], recursive: true },
        o,
      );
      try {
        // TraversalSpec is the derived type of selectSet: its own fields go in XSD order (name, type, path, skip).
        const selectSet = [typed('TraversalSpec', { name: 'view', type: 'ContainerView', path: 'view', skip: false })];
        return await retrieveOnce(
          [{ propSet: [{ type, pathSet: paths }], objectSet: [{ obj: view, skip: true, selectSet }] }],
          o,
        );
      } finally {
        await invoke('DestroyView', { _this: view }).catch(() => undefined);
      }
    });

  const waitForTask: VimClient['waitForTask'] = async (method, task, o) => {
    let state: string | undefined;
    const done = await pollUntil(
      async () => {
        const [r] = await retrieve([task], 'Task', ['info'], o);
        const info = r?.props.info as { state?: string; error?: unknown; result?: unknown } | undefined;
        state = info?.state;
        if (info?.state === 'success') return { result: info.result };
        if (info?.state === 'error') throw localizedFault(method, info.error);
        if (o.onPoll) await o.onPoll();
        return undefined;
      },
      { deadline: Date.now() + o.timeoutMs, minMs: 100, maxMs: 2000, ...(o.signal ? { signal: o.signal } : {}) },
    );
    if (done) return done.result;
    throw new AppError(
      'timeout',
      `[esxi] ${method}: task ${task.$value} still ${state ?? 'unknown'} after ${Math.round(o.timeoutMs / 1000)} s`,
    );
  };

  const putFile: VimClient['putFile'] = async (datastore, path, body, o) => {
    const url = `${baseUrl}/folder/${path.split('/').map(encodeURIComponent).join('/')}?dcPath=ha-datacenter&dsName=${encodeURIComponent(datastore)}`;
    await withSession(async () => {
      // A file is opened per attempt: a re-login repeats the PUT, and a stream cannot be sent twice.
      const data = Buffer.isBuffer(body) ? body : createReadStream(body.file);
      const headers = {
        'Content-Type': 'application/octet-stream',
        ...(Buffer.isBuffer(body) ? {} : { 'Content-Length': String(body.bytes) }),
      };
      const res = await http
        .put(url, data, {
          signal: o?.signal,
          headers,
          validateStatus: () => true,
          maxBodyLength: Infinity,
          ...(o?.timeoutMs ? { timeout: o.timeoutMs } : {}),
        })
        .catch((e: unknown) => {
          throw toAppError('upload', e, o?.signal);
        });
      if (res.status === 401 || res.status === 403) throw vimFault('upload', 'NotAuthenticated', `HTTP ${res.status}`);
      if (res.status >= 300)
        throw new AppError(
          res.status >= 500 ? 'transient' : 'platform_error',
          `[esxi] upload of [${datastore}] ${path}: HTTP ${res.status}`,
        );
    });
  };

  await login();

  return {
    content: sc,
    apiVersion,
    baseUrl,
    call,
    retrieve,
    list,
    waitForTask,
    putFile,
    async sessionKey() {
      const [r] = await retrieve([sc.sessionManager], 'SessionManager', ['currentSession']);
      return (r?.props.currentSession as { key: string }).key;
    },
    async logout() {
      await invoke('Logout', { _this: sc.sessionManager }).catch(() => undefined);
      cookies.clear();
      agent.destroy();
    },
  };
}
