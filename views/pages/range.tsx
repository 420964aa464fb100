// A deployment's care page: its lifecycle (idle shutdown, end date, trainee testing mode), starting or stopping it
// whole, what the overseer last saw of each machine and what it found, and per instance its trainee (given to another,
// with whether the router holds the VPN seat's new key), the snapshots (take, reset, delete) and testing mode (state,
// allow-list, who switched it and how the router was verified).
import { findingTitles } from '../../server/model/overseer.ts';
import { ActionButton, Card, Csrf, FormMessage } from '../components/form.tsx';
import { StateBadge } from '../components/state.tsx';
import type { DeploymentLifecycle, Finding, MachineHealth, RangeInstance } from '../props.ts';
import type { TraineeVpnState } from '../../server/model/vpn.ts';

export interface RangePageProps {
  deploymentId: string;
  scenarioName: string;
  state: string;
  platformKind: string;
  supportsSnapshots: boolean;
  lifecycle: DeploymentLifecycle;
  health: MachineHealth[];
  findings: Finding[];
  instances: RangeInstance[];
  canManage: boolean;
  /** Active trainees staff may give an instance to. */
  trainees: Array<{ id: string; username: string }>;
  csrf: string;
  message?: string | undefined;
}

const time = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '—');

export function RangePage(p: RangePageProps) {
  const base = `/deployments/${p.deploymentId}/range`;
  const l = p.lifecycle;
  return (
    <div class="range">
      <p class="crumbs">
        <a href="/deployments">Deployments</a> / <a href={`/deployments/${p.deploymentId}`}>{p.deploymentId}</a> / range
      </p>
      <h1>
        {p.scenarioName} <small class="mono">{p.deploymentId}</small> <StateBadge state={p.state} />
      </h1>
      <FormMessage message={p.message} />
      {p.canManage && (
        <Card title="Lifecycle">
          <form method="post" action={`${base}/lifecycle`} class="stack">
            <Csrf token={p.csrf} />
            <div class="field">
              <label for="f-idle">
                Stop every machine after this many idle minutes (no page or API use, no CPU load)
              </label>
              <input
                id="f-idle"
                name="idleShutdownMinutes"
                type="number"
                min={5}
                value={l.idleShutdownMinutes === null ? '' : String(l.idleShutdownMinutes)}
                placeholder="never"
              />
            </div>
            <div class="field">
              <label for="f-ends">Ends at (UTC): warned before, stopped then, destroyed after the grace period</label>
              <input id="f-ends" name="endsAt" type="datetime-local" value={l.endsAt ? l.endsAt.slice(0, 16) : ''} />
            </div>
            <div class="field">
              <label for="f-warn">Warn this many hours before the end</label>
              <input id="f-warn" name="warnHours" type="number" min={0} value={String(l.warnHours)} />
            </div>
            <div class="field">
              <label for="f-grace">Destroy this many hours after the end</label>
              <input id="f-grace" name="destroyGraceHours" type="number" min={0} value={String(l.destroyGraceHours)} />
            </div>
            <input type="hidden" name="traineeTestingModeShown" value="1" />
            <div class="field">
              <label>
                <input type="checkbox" name="traineeTestingMode" value="on" checked={l.traineeTestingMode} /> Trainees
                may switch their own instance into testing mode
              </label>
            </div>
            <p class="muted">
              Expiry: {l.endsAt ? `${l.expiryStage === 'none' ? 'not reached' : l.expiryStage}` : 'no end date'} · last
              activity {time(l.lastActivityAt)} · last CPU load {time(l.lastBusyAt)}
              {l.idleStoppedAt ? ` · stopped as idle at ${time(l.idleStoppedAt)}` : ''}
            </p>
            <button type="submit">Save</button>
          </form>
          <div class="buttons">
            <ActionButton
              action={`${base}/power`}
              csrf={p.csrf}
              name="action"
              value="start"
              label="Start all machines"
            />
            <ActionButton action={`${base}/power`} csrf={p.csrf} name="action" value="stop" label="Stop all machines" />
          </div>
        </Card>
      )}
      <Card title="Health">
        {p.health.length === 0 ? (
          <p class="muted">The overseer has not looked at this deployment yet (every minute once it is ready).</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Machine</th>
                <th>Power</th>
                <th>Guest agent</th>
                <th>Addresses</th>
                <th>Router</th>
                <th>Checked</th>
              </tr>
            </thead>
            <tbody>
              {p.health
                .filter((h) => p.canManage || p.instances.some((i) => h.key.startsWith(`i${i.instance}.`)))
                .map((h) => (
                  <tr>
                    <td class="mono">{h.key}</td>
                    <td>
                      <StateBadge state={h.power} />
                    </td>
                    <td>{h.agent}</td>
                    <td class="mono">{h.addresses.join(', ') || '—'}</td>
                    <td>{h.router ?? '—'}</td>
                    <td>
                      {time(h.checkedAt)}
                      <br />
                      <small class="muted">changed {time(h.changedAt)}</small>
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        )}
        {p.findings.length > 0 && (
          <ul class="findings">
            {p.findings.map((f) => (
              <li>
                <strong>{findingTitles[f.kind]}</strong>: {f.message}
                {f.fix.state !== 'none' ? ` (fix: ${f.fix.state}${f.fix.detail ? `, ${f.fix.detail}` : ''})` : ''}
              </li>
            ))}
          </ul>
        )}
      </Card>
      {p.instances.map((i) => (
        <Card title={`Instance ${i.instance}${i.assignedTo ? ` (${i.assignedTo})` : ''}`}>
          {p.canManage && (
            <>
              <h3>Trainee</h3>
              <form method="post" action={`${base}/instances/${i.instance}/assignment`} class="inline-form">
                <Csrf token={p.csrf} />
                <select name="trainee" aria-label={`Trainee of instance ${i.instance}`}>
                  <option value="" selected={i.assignedTo === null}>
                    nobody
                  </option>
                  {p.trainees.map((t) => (
                    <option value={t.id} selected={t.username === i.assignedTo}>
                      {t.username}
                    </option>
                  ))}
                </select>{' '}
                <button type="submit">Give the instance to them</button>
              </form>
              {i.vpn && <VpnSeat vpn={i.vpn} action={`${base}/instances/${i.instance}/vpn/apply`} csrf={p.csrf} />}
            </>
          )}
          <h3>Snapshots</h3>
          {!p.supportsSnapshots ? (
            <p class="muted">
              This platform's driver takes no snapshots (cloud snapshots are not part of this version).
            </p>
          ) : (
            <>
              {p.platformKind === 'proxmox' && (
                <p class="hint">
                  On Proxmox with ZFS storage a reset reaches only the newest snapshot: delete newer ones first, or keep
                  one.
                </p>
              )}
              {i.snapshots.length === 0 ? (
                <p class="muted">No snapshots of this instance.</p>
              ) : (
                <table>
                  <tbody>
                    {i.snapshots.map((s) => (
                      <tr>
                        <td class="mono">{s.name}</td>
                        <td>
                          {time(s.createdAt)} by {s.createdBy}
                          {s.purpose === 'testing' ? ' (testing mode)' : ''}
                        </td>
                        <td>
                          {i.canReset && (
                            <ActionButton
                              action={`${base}/instances/${i.instance}/snapshots/reset`}
                              csrf={p.csrf}
                              name="name"
                              value={s.name}
                              label="Reset to it"
                            />
                          )}
                          {p.canManage && (
                            <ActionButton
                              action={`${base}/instances/${i.instance}/snapshots/delete`}
                              csrf={p.csrf}
                              name="name"
                              value={s.name}
                              label="Delete"
                            />
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {p.canManage && (
                <form method="post" action={`${base}/instances/${i.instance}/snapshots`} class="inline-form">
                  <Csrf token={p.csrf} />
                  <input
                    name="name"
                    placeholder="before-exercise"
                    aria-label={`Snapshot name for instance ${i.instance}`}
                  />{' '}
                  <button type="submit">Snapshot every machine</button>
                </form>
              )}
            </>
          )}
          <h3>Testing mode</h3>
          {i.testing.state === 'on' ? (
            <p>
              <StateBadge state="running" /> on since {time(i.testing.switchedAt)}, switched by {i.testing.switchedBy}.
              Allowed out:{' '}
              <span class="mono">
                {[...i.testing.allow.addresses, ...i.testing.allow.domains].join(', ') || 'nothing'}
              </span>
              . {i.testing.verified}
            </p>
          ) : (
            <p class="muted">
              Off
              {i.testing.switchedBy ? ` (last switched by ${i.testing.switchedBy}, ${time(i.testing.switchedAt)})` : ''}
              .
            </p>
          )}
          {i.canTest && (
            <form method="post" action={`${base}/instances/${i.instance}/testing`} class="stack">
              <Csrf token={p.csrf} />
              <div class="field">
                <label for={`f-allow-${i.instance}`}>
                  Allowed out (addresses, CIDRs and DNS names, separated by commas)
                </label>
                <input
                  id={`f-allow-${i.instance}`}
                  name="allow"
                  value={[...i.testing.allow.addresses, ...i.testing.allow.domains].join(', ')}
                  placeholder="deb.debian.org, 192.0.2.10"
                />
              </div>
              <button type="submit">
                {i.testing.state === 'on' ? 'Change the allow-list' : 'Snapshot and enter testing mode'}
              </button>
            </form>
          )}
          {i.canTest && i.testing.state === 'on' && (
            <form method="post" action={`${base}/instances/${i.instance}/testing/leave`} class="inline-form">
              <Csrf token={p.csrf} />
              <label>
                <input type="checkbox" name="revert" value="on" /> revert to {i.testing.snapshot ?? 'the snapshot'}
              </label>{' '}
              <button type="submit">Leave testing mode</button>
            </form>
          )}
        </Card>
      ))}
    </div>
  );
}

/** The instance's VPN seat: which key the router holds, and, while a new key is not on it, that the old one connects. */
function VpnSeat({ vpn, action, csrf }: { vpn: TraineeVpnState; action: string; csrf: string }) {
  const key = <span class="mono">{vpn.publicKey.slice(0, 10)}…</span>;
  if (vpn.router === 'first-boot')
    return (
      <p class="hint">
        VPN seat key {key}: the one the router got at its first boot. Giving the instance to someone else makes it anew,
        so the configuration the trainee downloaded stops working.
      </p>
    );
  const made = `made anew ${time(vpn.rotatedAt)} by ${vpn.rotatedBy}`;
  if (vpn.router === 'applied')
    return (
      <p class="notice">
        VPN seat key {key} {made}; on the router: {vpn.detail} ({time(vpn.checkedAt)}).
      </p>
    );
  return (
    <div class="alert" role="alert">
      <p>
        VPN seat key {key} {made} is <strong>not on the router yet</strong>: {vpn.detail}
        {vpn.checkedAt ? ` (${time(vpn.checkedAt)})` : ''}. The health sweep applies it once the router answers (fix
        policy) or reports it.
      </p>
      <ActionButton action={action} csrf={csrf} label="Apply to the router now" />
    </div>
  );
}
