// Parameter values: checking one against its declared type, and the default an OS gives a parameter (a default
// may be a per-OS var, written "{{os.<name>}}").
import type { ParamValue } from '../model/vulnerability.ts';
import { paramValueSchema, type ParamSpec, type VulnerabilityModule } from './module-schema.ts';
import { osVars } from './render.ts';

export type Checked = { value: ParamValue } | { error: string };

// Building a zod schema costs far more than using one: one per parameter spec, made on first use.
const schemas = new WeakMap<ParamSpec, ReturnType<typeof paramValueSchema>>();

export function checkParamValue(spec: ParamSpec, value: unknown): Checked {
  let schema = schemas.get(spec);
  if (!schema) schemas.set(spec, (schema = paramValueSchema(spec)));
  const parsed = schema.safeParse(value);
  return parsed.success
    ? { value: parsed.data }
    : {
        error: parsed.error.issues
          .map((i) => (i.path.length ? `[${i.path.join('.')}] ${i.message}` : i.message))
          .join('; '),
      };
}

const varDefault = /^\{\{\s*os\.([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}$/;

/** The var a default names, if it is written "{{os.<name>}}". */
export function defaultVar(spec: ParamSpec): string | undefined {
  return typeof spec.default === 'string' ? varDefault.exec(spec.default)?.[1] : undefined;
}

/** The default value of a parameter on an OS, checked against its type; undefined when it has none. */
export function defaultFor(module: VulnerabilityModule, spec: ParamSpec, os: string): Checked | undefined {
  if (spec.default === undefined) return undefined;
  const name = defaultVar(spec);
  if (name === undefined) return checkParamValue(spec, spec.default);
  const v = osVars(module, os)[name];
  if (v === undefined) return { error: `no var "${name}" for ${os}` };
  return checkParamValue(spec, v);
}
