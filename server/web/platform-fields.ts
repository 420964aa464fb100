// Platform forms generated from each driver's own config schema (its JSON Schema), so a driver that lands gets a
// form without a page change; the submitted strings are turned back into config values here.
import { z } from 'zod';
import { platformKinds, type PlatformKind } from '../model/platform-kind.ts';
import { drivers } from '../platforms/index.ts';
import type { ConfigField, PlatformKindForm } from '../../views/props.ts';

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
};

/** "uplinkPortGroup" -> "Uplink port group": the label a config field gets when its schema has no title. */
function labelOf(name: string): string {
  const words = name
    .replace(/([A-Z]+)/g, ' $1')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function describe(name: string, s: JsonSchema, required: boolean): ConfigField {
  const base = { name, label: labelOf(name), required, ...(s.description ? { description: s.description } : {}) };
  const dflt =
    s.default === undefined ? undefined : typeof s.default === 'object' ? JSON.stringify(s.default) : String(s.default);
  const withDefault =
    dflt === undefined
      ? {}
      : { default: Array.isArray(s.default) && s.items?.type === 'string' ? (s.default as string[]).join(', ') : dflt };
  if (s.enum) return { ...base, ...withDefault, type: 'enum', options: s.enum.map(String) };
  if (s.type === 'number' || s.type === 'integer') return { ...base, ...withDefault, type: 'number' };
  if (s.type === 'boolean') return { ...base, ...withDefault, type: 'boolean' };
  if (s.type === 'string') return { ...base, ...withDefault, type: 'text' };
  if (s.type === 'array' && s.items?.type === 'string') return { ...base, ...withDefault, type: 'list' };
  return { ...base, ...withDefault, type: 'json' };
}

/** Forms for the kinds whose drivers are available, in registry order. */
export function platformKindForms(): Array<PlatformKindForm & { kind: PlatformKind }> {
  return platformKinds
    .filter((k) => drivers[k].available)
    .map((kind) => {
      const schema = z.toJSONSchema(drivers[kind].configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
      const required = new Set(schema.required ?? []);
      const fields = Object.entries(schema.properties ?? {}).map(([name, s]) => describe(name, s, required.has(name)));
      const secret = drivers[kind].secret;
      return { kind, title: drivers[kind].title, fields, ...(secret ? { secretLabel: secret.label } : {}) };
    });
}

/** Form fields (`config.<name>`) back to a config object; blanks are left out so the driver's defaults apply. */
export function configFromFields(
  kind: PlatformKind,
  fields: Record<string, string>,
): { config: Record<string, unknown>; errors: Record<string, string> } {
  const form = platformKindForms().find((f) => f.kind === kind);
  const config: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of form?.fields ?? []) {
    const raw = fields[`config.${f.name}`];
    if (f.type === 'boolean') {
      if (raw !== undefined) config[f.name] = raw === 'on' || raw === 'true';
      else if (fields['config.__present'] !== undefined) config[f.name] = false;
      continue;
    }
    if (raw === undefined || raw.trim() === '') continue;
    if (f.type === 'number') {
      const n = Number(raw);
      if (Number.isNaN(n)) errors[`config.${f.name}`] = 'expected a number';
      else config[f.name] = n;
    } else if (f.type === 'list')
      config[f.name] = raw
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    else if (f.type === 'json') {
      try {
        config[f.name] = JSON.parse(raw);
      } catch {
        errors[`config.${f.name}`] = 'expected JSON';
      }
    } else config[f.name] = raw.trim();
  }
  return { config, errors };
}

/** Config values as form strings, to fill an edit form. */
export function fieldsFromConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [
      `config.${k}`,
      typeof v === 'object'
        ? Array.isArray(v) && v.every((x) => typeof x === 'string')
          ? v.join(', ')
          : JSON.stringify(v)
        : String(v),
    ]),
  );
}
