// The deployment page: summary, networks, machines with their step timelines, and the live log.
import type { DeploymentEvent } from '../../server/orchestrator/events.ts';
import type { DeploymentModel } from '../../server/web/deployment-view.ts';
import { DeploymentSummary, LogLine, MachineRow, NetworkRow } from '../partials/deployment.tsx';

export function DeploymentPage({ model, log, csrf, canManage }: { model: DeploymentModel; log: DeploymentEvent[]; csrf: string; canManage: boolean }) {
  const id = model.head.id;
  return (
    <div class="deployment" data-live={`/deployments/${id}/live?after=${model.lastEventId}`}>
      <p class="crumbs">
        <a href="/deployments">Deployments</a> / {id}
      </p>
      <DeploymentSummary model={model} csrf={csrf} canManage={canManage} />
      <section class="card">
        <h2>Machines</h2>
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
          Log <small id="live-status" class="live-status">live</small>
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
