// Settings: platforms, pools, users, API tokens, audit log and the HTTPS certificate, one tab each.
import type { Child } from 'hono/jsx';
import type { AuditRow, PlatformKindForm, PlatformRow, TokenRow, UserRow } from '../props.ts';
import { ActionButton, Card, Csrf, Field, FormMessage, Select } from '../components/form.tsx';
import { PlatformConfigFields } from '../components/platform-form.tsx';
import { ConnectionReportView } from '../partials/connection-report-view.tsx';
import { PoolsView, type PoolsProps } from '../partials/pool-tables.tsx';

interface FormProps {
  values: Record<string, unknown>;
  errors: Record<string, string>;
  message?: string | undefined;
}

const tabs = [
  ['platforms', 'Platforms'],
  ['pools', 'Pools'],
  ['users', 'Users'],
  ['tokens', 'API tokens'],
  ['audit', 'Audit log'],
  ['tls', 'HTTPS'],
] as const;

export function SettingsFrame({ tab, admin, children }: { tab: string; admin: boolean; children?: Child }) {
  return (
    <div>
      <h1>Settings</h1>
      {admin && (
        <nav class="tabs">
          {tabs.map(([k, label]) => (
            <a href={`/settings/${k}`} class={k === tab ? 'current' : ''}>
              {label}
            </a>
          ))}
        </nav>
      )}
      {children}
    </div>
  );
}

