// A small OpenAPI 3.1 generator: each API route is declared once with its zod schemas and roles; the same
// declaration registers the Hono route (role check, JSON body parsed with the schema) and its entry in the document.
// zod 4 emits JSON Schema 2020-12, which is OpenAPI 3.1's own dialect, so no translation layer is needed.
import type { Handler, Hono } from 'hono';
import { z } from 'zod';
import type { Role } from '../model/user.ts';
import { AppError } from '../errors.ts';
import type { AppEnv, Ctx } from './context.ts';
import { jsonBody } from './forms.ts';
import { allow, open } from './security.ts';
import { errorResponse } from './schemas.ts';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface OperationSpec<B extends z.ZodType | undefined> {
  method: Method;
  /** Hono path relative to the API base, e.g. /deployments/:id */
  path: string;
  summary: string;
  tag: string;
  /** `public`: no sign-in; `any`: any signed-in user; otherwise these roles. */
  roles: Role[] | 'public' | 'any';
  body?: B;
  query?: Record<string, { description: string; type: 'string' | 'integer' }>;
  response?: z.ZodType;
  status?: 200 | 201 | 202 | 204;
  /** The route acts on deployment :id: a trainee outside it gets 404 before anything else is looked at. */
  scoped?: boolean;
  /** A text/event-stream response instead of JSON. */
  stream?: boolean;
  /** A response of this media type (e.g. text/csv) instead of JSON. */
  produces?: string;
  /** The body is a file of one of these media types, read by the handler as it comes (not parsed as JSON). */
  upload?: string[];
  description?: string;
}

const jsonSchema = (s: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

export function createApiBuilder(app: Hono<AppEnv>, base: string, checkScope: (c: Ctx, deploymentId: string) => void) {
  const ops: Array<OperationSpec<z.ZodType | undefined>> = [];

  function route<B extends z.ZodType | undefined = undefined>(
    spec: OperationSpec<B>,
    handler: (c: Ctx, body: B extends z.ZodType ? z.output<B> : undefined) => Response | Promise<Response>,
  ) {
    ops.push(spec as OperationSpec<z.ZodType | undefined>);
    const guard = spec.roles === 'public' ? open() : spec.roles === 'any' ? allow() : allow(...spec.roles);
    const h: Handler<AppEnv> = async (c) => {
      if (spec.scoped) checkScope(c, c.req.param('id')!);
      let body: unknown;
      if (spec.body) {
        const r = spec.body.safeParse(await jsonBody(c));
        if (!r.success)
          throw new AppError(
            'invalid_input',
            `Invalid request: ${r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
            {
              issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
            },
          );
        body = r.data;
      }
      return handler(c, body as B extends z.ZodType ? z.output<B> : undefined);
    };
    app.on(spec.method.toUpperCase(), spec.path, guard, h);
  }

  function document(info: { title: string; version: string; description: string }) {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of ops) {
      const path = `${base}${op.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`;
      const params = [...op.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      }));
      const query = Object.entries(op.query ?? {}).map(([name, q]) => ({
        name,
        in: 'query',
        required: false,
        description: q.description,
        schema: { type: q.type },
      }));
      const status = String(op.status ?? 200);
      const ok = op.stream
        ? {
            description: 'A stream of Server-Sent Events; each event is one JSON object.',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          }
        : op.produces
          ? { description: 'Success', content: { [op.produces]: { schema: { type: 'string' } } } }
          : op.status === 204
            ? { description: 'Done' }
            : {
                description: 'Success',
                content: { 'application/json': { schema: op.response ? jsonSchema(op.response, 'output') : {} } },
              };
      paths[path] ??= {};
      paths[path][op.method] = {
        operationId: `${op.method}${op.path.replace(/[:/{}-]+([a-zA-Z])?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ''))}`,
        summary: op.summary,
        ...(op.description ? { description: op.description } : {}),
        tags: [op.tag],
        ...(op.roles === 'public' ? { security: [] } : {}),
        'x-roles': op.roles,
        ...(params.length + query.length > 0 ? { parameters: [...params, ...query] } : {}),
        ...(op.body
          ? {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: jsonSchema(op.body, 'input') } },
              },
            }
          : op.upload
            ? {
                requestBody: {
                  required: true,
                  content: Object.fromEntries(
                    op.upload.map((t) => [t, { schema: { type: 'string', contentMediaType: t } }]),
                  ),
                },
              }
            : {}),
        responses: {
          [status]: ok,
          default: {
            description: 'An error: code, message, hint, and the problems of an invalid input',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
        },
      };
    }
    return {
      openapi: '3.1.0',
      info,
      servers: [{ url: '/' }],
      security: [{ bearerAuth: [] }, { sessionCookie: [] }],
      tags: [...new Set(ops.map((o) => o.tag))].map((name) => ({ name })),
      paths,
      components: {
        schemas: { Error: jsonSchema(errorResponse, 'output') },
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token from Settings > API tokens.' },
          sessionCookie: {
            type: 'apiKey',
            in: 'cookie',
            name: 'gd_session',
            description: 'A browser session; state-changing requests also need the X-CSRF-Token header.',
          },
        },
      },
    };
  }

  return { route, document, operations: () => ops };
}
