// A deployment's flags, for instructors: per instance, each module instance with its machine, flag, where it is,
// hints, the marking guide and the accounts the module made; and the CTFd export. Trainees never reach this page.
import type { FlagRowModel } from '../props.ts';
import { Card } from '../components/form.tsx';

export function FlagsPage(p: {
  deploymentId: string;
  scenarioName: string;
  instances: number;
  /** The instance shown; undefined for all of them. */
  instance?: number | undefined;
  rows: FlagRowModel[];
}) {
  const base = `/deployments/${p.deploymentId}/flags`;
  const csv = `/api/v1/deployments/${p.deploymentId}/ctfd.csv`;
  const byInstance = new Map<number, FlagRowModel[]>();
  for (const r of p.rows) byInstance.set(r.instance, [...(byInstance.get(r.instance) ?? []), r]);
  return (
    <div>
      <p class="crumbs">
        <a href="/deployments">Deployments</a> / <a href={`/deployments/${p.deploymentId}`}>{p.deploymentId}</a> / flags
      </p>
      <h1>
        Flags <small>{p.scenarioName}</small>
      </h1>
      <p class="notice">
        For instructors only: every view of this page and every export is recorded in the audit log. Flags derive from
        the deployment's secret and are never stored.
      </p>
      {p.instances > 1 && (
        <nav class="tabs">
          <a href={base} class={p.instance === undefined ? 'current' : undefined}>
            All instances
          </a>
          {Array.from({ length: p.instances }, (_, k) => k + 1).map((i) => (
            <a href={`${base}?instance=${i}`} class={p.instance === i ? 'current' : undefined}>
              i{i}
            </a>
          ))}
        </nav>
      )}
      <div class="buttons">
        <a class="button" href={p.instance === undefined ? csv : `${csv}?instance=${p.instance}`} download>
          CTFd challenges CSV{p.instance === undefined ? '' : ` (instance ${p.instance})`}
        </a>
        {p.instances > 1 && p.instance === undefined && (
          <a class="button" href={`${csv}?categoryBy=instance`} download>
            CTFd CSV, one category per instance
          </a>
        )}
      </div>
      <p class="hint">Import in CTFd 3.7 or newer: Admin Panel › Config › Backup › Import CSV, type Challenges.</p>
      {p.rows.length === 0 && <p class="muted">This deployment has no vulnerability modules.</p>}
      {[...byInstance].map(([instance, rows]) => (
        <Card title={`Instance ${instance}`}>
          <table class="flags">
            <thead>
              <tr>
                <th>Machine</th>
                <th>Module</th>
                <th>Flag</th>
                <th>Where, hints and marking</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr data-module={r.module} data-instance={String(r.instance)}>
                  <td>
                    <strong>{r.hostname}</strong>
                    <br />
                    <small class="mono muted">{r.machine}</small>
                  </td>
                  <td>
                    {r.title}
                    <br />
                    <small class="muted">
                      <span class="mono">{r.module}</span> · {r.category}, {r.difficulty}, {r.points} points
                      {r.selected ? ' · drawn' : ''}
                    </small>
                  </td>
                  <td class="mono secret flag">
                    {r.flag}
                    {r.kind === 'answer' && <small class="muted"> (answer)</small>}
                  </td>
                  <td class="small">
                    <p>{r.location}</p>
                    {r.hints.length > 0 && (
                      <ol class="hints">
                        {r.hints.map((h) => (
                          <li>
                            {h.text}
                            {h.cost ? ` (${h.cost} points)` : ''}
                          </li>
                        ))}
                      </ol>
                    )}
                    <details>
                      <summary>Marking guide</summary>
                      <p class="pre">{r.marking}</p>
                    </details>
                    {r.accounts.length > 0 && (
                      <p>
                        Accounts:{' '}
                        {r.accounts.map((a) => (
                          <span class="mono">
                            {a.user} / <span class="secret">{a.password}</span>
                            {a.foothold ? ' (foothold)' : ''}{' '}
                          </span>
                        ))}
                      </p>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      ))}
    </div>
  );
}