export function PlatformsTab(p: {
  platforms: PlatformRow[];
  kinds: PlatformKindForm[];
  selected: string;
  form: FormProps;
  csrf: string;
}) {
  const form = p.kinds.find((k) => k.kind === p.selected) ?? p.kinds[0]!;
  return (
    <SettingsFrame tab="platforms" admin>
      <Card title="Platforms">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Secret</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {p.platforms.map((pl) => (
              <tr>
                <td>{pl.name}</td>
                <td>{pl.kind}</td>
                <td>{pl.hasSecret ? 'stored' : '—'}</td>
                <td>
                  <a href={`/settings/platforms/${pl.id}`}>Edit</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <Card title="Add a platform">
        <p class="kind-picker">
          {p.kinds.map((k) => (
            <a class={`kind${k.kind === form.kind ? ' selected' : ''}`} href={`/settings/platforms?kind=${k.kind}`}>
              {k.title}
            </a>
          ))}
        </p>
        <form method="post" action="/settings/platforms" class="stack" id="platform-form">
          <Csrf token={p.csrf} />
          <input type="hidden" name="kind" value={form.kind} />
          <FormMessage message={p.form.message} />
          <Field name="name" label="Name" values={p.form.values} errors={p.form.errors} required />
          <PlatformConfigFields form={form} values={p.form.values} errors={p.form.errors} />
          <ConnectionReportView />
          <div class="buttons">
            <button
              type="button"
              hx-post="/settings/platforms/test"
              hx-include="#platform-form"
              hx-target="#connection-report"
              hx-swap="outerHTML"
            >
              Test connection
            </button>
            <button type="submit" class="primary">
              Add platform
            </button>
          </div>
        </form>
      </Card>
    </SettingsFrame>
  );
}

export function PlatformEditTab(p: {
  platform: PlatformRow;
  kind: PlatformKindForm;
  form: FormProps;
  csrf: string;
  saved: boolean;
  builtIn: boolean;
  /** The platform builds packer templates (Proxmox VE, ESXi): link its Templates page. */
  templateBuilds?: boolean;
}) {
  return (
    <SettingsFrame tab="platforms" admin>
      <Card title={`Platform ${p.platform.name}`}>
        {p.saved && <p class="notice">Saved.</p>}
        {p.templateBuilds && (
          <p>
            <a href={`/settings/platforms/${p.platform.id}/templates`}>Templates</a>: build Windows Server 2022 and
            Ubuntu templates on this platform with packer (commands and variables files).
          </p>
        )}
        <form method="post" action={`/settings/platforms/${p.platform.id}`} class="stack" id="platform-form">
          <Csrf token={p.csrf} />
          <FormMessage message={p.form.message} />
          <PlatformConfigFields
            form={p.kind}
            values={p.form.values}
            errors={p.form.errors}
            hasSecret={p.platform.hasSecret}
          />
          <ConnectionReportView />
          <div class="buttons">
            <button
              type="button"
              hx-post={`/settings/platforms/${p.platform.id}/test`}
              hx-include="#platform-form"
              hx-target="#connection-report"
              hx-swap="outerHTML"
            >
              Test connection
            </button>
            <button type="submit" class="primary">
              Save
            </button>
          </div>
        </form>
        {!p.builtIn && (
          <form method="post" action={`/settings/platforms/${p.platform.id}/delete`} class="inline">
            <Csrf token={p.csrf} />
            <label>
              <input type="checkbox" name="confirm" value="yes" required /> Remove {p.platform.name}: only when all of
              its deployments are destroyed, whose records go with it
            </label>
            <button type="submit" class="danger">
              Remove platform
            </button>
          </form>
        )}
      </Card>
    </SettingsFrame>
  );
}

export function PoolsTab(p: PoolsProps) {
  return (
    <SettingsFrame tab="pools" admin>
      <Card title="Address and VLAN pools">
        <PoolsView {...p} action="/settings/pools" />
      </Card>
    </SettingsFrame>
  );
}

export function UsersTab(p: { users: UserRow[]; form: FormProps; csrf: string; selfId: string }) {
  const roleOptions = [
    { value: 'trainee', label: 'trainee: sees the ranges assigned to them' },
    { value: 'instructor', label: 'instructor: scenarios and deployments' },
    { value: 'admin', label: 'admin: everything' },
  ];
  return (
    <SettingsFrame tab="users" admin>
      <Card title="Users">
        <table>
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Status</th>
              <th>Change</th>
            </tr>
          </thead>
          <tbody>
            {p.users.map((u) => (
              <tr>
                <td>{u.username}</td>
                <td>{u.role}</td>
                <td>{u.disabled ? 'disabled' : 'active'}</td>
                <td>
                  {u.id !== p.selfId && (
                    <form method="post" action={`/settings/users/${u.id}`} class="inline-form">
                      <Csrf token={p.csrf} />
                      <select name="role" aria-label={`Role of ${u.username}`}>
                        {['trainee', 'instructor', 'admin'].map((r) => (
                          <option value={r} selected={u.role === r}>
                            {r}
                          </option>
                        ))}
                      </select>
                      <input
                        type="password"
                        name="password"
                        placeholder="new password (optional)"
                        autocomplete="new-password"
                        aria-label={`New password for ${u.username}`}
                      />
                      <label>
                        <input type="checkbox" name="disabled" checked={u.disabled} /> disabled
                      </label>
                      <input type="hidden" name="disabled" value="off" />
                      <button type="submit">Update</button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <Card title="Add a user">
        <form method="post" action="/settings/users" class="stack">
          <Csrf token={p.csrf} />
          <FormMessage message={p.form.message} />
          <Field name="username" label="Username" values={p.form.values} errors={p.form.errors} required />
          <Field
            name="password"
            label="Password"
            type="password"
            errors={p.form.errors}
            required
            autocomplete="new-password"
            hint="At least 10 characters."
          />
          <Field
            name="confirm"
            label="Password again"
            type="password"
            errors={p.form.errors}
            required
            autocomplete="new-password"
          />
          <Select
            name="role"
            label="Role"
            options={roleOptions}
            selected={p.form.values.role as string | undefined}
            errors={p.form.errors}
          />
          <button type="submit" class="primary">
            Add user
          </button>
        </form>
      </Card>
    </SettingsFrame>
  );
}

export function TokensTab(p: {
  tokens: TokenRow[];
  created?: string | undefined;
  form: FormProps;
  csrf: string;
  admin: boolean;
  serverUrl: string;
}) {
  return (
    <SettingsFrame tab="tokens" admin={p.admin}>
      {p.created && (
        <Card title="New token">
          <p>Copy it now; it is not shown again.</p>
          <pre class="token mono">{p.created}</pre>
          <p class="muted">
            Use it from the CLI: <code>glassdome --server {p.serverUrl} --token &lt;token&gt; list</code>
          </p>
        </Card>
      )}
      <Card title="API tokens">
        {p.tokens.length === 0 ? (
          <p class="muted">No tokens.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Owner</th>
                <th>Starts with</th>
                <th>Created</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {p.tokens.map((t) => (
                <tr>
                  <td>{t.name}</td>
                  <td>{t.username}</td>
                  <td class="mono">{t.prefix}…</td>
                  <td>{t.createdAt.replace('T', ' ').slice(0, 16)}</td>
                  <td>{t.lastUsedAt?.replace('T', ' ').slice(0, 16) ?? 'never'}</td>
                  <td>
                    <ActionButton
                      action={`/settings/tokens/${t.id}/revoke`}
                      csrf={p.csrf}
                      label="Revoke"
                      class="danger"
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form method="post" action="/settings/tokens" class="inline-form">
          <Csrf token={p.csrf} />
          <Field
            name="name"
            label="New token for"
            values={p.form.values}
            errors={p.form.errors}
            placeholder="ci-script"
          />
          <button type="submit" class="primary">
            Create token
          </button>
        </form>
      </Card>
    </SettingsFrame>
  );
}

/** `older`: the id to page back from, when there are older entries; `paged`: this is not the newest page. */
export function AuditTab({
  entries,
  older,
  paged,
}: {
  entries: AuditRow[];
  older?: number | undefined;
  paged: boolean;
}) {
  return (
    <SettingsFrame tab="audit" admin>
      <Card title="Audit log">
        <table class="audit">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>From</th>
              <th>What</th>
              <th>On</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr data-audit-id={e.id}>
                <td>{e.at.replace('T', ' ').slice(0, 19)}</td>
                <td>{e.username}</td>
                <td class="mono">{e.ip}</td>
                <td>{e.action}</td>
                <td>{e.target}</td>
                <td>{e.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="buttons">
          {paged && <a href="/settings/audit">Newest</a>}
          {older !== undefined && <a href={`/settings/audit?before=${older}`}>Older entries</a>}
        </p>
      </Card>
    </SettingsFrame>
  );
}

export function TlsTab(p: {
  info?: { subject: string; issuer: string; validTo: string; fingerprint256: string; selfSigned: boolean } | undefined;
  form: FormProps;
  csrf: string;
  saved: boolean;
}) {
  return (
    <SettingsFrame tab="tls" admin>
      <Card title="HTTPS certificate">
        {p.saved && <p class="notice">Certificate installed; new connections use it.</p>}
        {p.info ? (
          <dl class="facts">
            <dt>Subject</dt>
            <dd>{p.info.subject}</dd>
            <dt>Issuer</dt>
            <dd>{p.info.issuer}</dd>
            <dt>Valid until</dt>
            <dd>{p.info.validTo}</dd>
            <dt>SHA-256 fingerprint</dt>
            <dd class="mono small">{p.info.fingerprint256}</dd>
            <dt>Kind</dt>
            <dd>{p.info.selfSigned ? 'self-signed, generated at first boot' : 'uploaded'}</dd>
          </dl>
        ) : (
          <p class="muted">
            This appliance serves plain HTTP (development mode, GLASSDOME_TLS=off or bound to localhost).
          </p>
        )}
        {p.info && (
          <form method="post" action="/settings/tls" enctype="multipart/form-data" class="stack">
            <Csrf token={p.csrf} />
            <FormMessage message={p.form.message} />
            <div class="field">
              <label for="f-cert">Certificate (PEM, with its chain)</label>
              <input id="f-cert" type="file" name="cert" accept=".pem,.crt" />
              {p.form.errors.cert && <p class="error">{p.form.errors.cert}</p>}
            </div>
            <div class="field">
              <label for="f-key">Private key (PEM)</label>
              <input id="f-key" type="file" name="key" accept=".pem,.key" />
              {p.form.errors.key && <p class="error">{p.form.errors.key}</p>}
            </div>
            <button type="submit" class="primary">
              Install certificate
            </button>
          </form>
        )}
      </Card>
    </SettingsFrame>
  );
}
