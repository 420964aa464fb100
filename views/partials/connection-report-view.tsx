// The result of a platform's "Test connection": what the driver checked, and its error in plain words.
import type { ConnectionReport } from '../../server/model/connection-report.ts';

export function ConnectionReportView({ report }: { report?: ConnectionReport | undefined }) {
  if (!report) return <div id="connection-report" class="report" />;
  return (
    <div id="connection-report" class={`report ${report.ok ? 'ok' : 'bad'}`} role="status">
      <strong>
        {report.ok ? 'Connected' : 'Connection failed'}: {report.product}
        {report.version ? ` ${report.version}` : ''}
      </strong>
      <ul>
        {report.details.map((d) => (
          <li>{d}</li>
        ))}
      </ul>
      {report.choices && <Choices choices={report.choices} />}
    </div>
  );
}

/** What the platform offers: listed, and as datalists the form's node, storage and network fields suggest from. */
function Choices({ choices }: { choices: NonNullable<ConnectionReport['choices']> }) {
  const lists = [
    ['nodes', 'Nodes', choices.nodes ?? []],
    ['storages', 'Storages', choices.storages ?? []],
    ['networks', 'Networks', choices.networks ?? []],
    [
      'templates',
      'Templates',
      (choices.templates ?? []).map((t) => (t.os ? `${t.name} (${t.id}, ${t.os})` : `${t.name} (${t.id})`)),
    ],
  ] as const;
  return (
    <dl class="choices">
      {lists
        .filter(([, , items]) => items.length > 0)
        .map(([key, title, items]) => (
          <>
            <dt>{title}</dt>
            <dd>{items.join(', ')}</dd>
            <datalist id={`choices-${key}`}>
              {(key === 'templates' ? (choices.templates ?? []).map((t) => t.id) : items).map((v) => (
                <option value={v} />
              ))}
            </datalist>
          </>
        ))}
    </dl>
  );
}
