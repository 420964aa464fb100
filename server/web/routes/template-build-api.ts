// The JSON API of packer template builds (/api/v1/platforms/:id/template-builds): each template's commands for a
// Proxmox VE or ESXi platform, and its variables file (audited: it names the platform's hosts). Never a secret.
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { platformKinds } from '../../model/platform-kind.ts';
import { actorOf, type Ctx, type WebDomain } from '../context.ts';
import type { createApiBuilder } from '../openapi.ts';

const buildResponse = z.object({
  template: z.string(),
  title: z.string(),
  builder: z.enum(['proxmox-iso', 'vsphere-iso']),
  templateFile: z.string(),
  varsFile: z.string(),
  varsFileName: z.string(),
  credential: z.string(),
  toFill: z.array(z.object({ variable: z.string(), what: z.string() })),
  uploads: z.array(
    z.object({ what: z.string(), where: z.string(), variable: z.string().optional(), ready: z.boolean().optional() }),
  ),
  commands: z.array(z.object({ purpose: z.string(), command: z.string() })),
  notes: z.array(z.string()),
  after: z.string(),
});

export const templateBuildListResponse = z.object({
  platform: z.object({ id: z.string(), name: z.string(), kind: z.enum(platformKinds) }),
  installDir: z.string(),
  builds: z.array(buildResponse),
});

/** A path for the commands' -var-file: one line of printable text (it is shell-quoted where it is used). */
const varsFileQuery = z
  .string()
  .min(1)
  .max(1000)
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'a file path on one line')
  .optional();

function varsFileOf(c: Ctx): string | undefined {
  const r = varsFileQuery.safeParse(c.req.query('varsFile') || undefined);
  if (!r.success)
    throw new AppError('invalid_input', `Invalid query parameter varsFile: ${r.error.issues[0]!.message}`);
  return r.data;
}

export function templateBuildApi(api: ReturnType<typeof createApiBuilder>, web: WebDomain): void {
  const staff: Array<'admin' | 'instructor'> = ['admin', 'instructor'];
  api.route(
    {
      method: 'get',
      path: '/platforms/:id/template-builds',
      summary: 'The packer template builds of a Proxmox VE or ESXi platform: what to upload, fill in and run',
      description:
        "Each template's commands in order (the answer-file CD where needed, packer validate, packer build), with " +
        "paths relative to the appliance's install folder. The variables file itself comes from vars.json. Other " +
        'platform kinds are refused.',
      tag: 'platforms',
      roles: staff,
      query: {
        template: {
          description: 'Only this template (windows-server-2022, ubuntu-22.04, ubuntu-24.04)',
          type: 'string',
        },
        varsFile: { description: 'The variables file path the commands name (default: under packer/)', type: 'string' },
      },
      response: templateBuildListResponse,
    },
    (c) =>
      c.json(
        web.templateBuilds.list(c.req.param('id')!, {
          template: c.req.query('template') || undefined,
          varsFile: varsFileOf(c),
        }),
      ),
  );
  api.route(
    {
      method: 'get',
      path: '/platforms/:id/template-builds/:template/vars.json',
      summary: "A template build's packer variables file for the platform (passwords left empty to fill in); audited",
      tag: 'platforms',
      roles: staff,
      produces: 'application/json',
    },
    (c) => {
      const file = web.templateBuilds.variablesFile(actorOf(c), c.req.param('id')!, c.req.param('template')!);
      return c.body(file.text, 200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Disposition': `attachment; filename="${file.fileName}"`,
      });
    },
  );
}
