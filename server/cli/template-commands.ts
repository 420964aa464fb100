// `glassdome platforms templates NAME [TEMPLATE] [--vars-out FILE]`: the packer template builds of a Proxmox VE or ESXi
// platform (what to upload, the credential to fill in, the commands in order), and with --vars-out the variables file
// (mode 0600, audited; `-` prints it). On this machine's database or, with --server, through the appliance's API.
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { cliActor } from '../model/audit.ts';
import type { TemplateBuildList, TemplateBuilds } from '../orchestrator/template-builds.ts';

export const templatesUsage = `  platforms templates NAME [TEMPLATE] [--vars-out FILE] [--json]
                                            packer template builds for a Proxmox VE or ESXi platform (TEMPLATE:
                                            windows-server-2022, ubuntu-22.04, ubuntu-24.04): uploads, the
                                            credential to fill in, the commands in order; --vars-out writes the
                                            variables file the commands read (passwords left empty; - prints it)`;

/** What the command needs of the domain or the API. */
export interface TemplateBackend {
  list(
    platform: string,
    o: { template?: string | undefined; varsFile?: string | undefined },
  ): Promise<TemplateBuildList>;
  variablesFile(platform: string, template: string): Promise<string>;
}

export function localTemplateBackend(builds: TemplateBuilds): TemplateBackend {
  return {
    list: async (platform, o) => builds.list(platform, o),
    variablesFile: async (platform, template) => builds.variablesFile(cliActor(), platform, template).text,
  };
}

/** What remote mode needs of the API client (server/cli/remote.ts createRemote). */
interface RemoteCaller {
  call<T>(method: string, route: string, body?: unknown): Promise<T>;
  text(route: string): Promise<string>;
  origin: string;
}

export function remoteTemplateBackend(remote: RemoteCaller): TemplateBackend {
  const idOf = async (name: string) => {
    const rows = await remote.call<Array<{ id: string; name: string }>>('GET', '/platforms');
    const p = rows.find((x) => x.name === name || x.id === name);
    if (!p) throw new AppError('not_found', `Platform "${name}" does not exist on ${remote.origin}`);
    return p.id;
  };
  return {
    async list(platform, o) {
      const q = new URLSearchParams();
      if (o.template) q.set('template', o.template);
      if (o.varsFile) q.set('varsFile', o.varsFile);
      const query = q.size > 0 ? `?${q}` : '';
      return remote.call<TemplateBuildList>('GET', `/platforms/${await idOf(platform)}/template-builds${query}`);
    },
    async variablesFile(platform, template) {
      return remote.text(
        `/platforms/${await idOf(platform)}/template-builds/${encodeURIComponent(template)}/vars.json`,
      );
    },
  };
}

export async function templateCommand(
  backend: TemplateBackend,
  args: string[],
  o: { varsOut?: string | undefined; json: boolean },
  print: (s?: string) => void,
): Promise<number> {
  const [platform, template] = args;
  if (!platform) throw new AppError('invalid_input', 'platforms templates needs NAME (a Proxmox VE or ESXi platform)');
  if (o.varsOut !== undefined && !template)
    throw new AppError('invalid_input', '--vars-out needs TEMPLATE: one variables file per template', {
      hint: 'e.g. glassdome platforms templates NAME ubuntu-22.04 --vars-out pve.vars.json',
    });
  if (o.varsOut === '-') {
    // Only the file, so that it can be redirected.
    const text = await backend.variablesFile(platform, template!);
    print(text.replace(/\n$/, ''));
    return 0;
  }
  const varsFile = o.varsOut ? path.resolve(o.varsOut) : undefined;
  const list = await backend.list(platform, { template, varsFile });
  if (varsFile) {
    const text = await backend.variablesFile(platform, template!);
    fs.writeFileSync(varsFile, text, { mode: 0o600 });
    fs.chmodSync(varsFile, 0o600);
  }
  if (o.json) {
    print(JSON.stringify(list, null, 2));
    return 0;
  }
  print(
    `Packer template builds for ${list.platform.kind} platform ${list.platform.name}; run from ${list.installDir}.`,
  );
  for (const b of list.builds) {
    print();
    print(`${b.template} (${b.builder}): ${b.title}`);
    print(`  sign-in: ${b.credential}`);
    print('  before the build:');
    for (const u of b.uploads)
      print(
        `    - ${u.what}: ${u.where}${u.variable ? ` (${u.variable})` : ''}${u.ready === false ? ' [missing]' : ''}`,
      );
    print(
      varsFile
        ? `    - the variables file: wrote ${varsFile} (mode 0600)`
        : `    - the variables file: glassdome platforms templates ${list.platform.name} ${b.template} ` +
            `--vars-out ${b.varsFile}`,
    );
    for (const f of b.toFill) print(`    - fill in ${f.variable} there: ${f.what}`);
    print('  commands:');
    for (const c of b.commands) print(`    # ${c.purpose}\n    ${c.command}`);
    print('  notes:');
    for (const n of b.notes) print(`    - ${n}`);
    print(`  after: ${b.after}`);
  }
  return 0;
}
