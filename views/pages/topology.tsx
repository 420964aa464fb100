// Topology: one SVG per instance (router, networks, machines with addresses) and its firewall rules.
import { osCatalog, routerOs } from '../../server/model/catalog.ts';
import type { DeploymentModel, TopologyInstance } from '../props.ts';
import { StateBadge } from '../components/state.tsx';

function InstanceSvg({ t, deploymentId }: { t: TopologyInstance; deploymentId: string }) {
  return (
    <svg
      class="topology"
      viewBox={`0 0 ${t.width} ${t.height}`}
      width={String(t.width)}
      height={String(t.height)}
      role="img"
      aria-label={`Topology of instance ${t.instance}`}
    >
      {t.links.map((l) => (
        <line x1={String(l.x1)} y1={String(l.y1)} x2={String(l.x2)} y2={String(l.y2)} class={`link ${l.kind}`} />
      ))}
      {t.uplink && (
        <g class="uplink">
          <rect
            x={String(t.uplink.x)}
            y={String(t.uplink.y)}
            width={String(t.uplink.w)}
            height={String(t.uplink.h)}
            rx="15"
          />
          <text x={String(t.uplink.x + t.uplink.w / 2)} y={String(t.uplink.y + 19)} text-anchor="middle">
            uplink / internet
          </text>
        </g>
      )}
      {t.router && (
        <a href={`/deployments/${deploymentId}/machines/${encodeURIComponent(t.router.key)}`}>
          <g class={`router state-${t.router.state}`}>
            <rect
              x={String(t.router.x)}
              y={String(t.router.y)}
              width={String(t.router.w)}
              height={String(t.router.h)}
              rx="8"
            />
            <text
              x={String(t.router.x + t.router.w / 2)}
              y={String(t.router.y + 19)}
              text-anchor="middle"
              class="title"
            >
              {t.router.hostname} (router)
            </text>
            <text x={String(t.router.x + t.router.w / 2)} y={String(t.router.y + 36)} text-anchor="middle" class="sub">
              {t.router.sub ?? (t.forwardDefault ? `forward default: ${t.forwardDefault}` : '')}
            </text>
          </g>
        </a>
      )}
      {t.networks.map((n) => (
        <g class={`network${n.internet ? ' internet' : ''}`}>
          <rect x={String(n.x)} y={String(n.y)} width={String(n.w)} height={String(n.h)} rx="4" />
          <text x={String(n.x + 10)} y={String(n.y + 19)} class="title">
            {n.name}
            {n.internet ? ' ⇅' : ''}
          </text>
          <text x={String(n.x + 10)} y={String(n.y + 36)} class="sub">
            {n.cidr}
            {n.vlan !== undefined ? ` · VLAN ${n.vlan}` : ''}
          </text>
        </g>
      ))}
      {t.machines.map((m) => (
        <a href={`/deployments/${deploymentId}/machines/${encodeURIComponent(m.key)}`}>
          <g class={`machine state-${m.state}`}>
            <rect x={String(m.x)} y={String(m.y)} width={String(m.w)} height={String(m.h)} rx="6" />
            <text x={String(m.x + 10)} y={String(m.y + 19)} class="title">
              {m.hostname}
            </text>
            <text x={String(m.x + 10)} y={String(m.y + 36)} class="sub">
              {m.addresses.join(', ')}
            </text>
          </g>
        </a>
      ))}
    </svg>
  );
}

/** Which machines of a drawing get Console and Terminal links: created, not destroyed; the router only for staff. */
function RemoteLinks({
  t,
  deploymentId,
  remote,
}: {
  t: TopologyInstance;
  deploymentId: string;
  remote: { console: boolean; router: boolean };
}) {
  const reachable = (state: string) => state !== 'pending' && state !== 'destroyed';
  const machines = [
    ...(t.router && remote.router && reachable(t.router.state)
      ? [{ key: t.router.key, hostname: t.router.hostname, os: routerOs }]
      : []),
    ...t.machines.filter((m) => reachable(m.state)),
  ];
  if (machines.length === 0) return null;
  return (
    <ul class="remote-links">
      {machines.map((m) => {
        const base = `/deployments/${deploymentId}/machines/${encodeURIComponent(m.key)}`;
        const linux = osCatalog[m.os]?.family !== 'windows';
        return (
          <li>
            <span class="mono">{m.hostname}</span>
            {remote.console && <a href={`${base}/console`}>Console</a>}
            {linux && <a href={`${base}/terminal`}>Terminal</a>}
          </li>
        );
      })}
    </ul>
  );
}

export function TopologyPage({
  head,
  instances,
  remote,
}: {
  head: DeploymentModel['head'];
  instances: TopologyInstance[];
  remote?: { console: boolean; router: boolean } | undefined;
}) {
  return (
    <div>
      <p class="crumbs">
        <a href="/deployments">Deployments</a> / <a href={`/deployments/${head.id}`}>{head.id}</a> / topology
      </p>
      <h1>
        Topology of {head.scenarioName} <StateBadge state={head.state} />
      </h1>
      {instances.map((t) => (
        <section class="card">
          <h2>
            Instance {t.instance}
            {t.assignedTo ? ` · ${t.assignedTo}` : ''}
          </h2>
          <div class="svg-wrap">
            <InstanceSvg t={t} deploymentId={head.id} />
          </div>
          {remote && head.state !== 'destroyed' && <RemoteLinks t={t} deploymentId={head.id} remote={remote} />}
          {t.rules.length > 0 || t.forwardDefault ? (
            <>
              <h3>Firewall rules (default between networks: {t.forwardDefault ?? 'deny'})</h3>
              <table class="rules">
                <thead>
                  <tr>
                    <th>From</th>
                    <th>To</th>
                    <th>Protocol</th>
                    <th>Ports</th>
                    <th>Action</th>
                  </tr>
                </thead>
                <tbody>
                  {t.rules.map((r) => (
                    <tr>
                      <td>{r.from}</td>
                      <td>{r.to}</td>
                      <td>{r.protocol}</td>
                      <td>{r.ports}</td>
                      <td>
                        <span class={`badge rule-${r.action}`}>{r.action}</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ) : null}
        </section>
      ))}
    </div>
  );
}
