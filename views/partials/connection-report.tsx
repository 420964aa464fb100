// The result of a platform's "Test connection": what the driver checked, and its error in plain words.
import type { ConnectionReport } from '../../server/platforms/platform.ts';

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
    </div>
  );
}
