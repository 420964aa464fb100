// The fields of a platform form for one driver kind, generated from the driver's config schema.
import type { PlatformKindForm } from '../props.ts';
import { Field } from './form.tsx';

/** Config fields that name something on the platform, and the datalist "Test connection" fills with what it found. */
const choiceList: Record<string, string> = {
  node: 'choices-nodes',
  nodes: 'choices-nodes',
  storage: 'choices-storages',
  datastore: 'choices-storages',
  bridge: 'choices-networks',
  vswitch: 'choices-networks',
  uplinkPortGroup: 'choices-networks',
};

export function PlatformConfigFields({
  form,
  values,
  errors,
  hasSecret,
}: {
  form: PlatformKindForm;
  values: Record<string, unknown>;
  errors: Record<string, string>;
  hasSecret?: boolean;
}) {
  return (
    <fieldset class="config" data-kind={form.kind}>
      <legend>{form.title}</legend>
      <input type="hidden" name="config.__present" value="1" />
      {form.fields.map((f) => {
        const name = `config.${f.name}`;
        const error = errors[name];
        const value = values[name] === undefined ? undefined : String(values[name]);
        // Descriptions are sentences: the default follows as one more, not after a semicolon.
        const hint = [f.description, f.default !== undefined ? `Default: ${f.default}` : undefined]
          .filter(Boolean)
          .join(' ');
        if (f.type === 'enum')
          return (
            <div class={`field${error ? ' has-error' : ''}`}>
              <label for={`f-${f.name}`}>{f.label}</label>
              <select id={`f-${f.name}`} name={name}>
                {!f.required && <option value="">(default{f.default ? `: ${f.default}` : ''})</option>}
                {(f.options ?? []).map((o) => (
                  <option value={o} selected={value === o}>
                    {o}
                  </option>
                ))}
              </select>
              {error && <p class="error">{error}</p>}
              {f.description && <p class="hint">{f.description}</p>}
            </div>
          );
        if (f.type === 'boolean')
          return (
            <div class="field check">
              <label>
                <input
                  type="checkbox"
                  name={name}
                  checked={value === undefined ? f.default === 'true' : value === 'true' || value === 'on'}
                />{' '}
                {f.label}
              </label>
              {error && <p class="error">{error}</p>}
              {f.description && <p class="hint">{f.description}</p>}
            </div>
          );
        if (f.type === 'json')
          return (
            // Open when it must be filled in or is wrong: a closed section would hide its help and its error.
            <details class="field advanced" open={f.required || error !== undefined}>
              <summary>
                {f.label} ({f.required ? 'required' : 'advanced'}, JSON)
              </summary>
              <textarea name={name} rows={3} placeholder={f.default}>
                {value ?? ''}
              </textarea>
              {error && <p class="error">{error}</p>}
              {f.description && <p class="hint">{f.description}</p>}
            </details>
          );
        const list = choiceList[f.name];
        return (
          <Field
            name={name}
            label={f.label}
            type={f.type === 'number' ? 'number' : 'text'}
            values={values}
            errors={errors}
            required={f.required}
            placeholder={f.default}
            hint={hint || undefined}
            {...(list ? { list } : {})}
          />
        );
      })}
      {form.secretLabel && (
        <Field
          name="secret"
          label={form.secretLabel}
          type="password"
          errors={errors}
          autocomplete="new-password"
          hint={
            hasSecret
              ? 'A secret is stored. Leave this empty to keep it; type a new one to replace it.'
              : 'Stored encrypted; never shown again.'
          }
        />
      )}
    </fieldset>
  );
}
