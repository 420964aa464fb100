// A platform's packer template builds (Settings > Platforms > NAME > Templates): per template, what to upload, the
// credential to fill in, the commands in order in copyable blocks, and the variables file to download.
import type { PlatformRow, TemplateBuildRow } from '../props.ts';
import { Card } from '../components/form.tsx';
import { SettingsFrame } from './settings.tsx';

export function TemplateBuildsPage(p: {
  platform: Pick<PlatformRow, 'id' | 'name' | 'kind'>;
  installDir: string;
  builds: TemplateBuildRow[];
}) {
  return (
    <SettingsFrame tab="platforms" admin>
      <p class="crumbs">
        <a href="/settings/platforms">Platforms</a> /{' '}
        <a href={`/settings/platforms/${p.platform.id}`}>{p.platform.name}</a> / templates
      </p>
      <Card title={`Templates for ${p.platform.name}`}>
        <p>
          Glassdome clones machines from templates. These packer builds make them on this {p.platform.kind} platform;
          run the commands where packer 1.6.6 or newer is installed (the appliance has packer and xorriso), from the
          install folder <code>{p.installDir}</code>. Download the variables file, save it where the commands read it,
          and type the password into it: the appliance never writes a stored secret out. Every download is in the audit
          log. <code>packer/README-windows.md</code> explains each step.
        </p>
        <p class="hint">
          The same from the command line:{' '}
          <code>glassdome platforms templates {p.platform.name} [TEMPLATE] --vars-out FILE</code>; or the API:{' '}
          <code>GET /api/v1/platforms/{p.platform.id}/template-builds</code>.
        </p>
        <ul>
          {p.builds.map((b) => (
            <li>
              <a href={`#build-${b.template}`}>{b.template}</a>: {b.title}
            </li>
          ))}
        </ul>
      </Card>
      {p.builds.map((b) => (
        <section class="card" id={`build-${b.template}`}>
          <div class="card-head">
            <h2>
              {b.template} <small class="muted">{b.builder}</small>
            </h2>
            <a class="button" href={b.varsUrl} download={b.varsFileName}>
              Variables file
            </a>
          </div>
          <p>{b.title}</p>
          <h3>Sign-in</h3>
          <p>{b.credential}</p>
          <h3>Before the build</h3>
          <ul>
            {b.uploads.map((u) => (
              <li>
                {u.what}: <code>{u.where}</code>
                {u.variable && (
                  <span class="muted">
                    {' '}
                    (<code>{u.variable}</code>)
                  </span>
                )}
                {u.ready === false && <strong> missing</strong>}
              </li>
            ))}
            <li>
              Save the variables file as <code>{b.varsFile}</code> and fill in:{' '}
              {b.toFill.map((f, i) => (
                <span>
                  {i > 0 && ', '}
                  <code>{f.variable}</code> ({f.what})
                </span>
              ))}
              .
            </li>
          </ul>
          <h3>Commands</h3>
          <ol class="commands">
            {b.commands.map((c) => (
              <li>
                <span class="muted">{c.purpose}</span>
                <pre class="command">{c.command}</pre>
              </li>
            ))}
          </ol>
          <h3>Notes</h3>
          <ul>
            {b.notes.map((n) => (
              <li>{n}</li>
            ))}
          </ul>
          <p>
            <strong>After the build:</strong> {b.after}
          </p>
        </section>
      ))}
    </SettingsFrame>
  );
}
