// The deployment page: summary, networks, machines with their step timelines, and the live log.
import type { DeploymentEvent } from '../../server/model/events.ts';
import { machinePageSize, type DeploymentModel } from '../props.ts';
import { DeploymentSummary, InstanceRow, LogLine, MachineRow, NetworkRow } from '../partials/deployment-rows.tsx';

function windowQuery(model: DeploymentModel, offset: number) {
  const q = new URLSearchParams();
  if (model.windowInstance !== undefined) q.set('instance', String(model.windowInstance));
  if (offset > 0) q.set('offset', String(offset));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function DeploymentPage({
  model,
  log,
  csrf,
  canManage,
  confirmError,
}: {
  model: DeploymentModel;
  log: DeploymentEvent[];
  csrf: string;
  canManage: boolean;
  confirmError?: string | undefined;
}) {
  const id = model.head.id;
  const first = model.windowOffset;
  const last = first + model.machines.length;
  const live = new URLSearchParams({
    after: String(model.lastEventId),
    ...(model.windowInstance !== undefined ? { instance: String(model.windowInstance) } : {}),
    ...(first > 0 ? { offset: String(first) } : {}),
  });
  return (
    <div class="deployment" data-live={`/deployments/${id}/live?${live}`}>
      <p class="crumbs">
        <a href="/deployments">Deployments</a> / {id}
      </p>
      <DeploymentSummary model={model} csrf={csrf} canManage={canManage} confirmError={confirmError} />
      {model.instances.length > 1 && (
        <section class="card">
          <h2>Instances</h2>
          <table class="instances">
            <thead>
              <tr>
                <th>Instance</th>
                <th>Trainee</th>
                <th>Machines ready</th>
                <th>Failed</th>
              </tr>
            </thead>
            <tbody>
              {model.instances.map((i) => (
                <InstanceRow i={i} deploymentId={id} current={model.windowInstance === i.instance} />
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section class="card">
        <div class="card-head">
          <h2>
            Machines{model.windowInstance !== undefined ? ` of instance ${model.windowInstance}` : ''}{' '}
            <small class="muted">
              {model.windowTotal > model.machines.length
                ? `${first + 1}–${last} of ${model.windowTotal}`
                : `${model.windowTotal}`}
            </small>
          </h2>
          <span class="buttons">
            {model.windowInstance !== undefined && <a href={`/deployments/${id}`}>all instances</a>}
            {first > 0 && (
              <a href={`/deployments/${id}${windowQuery(model, Math.max(0, first - machinePageSize))}`}>← previous</a>
            )}
            {last < model.windowTotal && <a href={`/deployments/${id}${windowQuery(model, last)}`}>next →</a>}
          </span>
        </div>
        <table class="machines">
          <thead>
            <tr>
              <th>Machine</th>
              <th>Instance</th>
              <th>OS</th>
              <th>Addresses</th>
              <th>Steps</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {model.machines.map((m) => (
              <MachineRow m={m} deploymentId={id} />
            ))}
          </tbody>
        </table>
      </section>
      <section class="card">
        <h2>Networks</h2>
        <table>
          <thead>
            <tr>
              <th>Network</th>
              <th>Instance</th>
              <th>CIDR</th>
              <th>Gateway</th>
              <th>VLAN</th>
              <th>Internet</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {model.networks.map((n) => (
              <NetworkRow n={n} />
            ))}
          </tbody>
        </table>
      </section>
      <section class="card">
        <h2>
          Log{' '}
          <small id="live-status" class="live-status">
            connecting…
          </small>
        </h2>
        <ul id="log" class="log">
          {log.map((e) => (
            <LogLine e={e} />
          ))}
        </ul>
      </section>
    </div>
  );
}
