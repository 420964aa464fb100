// One machine: address, OS, state, credentials for those allowed, power actions, snapshots where supported.
import type { MachineModel } from '../props.ts';
import { ActionButton, Card, Csrf, Field, FormMessage } from '../components/form.tsx';
import { StateBadge } from '../components/state.tsx';

export interface MachinePageProps {
  deploymentId: string;
  m: MachineModel;
  power: string;
  liveAddresses: string[];
  powerError?: string | undefined;
  credentials?: Array<{ user: string; password: string }> | undefined;
  canSnapshot: boolean;
  snapshots: Array<{ name: string; createdAt?: string | undefined }>;
  csrf: string;
  message?: string | undefined;
  snapshotForm: { values: Record<string, unknown>; errors: Record<string, string> };
  /** Which of the browser console and the web terminal this machine offers (absent: neither). */
  remote?: { console: boolean; terminal: boolean } | undefined;
}

export function MachinePage(p: MachinePageProps) {
  const base = `/deployments/${p.deploymentId}/machines/${encodeURIComponent(p.m.key)}`;
  return (
    <div>
      <p class="crumbs">
        <a href="/deployments">Deployments</a> / <a href={`/deployments/${p.deploymentId}`}>{p.deploymentId}</a> /{' '}
        {p.m.hostname}
      </p>
      <h1>
        {p.m.hostname} <StateBadge state={p.m.state} />
      </h1>
      <FormMessage message={p.message} />
      <Card title="Machine">
        <dl class="facts">
          <dt>Instance</dt>
          <dd>
            i{p.m.instance}
            {p.m.assignedTo ? ` (${p.m.assignedTo})` : ''}
          </dd>
          <dt>Operating system</dt>
          <dd>{p.m.os}</dd>
          <dt>Addresses</dt>
          <dd class="mono">
            {(p.liveAddresses.length > 0
              ? p.liveAddresses
              : p.m.addresses.length > 0
                ? p.m.addresses
                : p.m.plannedAddresses
            ).join(', ') || '—'}
          </dd>
          <dt>Power</dt>
          <dd>
            <StateBadge state={p.power} />
            {p.powerError && <small class="muted"> {p.powerError}</small>}
          </dd>
          <dt>Platform id</dt>
          <dd class="mono">{p.m.platformId ?? '—'}</dd>
        </dl>
        {(p.remote?.console || p.remote?.terminal) && (
          <div class="buttons remote-buttons">
            {p.remote.console && (
              <a class="button" href={`${base}/console`}>
                Console
              </a>
            )}
            {p.remote.terminal && (
              <a class="button" href={`${base}/terminal`}>
                Terminal
              </a>
            )}
          </div>
        )}
        <div class="buttons">
          <ActionButton
            action={`${base}/power`}
            csrf={p.csrf}
            name="action"
            value="start"
            label="Start"
            disabled={p.power === 'running' || p.power === 'missing'}
          />
          <ActionButton
            action={`${base}/power`}
            csrf={p.csrf}
            name="action"
            value="stop"
            label="Shut down"
            disabled={p.power !== 'running'}
          />
          <ActionButton
            action={`${base}/power`}
            csrf={p.csrf}
            name="action"
            value="reset"
            label="Reset"
            disabled={p.power === 'missing'}
          />
        </div>
      </Card>
      {p.credentials && p.credentials.length > 0 && (
        <Card title="Credentials">
          <table>
            <thead>
              <tr>
                <th>User</th>
                <th>Password</th>
              </tr>
            </thead>
            <tbody>
              {p.credentials.map((c) => (
                <tr>
                  <td class="mono">{c.user}</td>
                  <td class="mono secret">{c.password}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
      {p.canSnapshot && (
        <Card title="Snapshots">
          {p.snapshots.length === 0 ? (
            <p class="muted">No snapshots yet.</p>
          ) : (
            <table>
              <tbody>
                {p.snapshots.map((s) => (
                  <tr>
                    <td class="mono">{s.name}</td>
                    <td>{s.createdAt?.replace('T', ' ').slice(0, 19) ?? ''}</td>
                    <td>
                      <ActionButton
                        action={`${base}/snapshots/revert`}
                        csrf={p.csrf}
                        name="name"
                        value={s.name}
                        label="Revert"
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form method="post" action={`${base}/snapshots`} class="inline-form">
            <Csrf token={p.csrf} />
            <Field
              name="name"
              label="New snapshot"
              values={p.snapshotForm.values}
              errors={p.snapshotForm.errors}
              placeholder="before-exercise"
            />
            <button type="submit">Take snapshot</button>
          </form>
        </Card>
      )}
    </div>
  );
}
