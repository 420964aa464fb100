// Form building blocks: every field shows its error beside it and keeps the typed value, except secrets.
import type { Child } from 'hono/jsx';

export interface FieldProps {
  name: string;
  label: string;
  values?: Record<string, unknown>;
  errors?: Record<string, string>;
  type?: 'text' | 'password' | 'number' | 'url' | 'email';
  hint?: string;
  required?: boolean;
  placeholder?: string;
  autocomplete?: string;
  /** Secrets are never written back into the page. */
  secret?: boolean;
  value?: string;
  min?: number;
  max?: number;
  /** The id of a <datalist> offering choices (e.g. what "Test connection" found on the platform). */
  list?: string;
}

export function Field(p: FieldProps) {
  const error = p.errors?.[p.name];
  const raw = p.value ?? p.values?.[p.name];
  const value =
    p.secret || p.type === 'password' ? undefined : raw === undefined || raw === null ? undefined : String(raw);
  const id = `f-${p.name.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{p.label}</label>
      <input
        id={id}
        name={p.name}
        type={p.type ?? 'text'}
        value={value}
        required={p.required}
        placeholder={p.placeholder}
        autocomplete={p.autocomplete}
        min={p.min}
        max={p.max}
        list={p.list}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      {error && (
        <p class="error" id={`${id}-error`}>
          {error}
        </p>
      )}
      {p.hint && <p class="hint">{p.hint}</p>}
    </div>
  );
}

export function Select(p: {
  name: string;
  label: string;
  options: Array<{ value: string; label: string }>;
  selected?: string | undefined;
  errors?: Record<string, string>;
  hint?: string;
}) {
  const error = p.errors?.[p.name];
  const id = `f-${p.name.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{p.label}</label>
      <select id={id} name={p.name}>
        {p.options.map((o) => (
          <option value={o.value} selected={o.value === p.selected}>
            {o.label}
          </option>
        ))}
      </select>
      {error && <p class="error">{error}</p>}
      {p.hint && <p class="hint">{p.hint}</p>}
    </div>
  );
}

export function Csrf({ token }: { token: string }) {
  return <input type="hidden" name="_csrf" value={token} />;
}

/** A one-button form that posts to `action` (power, cancel, retry...). */
export function ActionButton(p: {
  action: string;
  csrf: string;
  label: string;
  class?: string;
  name?: string;
  value?: string;
  disabled?: boolean;
}) {
  return (
    <form method="post" action={p.action} class="inline">
      <Csrf token={p.csrf} />
      <button type="submit" class={p.class ?? 'button'} name={p.name} value={p.value} disabled={p.disabled}>
        {p.label}
      </button>
    </form>
  );
}

export function FormMessage({ message }: { message?: string | undefined }) {
  return message ? (
    <p class="alert" role="alert">
      {message}
    </p>
  ) : null;
}

export function Card({ title, children, actions }: { title?: string; children?: Child; actions?: Child }) {
  return (
    <section class="card">
      {(title || actions) && (
        <div class="card-head">
          {title && <h2>{title}</h2>}
          {actions}
        </div>
      )}
      {children}
    </section>
  );
}
