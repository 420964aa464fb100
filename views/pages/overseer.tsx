// The Overseer page: each job with its schedule, last run (start, duration, result, what it said), skips and a "run
// now" button; the open findings with what the overseer did about them; each platform's auto-fix policy and the
// quotas per user, which an admin sets here.
import { findingTitles } from '../../server/model/overseer.ts';
import { ActionButton, Card, Csrf, FormMessage } from '../components/form.tsx';
import { StateBadge } from '../components/state.tsx';
import type { Finding, JobStatus, OverseerPolicy, QuotaRow, Role } from '../props.ts';

export interface OverseerPageProps {
  jobs: JobStatus[];
  findings: Finding[];
  resolved: number;
  policies: Array<OverseerPolicy & { platformName: string; platformKind: string }>;
  quotas: QuotaRow[];
  role: Role;
  csrf: string;
  message?: string | undefined;
}

const time = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '—');

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

const limit = (n: number | null) => (n === null ? '' : String(n));

export function OverseerPage(p: OverseerPageProps) {
  const admin = p.role === 'admin';
  return (
    <div class="overseer">
      <h1>Overseer</h1>
      <FormMessage message={p.message} />
      <Card title="Jobs">
        <table>
          <thead>
            <tr>
              <th>Job</th>
              <th>Schedule</th>
              <th>Last run</th>
              <th>Duration</th>
              <th>Result</th>
              <th>Runs / skips / failures</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {p.jobs.map((j) => (
              <>
                <tr id={`job-${j.name}`}>
                  <td>
                    <strong>{j.name}</strong>
                    <br />
                    <small class="muted">{j.description}</small>
                  </td>
                  <td class="mono">{j.schedule}</td>
                  <td>{time(j.lastRun?.startedAt)}</td>
                  <td>{j.lastRun ? duration(j.lastRun.durationMs) : '—'}</td>
                  <td>
                    {j.running ? (
                      <StateBadge state="running" />
                    ) : j.lastRun ? (
                      <StateBadge state={j.lastRun.result === 'ok' ? 'ready' : 'failed'} />
                    ) : (
                      '—'
                    )}
                  </td>
                  <td>
                    {j.runs} / {j.skips} / {j.failures}
                  </td>
                  <td>
                    <ActionButton
                      action={`/overseer/jobs/${j.name}/run`}
                      csrf={p.csrf}
                      label="Run now"
                      disabled={j.running !== null}
                    />
                  </td>
                </tr>
                <tr class="detail">
                  <td colspan={7}>
                    {j.running && (
                      <p>
                        Running since {time(j.running.since)} in process <span class="mono">{j.running.owner}</span>.
                      </p>
                    )}
                    {j.lastRun && (
                      <p class={j.lastRun.result === 'ok' ? 'muted' : 'alert'}>
                        {j.lastRun.trigger === 'manual' ? `Run by ${j.lastRun.by}: ` : ''}
                        {j.lastRun.summary}
                      </p>
                    )}
                    {j.lastSkip && (
                      <p class="muted">
                        Last skipped {time(j.lastSkip.at)}: {j.lastSkip.reason}
                      </p>
                    )}
                  </td>
                </tr>
              </>
            ))}
          </tbody>
        </table>
      </Card>
      <Card title={`Open findings (${p.findings.length})`}>
        {p.findings.length === 0 ? (
          <p class="muted">
            Nothing wrong seen.{p.resolved > 0 ? ` ${p.resolved} finding(s) resolved in the last 30 days.` : ''}
          </p>
        ) : (
          <table class="findings">
            <thead>
              <tr>
                <th>What</th>
                <th>Where</th>
                <th>Since</th>
                <th>Fix</th>
              </tr>
            </thead>
            <tbody>
              {p.findings.map((f) => (
                <tr>
                  <td>
                    <strong>{findingTitles[f.kind]}</strong>
                    <br />
                    <small>{f.message}</small>
                  </td>
                  <td>
                    {f.deploymentId && f.machineKey ? (
                      <a href={`/deployments/${f.deploymentId}/machines/${encodeURIComponent(f.machineKey)}`}>
                        {f.deploymentId}/{f.machineKey}
                      </a>
                    ) : (
                      <span class="mono">{f.resourceName}</span>
                    )}
                  </td>
                  <td>
                    {time(f.firstSeenAt)}
                    <br />
                    <small class="muted">seen {time(f.lastSeenAt)}</small>
                  </td>
                  <td>
                    {f.fix.state === 'none' ? (
                      <span class="muted">reported</span>
                    ) : (
                      <>
                        <StateBadge
                          state={f.fix.state === 'fixed' ? 'ready' : f.fix.state === 'waiting' ? 'pending' : 'failed'}
                        />{' '}
                        <small>
                          {f.fix.detail}
                          {f.fix.attempts > 0 ? ` (${f.fix.attempts} attempt${f.fix.attempts === 1 ? '' : 's'})` : ''}
                        </small>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Auto-fix policy per platform">
        <p class="hint">
          <strong>Report only</strong> records findings. <strong>Fix</strong> also starts machines stopped outside the
          appliance, installs a missing guest agent over SSH, reloads testing mode on a rebooted router, rebuilds
          missing machines from their plan and destroys orphans (only those tagged or named as Glassdome's) once the
          grace period has passed. Every action is in the audit log with its reason.
        </p>
        <table>
          <thead>
            <tr>
              <th>Platform</th>
              <th>Policy</th>
              <th>Orphan grace</th>
              <th>Set by</th>
            </tr>
          </thead>
          <tbody>
            {p.policies.map((pol) => (
              <tr>
                <td>
                  {pol.platformName} <small class="muted">({pol.platformKind})</small>
                </td>
                <td colspan={admin ? 2 : 1}>
                  {admin ? (
                    <form method="post" action={`/overseer/policies/${pol.platformId}`} class="inline-form">
                      <Csrf token={p.csrf} />
                      <select name="mode" aria-label={`Policy of ${pol.platformName}`}>
                        <option value="report" selected={pol.mode === 'report'}>
                          report only
                        </option>
                        <option value="fix" selected={pol.mode === 'fix'}>
                          fix
                        </option>
                      </select>{' '}
                      <input
                        name="orphanGraceMinutes"
                        type="number"
                        min={0}
                        value={String(pol.orphanGraceMinutes)}
                        aria-label="Orphan grace in minutes"
                      />{' '}
                      min <button type="submit">Save</button>
                    </form>
                  ) : pol.mode === 'fix' ? (
                    'fix'
                  ) : (
                    'report only'
                  )}
                </td>
                {!admin && <td>{pol.orphanGraceMinutes} min</td>}
                <td>{pol.updatedBy ? `${pol.updatedBy}, ${time(pol.updatedAt)}` : 'default'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      {admin && (
        <Card title="Quotas per user">
          <p class="hint">
            Counted over the deployments a user started that are not destroyed; checked before a deployment is stored
            and again before anything is created. Leave a field empty for no limit.
          </p>
          <table>
            <thead>
              <tr>
                <th>User</th>
                <th>In use</th>
                <th>Limits: machines, vCPUs, memory (MiB), deployments</th>
              </tr>
            </thead>
            <tbody>
              {p.quotas.map((q) => (
                <tr>
                  <td>
                    {q.username} <small class="muted">({q.role})</small>
                  </td>
                  <td>
                    {q.usage.machines} machines, {q.usage.vcpus} vCPUs, {q.usage.memoryMb} MiB, {q.usage.deployments}{' '}
                    deployments
                  </td>
                  <td>
                    <form method="post" action={`/overseer/quotas/${q.userId}`} class="inline-form">
                      <Csrf token={p.csrf} />
                      {(['machines', 'vcpus', 'memoryMb', 'deployments'] as const).map((k) => (
                        <input
                          name={k}
                          type="number"
                          min={0}
                          value={limit(q[k])}
                          aria-label={`${k} of ${q.username}`}
                        />
                      ))}{' '}
                      <button type="submit">Save</button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </div>
  );
}
