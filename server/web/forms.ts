// Form handling for pages: a zod schema over the submitted fields, errors per field, typed values kept
// (except secrets, which a page never sends back).
import { z } from 'zod';
import type { InputIssue } from '../model/issues.ts';
import { AppError, isAppError } from '../errors.ts';
import type { Ctx } from './context.ts';

export type FieldErrors = Record<string, string>;

export interface FormState {
  values: Record<string, unknown>;
  errors: FieldErrors;
  /** A message for the whole form (conflict, platform refused, ...). */
  message?: string;
}

export const emptyForm: FormState = { values: {}, errors: {} };

/** The submitted fields as strings (first value of each), without the CSRF token. */
export async function formFields(c: Ctx): Promise<Record<string, string>> {
  const body = await c.req.parseBody({ all: true });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === '_csrf') continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string') out[k] = first;
    else if (first instanceof File) out[k] = await first.text();
  }
  return out;
}

export function errorsOf(issues: Array<{ path: PropertyKey[] | string; message: string }>): FieldErrors {
  const errors: FieldErrors = {};
  for (const i of issues) {
    const key = Array.isArray(i.path) ? i.path.map(String).join('.') : String(i.path);
    errors[key || '_form'] ??= i.message;
  }
  return errors;
}

/** Parses fields with a schema: the data, or the form state to render again. */
export function parseFields<S extends z.ZodType>(
  schema: S,
  fields: Record<string, unknown>,
  secretFields: string[] = [],
): { data: z.output<S> } | { form: FormState } {
  const r = schema.safeParse(fields);
  if (r.success) return { data: r.data };
  return { form: { values: keepValues(fields, secretFields), errors: errorsOf(r.error.issues) } };
}

export function keepValues(fields: Record<string, unknown>, secretFields: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([k]) => !secretFields.includes(k)));
}

/** Turns a domain error into form state (field errors from its issues); rethrows anything else. */
export function formFromError(e: unknown, fields: Record<string, unknown>, secretFields: string[] = []): FormState {
  if (!isAppError(e) || !['invalid_input', 'conflict', 'platform_error', 'transient', 'timeout'].includes(e.code))
    throw e;
  return {
    values: keepValues(fields, secretFields),
    errors: errorsOf((e.issues ?? []) as InputIssue[]),
    message: e.message,
  };
}

/** Body of an API request as JSON, or an AppError naming what is wrong. */
export async function jsonBody(c: Ctx): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new AppError('invalid_input', 'The request body is not valid JSON');
  }
}
