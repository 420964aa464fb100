// State badges and progress bars, shared by the dashboard, the deployment page and its live updates.

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state.replace(/[^a-z_]/g, '')}`}>{state.replace('_', ' ')}</span>;
}

export function Progress({
  done,
  total,
  label,
  failed = 0,
}: {
  done: number;
  total: number;
  label?: string;
  failed?: number;
}) {
  const pct = total === 0 ? 0 : Math.round((done / total) * 100);
  const fpct = total === 0 ? 0 : Math.round((failed / total) * 100);
  return (
    <div
      class="progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={total}
      aria-valuenow={done}
      aria-label={label ?? 'progress'}
    >
      <span class="bar" data-pct={String(pct)}>
        <svg viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true">
          <rect class="done" x="0" y="0" width={String(pct)} height="4" />
          <rect class="failed" x={String(pct)} y="0" width={String(fpct)} height="4" />
        </svg>
      </span>
      <span class="count">
        {done}/{total}
        {label ? ` ${label}` : ''}
      </span>
    </div>
  );
}
