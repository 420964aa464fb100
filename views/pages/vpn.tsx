// A deployment's VPN: which instances the viewer has a configuration for, and one instance's configuration as a
// download and a QR code (the WireGuard mobile apps scan it). The configuration text itself is not shown.
export interface VpnPageProps {
  deploymentId: string;
  scenarioName: string;
  /** `trainee`: the viewer's own seat; `instructor`: the instructor's key, one configuration per instance. */
  role: 'trainee' | 'instructor';
  instances: Array<{ instance: number; assignedTo: string | null }>;
  vpn: { cidr: string; port: number; endpoint: string };
  selected?: { instance: number; filename: string; endpoint: string; qr: string } | undefined;
  error?: string | undefined;
}

export function VpnPage(p: VpnPageProps) {
  const base = `/deployments/${p.deploymentId}/vpn`;
  return (
    <div>
      <p class="crumbs">
        <a href="/deployments">Deployments</a> / <a href={`/deployments/${p.deploymentId}`}>{p.deploymentId}</a> / VPN
      </p>
      <h1>VPN into {p.scenarioName}</h1>
      <p>
        A WireGuard tunnel from your computer into {p.role === 'trainee' ? 'your instance' : 'one instance at a time'}:
        only the lab's networks go through it, and it reaches nothing else (not another instance, not the internet). It
        ends on the instance's range router, at {p.vpn.endpoint}, UDP {p.vpn.port}.
      </p>
      {p.error && <p class="alert">{p.error}</p>}
      {p.instances.length > 1 || !p.selected ? (
        <section class="card">
          <h2>{p.role === 'trainee' ? 'Your instances' : 'Instructor configurations'}</h2>
          <ul>
            {p.instances.map((i) => (
              <li>
                <a href={`${base}/${i.instance}`}>Instance {i.instance}</a>
                {i.assignedTo ? ` · ${i.assignedTo}` : ''}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {p.selected && (
        <section class="card" id="vpn-config">
          <h2>Instance {p.selected.instance}</h2>
          <img
            class="vpn-qr"
            src={p.selected.qr}
            alt={`QR code of the WireGuard configuration ${p.selected.filename}`}
          />
          <p>
            Endpoint <span class="mono">{p.selected.endpoint}</span>
          </p>
          <div class="buttons">
            <a class="button primary" href={`${base}/${p.selected.instance}/conf`} download={p.selected.filename}>
              Download {p.selected.filename}
            </a>
          </div>
          <p class="muted">
            Linux and macOS: <code>sudo wg-quick up ./{p.selected.filename}</code>; Windows, macOS, Android and iOS:
            import the file (or scan the code) in the WireGuard app. Keep it private: it holds your key.
          </p>
        </section>
      )}
    </div>
  );
}
