// A scenario's rendered summary, its validation problems at their lines, and a plan preview.
import type { InputIssue } from '../../server/model/issues.ts';
import type { Plan } from '../../server/model/plan.ts';
import type { Scenario } from '../../server/model/scenario.ts';

export function ScenarioSummary({ s }: { s: Scenario }) {
  return (
    <div class="scenario-summary">
      <h3>{s.title}</h3>
      {s.description && <p class="muted pre">{s.description}</p>}
      <div class="two-col">
        <div>
          <h4>Networks</h4>
          <ul>
            {s.networks.map((n) => (
              <li>
                <strong>{n.name}</strong> <span class="mono">{n.cidr ?? 'from the address pool'}</span>
                {n.internet ? ' · internet' : ''}
                {n.vlan ? ` · VLAN ${n.vlan}` : ''}
              </li>
            ))}
          </ul>
          <h4>Firewall (default {s.firewall.default})</h4>
          <ul>
            {s.firewall.rules.length === 0 && <li class="muted">no rules</li>}
            {s.firewall.rules.map((r) => (
              <li>
                {r.action} {r.from} → {r.to} {r.protocol}
                {r.ports.length > 0 ? ` ${r.ports.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(',')}` : ''}
              </li>
            ))}
          </ul>
        </div>
        <div>
          <h4>Machines</h4>
          <ul>
            {s.machines.map((m) => (
              <li>
                <strong>{m.name}</strong>
                {m.count > 1 ? ` ×${m.count}` : ''} · {m.os} · {m.size.cpus} vCPU, {m.size.memoryMb} MiB · on{' '}
                {m.nics.map((n) => n.network).join(', ')}
                {m.dependsOn.length > 0 && <span class="muted"> · after {m.dependsOn.join(', ')}</span>}
              </li>
            ))}
          </ul>
          <p class="muted">
            {s.instances} instance{s.instances === 1 ? '' : 's'} by default
          </p>
        </div>
      </div>
    </div>
  );
}

/** The YAML with numbered lines; lines with problems are marked and their messages shown under them. */
export function ScenarioIssues({ yaml, issues }: { yaml: string; issues: InputIssue[] }) {
  const byLine = new Map<number, InputIssue[]>();
  const unplaced: InputIssue[] = [];
  for (const i of issues) {
    if (i.at) byLine.set(i.at.line, [...(byLine.get(i.at.line) ?? []), i]);
    else unplaced.push(i);
  }
  const lines = yaml.split('\n');
  return (
    <div class="issues">
      <p class="alert">
        {issues.length} problem{issues.length === 1 ? '' : 's'} in this scenario; nothing was saved.
      </p>
      <ul class="issue-list">
        {issues.map((i) => (
          <li>
            {i.at ? (
              <a href={`#line-${i.at.line}`}>
                line {i.at.line}, column {i.at.column}
              </a>
            ) : (
              'file'
            )}
            : {i.path ? <code>{i.path}</code> : null} {i.message}
          </li>
        ))}
      </ul>
      <ol class="source">
        {lines.map((text, n) => {
          const at = byLine.get(n + 1);
          return (
            <li id={`line-${n + 1}`} class={at ? 'bad' : ''}>
              <code>{text || ' '}</code>
              {at?.map((i) => (
                <span class="line-error">
                  ↑ col {i.at!.column}: {i.path ? `${i.path}: ` : ''}
                  {i.message}
                </span>
              ))}
            </li>
          );
        })}
      </ol>
    </div>
  );
}

export function ScenarioCheck({
  yaml,
  scenario,
  issues,
}: {
  yaml: string;
  scenario?: Scenario | undefined;
  issues: InputIssue[];
}) {
  return (
    <div id="scenario-check">
      {scenario ? (
        <ScenarioSummary s={scenario} />
      ) : issues.length > 0 ? (
        <ScenarioIssues yaml={yaml} issues={issues} />
      ) : null}
    </div>
  );
}

export function PlanPreview({
  plan,
  error,
  trainees,
  assignments,
}: {
  plan?: Plan | undefined;
  error?: string | undefined;
  trainees: Array<{ id: string; username: string }>;
  assignments: Record<string, string>;
}) {
  if (!plan)
    return (
      <div id="plan-preview">
        <p class="alert">{error}</p>
      </div>
    );
  const shown = plan.instances > 3 ? [1] : Array.from({ length: plan.instances }, (_, i) => i + 1);
  return (
    <div id="plan-preview">
      <p>
        <strong>{plan.instances}</strong> instance{plan.instances === 1 ? '' : 's'}: {plan.networks.length} networks,{' '}
        {plan.machines.length} machines, {plan.steps.length} steps. Subnets and VLANs shown are previews; the pools
        assign the real ones when it starts.
      </p>
      {plan.vpn && (
        <p>
          VPN: tunnel network {plan.vpn.cidr}, UDP {plan.vpn.port}; each configuration's endpoint is {plan.vpn.endpoint}
          .
        </p>
      )}
      {shown.map((i) => (
        <div class="plan-instance">
          <h4>Instance {i}</h4>
          <ul>
            {plan.networks
              .filter((n) => n.instance === i)
              .map((n) => (
                <li>
                  network <strong>{n.name}</strong> <span class="mono">{n.cidr}</span>
                  {n.vlan ? ` VLAN ${n.vlan}` : ''}
                </li>
              ))}
            {plan.machines
              .filter((m) => m.instance === i)
              .map((m) => (
                <li>
                  {m.role} <strong>{m.hostname}</strong> {m.os}{' '}
                  <span class="mono">{m.nics.map((n) => n.ip ?? 'dhcp').join(', ')}</span>
                  {m.packageCache && <span class="muted"> · packages from the appliance's cache</span>}
                </li>
              ))}
          </ul>
        </div>
      ))}
      {plan.instances > shown.length && (
        <p class="muted">…and {plan.instances - shown.length} more instances like it, each isolated.</p>
      )}
      {plan.notes && plan.notes.length > 0 && (
        <ul class="plan-notes">
          {plan.notes.map((n) => (
            <li>{n}</li>
          ))}
        </ul>
      )}
      {trainees.length > 0 && (
        <fieldset class="assignments">
          <legend>Assign instances to trainees (optional)</legend>
          {Array.from({ length: plan.instances }, (_, k) => k + 1).map((i) => (
            <label>
              Instance {i}{' '}
              <select name={`assign.${i}`}>
                <option value="">— nobody —</option>
                {trainees.map((t) => (
                  <option value={t.id} selected={assignments[String(i)] === t.id}>
                    {t.username}
                  </option>
                ))}
              </select>
            </label>
          ))}
        </fieldset>
      )}
    </div>
  );
}
