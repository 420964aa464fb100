// The pieces of the deployment page. Each renders on first load and again, identical, when pushed over SSE:
// the summary (state, progress, actions), one row per network and per machine, and log lines.
import { raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { DeploymentEvent } from '../../server/model/events.ts';
import { activeDeploymentStates } from '../../server/model/states.ts';
import type { DeploymentModel, InstanceModel, MachineModel, MachinePowerModel, NetworkModel } from '../props.ts';
import { ActionButton, Csrf } from '../components/form.tsx';
import { Progress, StateBadge } from '../components/state.tsx';

export const domId = (prefix: string, key: string) => `${prefix}-${key.replace(/[^a-zA-Z0-9_-]/g, '_')}`;

const cancellable = ['pending', 'deploying'];
const retryable = ['failed', 'cancelled'];
const destroyable = ['ready', 'failed', 'cancelled', 'destroy_failed', 'pending', 'deploying', 'cancelling'];

const tearingDown = ['destroying', 'destroyed', 'destroy_failed'];
/** In these states something is still happening: the live status says "live", otherwise "up to date". */
const busy: readonly string[] = activeDeploymentStates;

export function DeploymentSummary({
  model,
  csrf,
  canManage,
  confirmError,
}: {
  model: Pick<DeploymentModel, 'head' | 'counts'> & Partial<Pick<DeploymentModel, 'assigned'>>;
  csrf: string;
  canManage: boolean;
  /** The destroy confirmation was wrong: the form is shown open, with this beside its field. */
  confirmError?: string | undefined;
}) {
  const { head, counts } = model;
  const trainees = [...(model.assigned ?? new Map<number, { username: string }>())].sort(([a], [b]) => a - b);
  const base = `/deployments/${head.id}`;
  const removing = tearingDown.includes(head.state);
  return (
    <section
      id="dep-summary"
      class="card summary"
      data-state={head.state}
      data-busy={String(busy.includes(head.state))}
    >
      <div class="card-head">
        <h1>
          {head.scenarioName} <small class="mono">{head.id}</small>
        </h1>
        <StateBadge state={head.state} />
      </div>
      <p class="meta">
        on <strong>{head.platformName}</strong> ({head.platformKind}) · {head.instances} instance
        {head.instances === 1 ? '' : 's'} · started {head.createdAt.replace('T', ' ').slice(0, 19)}
        {head.finishedAt ? ` · finished ${head.finishedAt.replace('T', ' ').slice(0, 19)}` : ''}
      </p>
      {removing ? (
        <Progress done={counts.machinesDestroyed} total={counts.machinesTotal} failed={0} label="machines removed" />
      ) : (
        <>
          <Progress
            done={counts.machinesReady}
            total={counts.machinesTotal}
            failed={counts.machinesFailed}
            label="machines ready"
          />
          <Progress done={counts.stepsDone} total={counts.stepsTotal} failed={counts.stepsFailed} label="steps done" />
        </>
      )}
      {head.error && <p class="alert">{head.error}</p>}
      <div class="buttons">
        <a class="button" href={`${base}/topology`}>
          Topology
        </a>
        {head.vpn && head.state !== 'destroyed' && (
          <a class="button" href={`${base}/vpn`}>
            VPN
          </a>
        )}
        {canManage && (
          <a class="button" href={`${base}/flags`}>
            Flags
          </a>
        )}
        {head.state !== 'destroyed' && (
          <a class="button" href={`${base}/range`}>
            Range: trainees, health, snapshots, testing mode
          </a>
        )}
        {canManage && cancellable.includes(head.state) && (
          <ActionButton action={`${base}/cancel`} csrf={csrf} label="Cancel" />
        )}
        {canManage && retryable.includes(head.state) && (
          <ActionButton action={`${base}/retry`} csrf={csrf} label="Retry failed machines" class="primary" />
        )}
        {canManage && destroyable.includes(head.state) && (
          <details class="danger-zone" open={confirmError !== undefined}>
            <summary class="button danger">Destroy…</summary>
            <form method="post" action={`${base}/destroy`} class="stack">
              <Csrf token={csrf} />
              <p>
                This deletes every machine and network of this deployment on its platform. Type <code>{head.id}</code>{' '}
                to confirm.
              </p>
              {trainees.length > 0 && (
                <p class="alert">
                  Trainees work in it: {trainees.map(([i, a]) => `instance ${i}: ${a.username}`).join(', ')}. Destroying
                  it ends their ranges.
                </p>
              )}
              <div class={`field${confirmError ? ' has-error' : ''}`}>
                <input name="confirm" autocomplete="off" aria-label="Deployment id to confirm" />
                {confirmError && <p class="error">{confirmError}</p>}
              </div>
              <button type="submit" class="danger">
                Destroy {head.id}
              </button>
            </form>
          </details>
        )}
      </div>
    </section>
  );
}

const stepKinds = ['create', 'start', 'address', 'ready'] as const;

/** The machine's power beside its deployment state: unexpected stops stand out, stops asked for do not. */
export function PowerBadge({ power }: { power: MachinePowerModel }) {
  if (power.state === 'unknown') return null;
  const when = power.checkedAt ? `seen ${power.checkedAt.replace('T', ' ').slice(0, 19)} UTC` : 'not checked yet';
  const tone = power.state === 'running' ? 'on' : power.asked ? 'asked' : 'off';
  return (
    <span
      class={`badge power power-${tone}`}
      title={`Power: ${power.state}${power.asked ? ' (stopped on purpose)' : ''}, ${when}`}
    >
      {power.state === 'running' ? 'powered on' : power.asked ? `${power.state} on purpose` : power.state}
    </span>
  );
}

// A machine's row, by model: the server shares one model per machine per version of its deployment, so a page read
// by many, or by one many times, between two changes renders each row once.
const renderedRows = new WeakMap<MachineModel, { deploymentId: string; html: HtmlEscapedString }>();

export function MachineRow({ m, deploymentId }: { m: MachineModel; deploymentId: string }) {
  const known = renderedRows.get(m);
  if (known?.deploymentId === deploymentId) return known.html;
  const html = raw(String(<MachineRowOf m={m} deploymentId={deploymentId} />));
  renderedRows.set(m, { deploymentId, html });
  return html;
}

function MachineRowOf({ m, deploymentId }: { m: MachineModel; deploymentId: string }) {
  const failed = m.steps.find((s) => s.error);
  return (
    <tr id={domId('m', m.key)} data-state={m.state}>
      <td>
        <a href={`/deployments/${deploymentId}/machines/${encodeURIComponent(m.key)}`}>{m.hostname}</a>
        {m.role === 'router' && m.hostname !== 'router' && <small> router</small>}
      </td>
      <td>
        i{m.instance}
        {m.assignedTo && <small> · {m.assignedTo}</small>}
      </td>
      <td>{m.os}</td>
      <td class="mono">{(m.addresses.length > 0 ? m.addresses : m.plannedAddresses).join(', ')}</td>
      <td>
        <ol class="timeline">
          {stepKinds.map((k) => {
            const s = m.steps.find((x) => x.kind === k);
            return (
              <li
                class={`step step-${s?.state ?? 'pending'}`}
                title={`${k}: ${s?.state ?? 'pending'}${s?.attempts && s.attempts > 1 ? ` (attempt ${s.attempts})` : ''}${s?.error ? ` — ${s.error}` : ''}`}
              >
                {k}
              </li>
            );
          })}
        </ol>
      </td>
      <td>
        <StateBadge state={m.state} />
        {m.power && <PowerBadge power={m.power} />}
        {failed && <p class="error small">{failed.error}</p>}
      </td>
    </tr>
  );
}

export function InstanceRow({
  i,
  deploymentId,
  current,
}: {
  i: InstanceModel;
  deploymentId: string;
  current: boolean;
}) {
  return (
    <tr id={`inst-${i.instance}`} class={current ? 'current' : ''}>
      <td>
        <a href={`/deployments/${deploymentId}?instance=${i.instance}`}>i{i.instance}</a>
      </td>
      <td>{i.assignedTo ?? <span class="muted">—</span>}</td>
      <td>
        <Progress done={i.ready} total={i.total} failed={i.failed} />
      </td>
      <td>{i.failed > 0 ? <span class="badge state-failed">{i.failed} failed</span> : ''}</td>
    </tr>
  );
}

export function NetworkRow({ n }: { n: NetworkModel }) {
  // The uplink is the platform's own network: its addresses are whatever that network gives the routers.
  const uplink = n.instance === 0;
  return (
    <tr id={domId('n', n.key)}>
      <td>{n.name}</td>
      <td>{uplink ? 'shared' : `i${n.instance}`}</td>
      <td class="mono">{uplink ? <span class="muted">the platform's network</span> : n.cidr}</td>
      <td class="mono">{uplink ? <span class="muted">its DHCP</span> : n.gateway}</td>
      <td>{n.vlan ?? ''}</td>
      <td>{n.internet ? (n.egress ? `via ${n.egress}` : 'yes') : ''}</td>
      <td>
        <StateBadge state={n.state} />
      </td>
    </tr>
  );
}

export function LogLine({ e }: { e: DeploymentEvent }) {
  return (
    <li data-event-id={String(e.id)} class={`ev ev-${e.type.replace('.', '-')}`}>
      <time>{e.at.slice(11, 19)}</time> <span class="key">{e.stepKey ?? 'deployment'}</span>{' '}
      {e.type !== 'deployment' && <span class="type">{e.type}</span>} <span class="msg">{e.message}</span>
    </li>
  );
}

/** Log lines to append to #log: what the live stream sends for new events. */
export function LogAppend({ events }: { events: DeploymentEvent[] }) {
  return (
    <ul id="log" data-append="true">
      {events.map((e) => (
        <LogLine e={e} />
      ))}
    </ul>
  );
}
