// The Proxmox API schema (pve-docs apidata.js as JSON) as a router and parameter validator.
// The JSON files are read from the shared reference directory at test time and never copied into the project.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkStringFormat, parsePropertyString, perlPattern, type SubSchema } from './formats.ts';
import { paramError, PveError } from './pve-error.ts';

export type PveVersion = '8.4' | '9.1';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ParamSchema extends SubSchema {
  items?: ParamSchema;
  requires?: string;
  description?: string;
}

export interface MethodInfo {
  name: string;
  parameters?: { properties?: Record<string, ParamSchema> };
  permissions?: { check?: unknown[]; user?: string };
  protected?: number;
  allowtoken?: number;
  returns?: unknown;
}

interface SchemaNode {
  path: string;
  info?: Partial<Record<HttpMethod, MethodInfo>>;
  children?: SchemaNode[];
}

interface RouteNode {
  template: string;
  info: Partial<Record<HttpMethod, MethodInfo>>;
  statics: Map<string, RouteNode>;
  param?: { name: string; node: RouteNode };
}

export interface PveSchema {
  version: PveVersion;
  file: string;
  root: RouteNode;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fileByVersion: Record<PveVersion, string> = { '9.1': 'pve-api-schema.json', '8.4': 'pve-api-schema-pve8.json' };

export function schemaDir(): string {
  return process.env.GLASSDOME_PVE_SCHEMA_DIR ?? path.resolve(repoRoot, '../shared/reference/proxmox');
}

export function schemaFile(version: PveVersion): string {
  return path.join(schemaDir(), fileByVersion[version]);
}

/** Why the schema for `version` cannot be used, or undefined when it is there. Tests skip with this reason. */
export function schemaMissingReason(version: PveVersion): string | undefined {
  const file = schemaFile(version);
  return existsSync(file)
    ? undefined
    : `Proxmox ${version} API schema not found at ${file} (set GLASSDOME_PVE_SCHEMA_DIR)`;
}

const cache = new Map<PveVersion, PveSchema>();

export function loadSchema(version: PveVersion): PveSchema {
  const hit = cache.get(version);
  if (hit) return hit;
  const file = schemaFile(version);
  const nodes = JSON.parse(readFileSync(file, 'utf8')) as SchemaNode[];
  const root: RouteNode = { template: '', info: {}, statics: new Map() };
  const insert = (n: SchemaNode): void => {
    let cur = root;
    for (const seg of n.path.split('/').filter(Boolean)) {
      const m = /^\{(.+)\}$/.exec(seg);
      if (m) {
        cur.param ??= { name: m[1] ?? seg, node: { template: '', info: {}, statics: new Map() } };
        cur = cur.param.node;
      } else {
        let next = cur.statics.get(seg);
        if (!next) cur.statics.set(seg, (next = { template: '', info: {}, statics: new Map() }));
        cur = next;
      }
    }
    cur.template = n.path;
    cur.info = n.info ?? {};
    for (const c of n.children ?? []) insert(c);
  };
  for (const n of nodes) insert(n);
  const schema = { version, file, root };
  cache.set(version, schema);
  return schema;
}

export interface Route {
  template: string;
  info: MethodInfo;
  pathParams: Record<string, string>;
}

/** Finds the endpoint for a path relative to /api2/json, or throws the 501 pveproxy sends. */
export function matchRoute(schema: PveSchema, method: string, relPath: string): Route {
  const notImplemented = new PveError(501, `Method '${method} ${relPath}' not implemented`);
  const segs = relPath.split('/').filter(Boolean);
  let cur = schema.root;
  const pathParams: Record<string, string> = {};
  for (let i = 0; i < segs.length; i++) {
    const raw = segs[i] ?? '';
    const seg = safeDecode(raw);
    const next = cur.statics.get(seg);
    if (next) {
      cur = next;
      continue;
    }
    if (!cur.param) throw notImplemented;
    // The storage volume id takes the rest of the URI, slashes included (pve-storage Status.pm fragmentDelimiter '').
    if (cur.param.name === 'volume') {
      pathParams.volume = safeDecode(segs.slice(i).join('/'));
      cur = cur.param.node;
      break;
    }
    pathParams[cur.param.name] = seg;
    cur = cur.param.node;
  }
  const info = cur.info[method as HttpMethod];
  if (!info) throw notImplemented;
  return { template: cur.template, info, pathParams };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Index limits of numbered keys from qemu-server (relevant.md section 0). */
const numberedLimit: Record<string, number> = {
  net: 31,
  ipconfig: 31,
  scsi: 30,
  virtio: 15,
  sata: 5,
  ide: 3,
  unused: 255,
  serial: 3,
  parallel: 2,
  usb: 13,
  hostpci: 15,
  numa: 7,
  virtiofs: 9,
};

/** The schema property for a request key: a literal key, or `net0` -> `net[n]` within the index limits. */
function propertyFor(props: Record<string, ParamSchema>, key: string): ParamSchema | undefined {
  if (Object.hasOwn(props, key)) return props[key];
  const m = /^(\w+?)(\d+)$/.exec(key);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const generic = props[`${m[1]}[n]`];
  if (!generic) return undefined;
  const limit = numberedLimit[m[1]];
  if (limit !== undefined && Number(m[2]) > limit) return undefined;
  if (m[2].length > 1 && m[2].startsWith('0')) return undefined;
  return generic;
}

/** Raw request values: strings from a form or query (arrays when a key repeats), or JSON values. */
export type RawParams = Record<string, unknown>;
export type Params = Record<string, string | number | boolean | string[] | undefined>;

/**
 * Validates and types the parameters like JSONSchema.pm: unknown, missing, type, range, enum, length, pattern,
 * format and property strings. Throws 400 `Parameter verification failed.` with every error found.
 */
export function validateParams(
  info: MethodInfo,
  raw: RawParams,
  pathParams: Record<string, string>,
  json: boolean,
): Params {
  const props = info.parameters?.properties ?? {};
  const errors: Record<string, string> = {};
  const out: Params = {};
  for (const [k, v] of Object.entries(pathParams)) {
    if (k in raw && String(raw[k]) !== v) {
      errors[k] = 'duplicate parameter (already defined in URI) with conflicting values!';
    }
  }
  const all: RawParams = { ...raw, ...pathParams };
  for (const [key, value] of Object.entries(all)) {
    const prop = propertyFor(props, key);
    if (!prop) {
      errors[key] = 'property is not defined in schema and the schema does not allow additional properties';
      continue;
    }
    const isPath = key in pathParams;
    const checked = checkValue(key, prop, value, json && !isPath);
    if (checked.error !== undefined) errors[key] = checked.error;
    else out[key] = checked.value;
  }
  for (const [key, prop] of Object.entries(props)) {
    if (key.endsWith('[n]')) continue;
    if (!(key in all) && !prop.optional) errors[key] = 'property is missing and it is not optional';
    if (key in all && prop.requires !== undefined && !(prop.requires in all)) {
      errors[prop.requires] = `missing property - '${key}' requires this property`;
    }
  }
  if (Object.keys(errors).length > 0) throw paramError(errors);
  return out;
}

function checkValue(
  name: string,
  prop: ParamSchema,
  value: unknown,
  json: boolean,
): { value?: Params[string]; error?: string } {
  const type = prop.type ?? 'string';
  if (type === 'array') {
    const arr = Array.isArray(value) ? value : [value];
    const items: string[] = [];
    for (const item of arr) {
      if (typeof item !== 'string' && typeof item !== 'number')
        return { error: `type check ('string') failed - got '${String(item)}'` };
      items.push(String(item));
    }
    return { value: items };
  }
  if (Array.isArray(value)) return { error: `type check ('${type}') failed - got ARRAY` };
  if (type === 'boolean') {
    if (json && typeof value === 'boolean') return { value };
    if (value === 0 || value === 1 || value === '0' || value === '1') return { value: Number(value) === 1 };
    return { error: `type check ('boolean') failed - got '${String(value)}'` };
  }
  if (type === 'integer' || type === 'number') {
    const s = String(value);
    const ok = type === 'integer' ? /^[+-]?\d+$/.test(s) : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s);
    if (!ok || (json && typeof value !== 'number' && typeof value !== 'string'))
      return { error: `type check ('${type}') failed - got '${s}'` };
    const n = Number(s);
    if (prop.minimum !== undefined && n < prop.minimum)
      return { error: `value must have a minimum value of ${prop.minimum}` };
    if (prop.maximum !== undefined && n > prop.maximum)
      return { error: `value must have a maximum value of ${prop.maximum}` };
    if (typeof prop.format === 'string') {
      const err = checkStringFormat(prop.format, s);
      if (err !== undefined) return { error: `invalid format - ${err}\n` };
    }
    return { value: n };
  }
  if (typeof value !== 'string' && typeof value !== 'number')
    return { error: `type check ('${type}') failed - got '${String(value)}'` };
  const s = String(value);
  return checkString(name, prop, s);
}

function checkString(name: string, prop: ParamSchema, s: string): { value?: string; error?: string } {
  if (prop.maxLength !== undefined && s.length > prop.maxLength)
    return { error: `value may only be ${prop.maxLength} characters long` };
  if (prop.minLength !== undefined && s.length < prop.minLength)
    return { error: `value must be at least ${prop.minLength} characters long` };
  if (Array.isArray(prop.enum) && !prop.enum.includes(s)) {
    return { error: `value '${s}' does not have a value in the enumeration '${prop.enum.join(', ')}'` };
  }
  if (prop.pattern !== undefined) {
    const re = perlPattern(prop.pattern);
    if (re && !re.test(s)) return { error: 'value does not match the regex pattern' };
  }
  if (typeof prop.format === 'string') {
    const err = checkStringFormat(prop.format, s);
    if (err !== undefined) return { error: `invalid format - ${err}\n` };
  } else if (prop.format && typeof prop.format === 'object') {
    const err = checkPropertyString(name, prop.format, s);
    if (err !== undefined) return { error: err };
  }
  return { value: s };
}

/** A property string: every sub-key is checked like a parameter; errors read `invalid format - format error\n<name>.<key>: ...`. */
function checkPropertyString(name: string, format: Record<string, SubSchema>, s: string): string | undefined {
  const parsed = parsePropertyString(format, s);
  if (parsed.error !== undefined) return `invalid format - ${parsed.error}\n`;
  const problems: string[] = [];
  for (const [key, sub] of Object.entries(format)) {
    if (sub.alias !== undefined) continue;
    const v = parsed.values[key];
    if (v === undefined) {
      if (!sub.optional) problems.push(`${name}.${key}: property is missing and it is not optional`);
      continue;
    }
    const r =
      sub.type === 'boolean'
        ? checkPropertyBoolean(v)
        : checkValue(`${name}.${key}`, sub as ParamSchema, v, false).error;
    if (r !== undefined) problems.push(`${name}.${key}: ${r.trimEnd()}`);
  }
  return problems.length > 0 ? `invalid format - format error\n${problems.join('\n')}\n` : undefined;
}

/** Inside property strings PVE's parse_boolean accepts on/yes/true/1 and off/no/false/0. */
function checkPropertyBoolean(v: string): string | undefined {
  return /^(1|0|on|off|yes|no|true|false)$/i.test(v) ? undefined : `type check ('boolean') failed - got '${v}'`;
}

/** The `format` object of a parameter, for handlers that read property strings (net[n], disks, agent). */
export function propertyFormat(info: MethodInfo, key: string): Record<string, SubSchema> | undefined {
  const props = info.parameters?.properties ?? {};
  const prop = propertyFor(props, key);
  return prop && typeof prop.format === 'object' ? prop.format : undefined;
}

export function parseBool(v: string | undefined): boolean {
  return v !== undefined && /^(1|on|yes|true)$/i.test(v);
}
