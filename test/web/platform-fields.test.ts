// Platform forms: every top-level field of every driver's config schema carries help text (its JSON Schema
// description), JSON examples in that text are accepted by the field itself, and the settings and setup forms show the
// text under the field it belongs to, whatever the field's input type.
import { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { platformKinds, type PlatformKind } from '../../server/model/platform-kind.ts';
import { drivers } from '../../server/platforms/index.ts';
import { platformKindForms } from '../../server/web/platform-fields.ts';
import type { ConfigField } from '../../views/props.ts';
import { Client, password, setUpAppliance, webTestApp } from './helpers.ts';

const unescapeHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The outermost `{...}` spans of a text, e.g. the JSON examples in a field's description. */
function braceSpans(text: string): string[] {
  const spans: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '{' && depth++ === 0) start = i;
    else if (text[i] === '}' && depth > 0 && --depth === 0) spans.push(text.slice(start, i + 1));
  }
  return spans;
}

/** Config field name -> the text of its hint, for each field container of the page's platform fieldset. */
function renderedHints(html: string): Map<string, string | undefined> {
  const fieldset = /<fieldset class="config"[\s\S]*?<\/fieldset>/.exec(html)?.[0] ?? '';
  const hints = new Map<string, string | undefined>();
  for (const chunk of fieldset.split(/(?=<div class="field|<details class="field)/)) {
    const name = /name="config\.([A-Za-z0-9]+)"/.exec(chunk)?.[1];
    if (!name) continue;
    const hint = /<p class="hint">([\s\S]*?)<\/p>/.exec(chunk)?.[1];
    hints.set(name, hint === undefined ? undefined : unescapeHtml(hint));
  }
  return hints;
}

/** Text, number and list inputs add their default as one more sentence; the other kinds show the description alone. */
function expectHintFor(f: ConfigField, hint: string | undefined) {
  expect(f.description, `description of ${f.name}`).toBeDefined();
  const alone = f.type === 'enum' || f.type === 'boolean' || f.type === 'json' || f.default === undefined;
  expect(hint, `hint of ${f.name}`).toBe(alone ? f.description : `${f.description} Default: ${f.default}`);
}

const propertiesOf = (kind: PlatformKind) =>
  (
    z.toJSONSchema(drivers[kind].configSchema, { io: 'input', unrepresentable: 'any' }) as {
      properties: Record<string, { description?: string }>;
    }
  ).properties;

describe('platform config help text', () => {
  it.each(platformKinds)('%s: every top-level config field has a description', (kind) => {
    const props = propertiesOf(kind);
    expect(Object.keys(props).length).toBeGreaterThan(0);
    const bare = Object.entries(props)
      .filter(([, p]) => !p.description?.trim())
      .map(([name]) => name);
    expect(bare).toEqual([]);
  });

  it.each(platformKinds)('%s: each JSON example in a description is accepted by its field', (kind) => {
    const shape = (drivers[kind].configSchema as z.ZodObject).shape;
    for (const [name, p] of Object.entries(propertiesOf(kind))) {
      for (const span of braceSpans(p.description ?? '')) {
        // "AB:CD:...:EF" and the like stand for a value too long to show: the shape is the example there.
        if (span.includes('...')) continue;
        let example: unknown;
        expect(() => (example = JSON.parse(span)), `${kind}.${name}: ${span} is not JSON`).not.toThrow();
        const parsed = shape[name]!.safeParse(example);
        expect(parsed.success, `${kind}.${name}: ${span} is refused: ${parsed.error?.message}`).toBe(true);
      }
    }
  });

  it('the generated forms list every available driver, each field with its description', () => {
    const forms = platformKindForms();
    expect(forms.map((f) => f.kind)).toEqual(platformKinds.filter((k) => drivers[k].available));
    for (const form of forms) {
      expect(form.fields.length).toBeGreaterThan(0);
      expect(form.fields.filter((f) => !f.description).map((f) => `${form.kind}.${f.name}`)).toEqual([]);
    }
  });
});

describe('platform forms render the help text under each field', () => {
  const forms = platformKindForms();

  it('on the settings page', async () => {
    const { app } = webTestApp();
    const { clients } = await setUpAppliance(app);
    for (const form of forms) {
      const page = await clients.admin.get(`/settings/platforms?kind=${form.kind}`);
      expect(page.status).toBe(200);
      const hints = renderedHints(page.text);
      expect([...hints.keys()].sort(), form.kind).toEqual(form.fields.map((f) => f.name).sort());
      for (const f of form.fields) expectHintFor(f, hints.get(f.name));
      // A required JSON field is shown open, so its help (and any error) is not hidden in a closed section.
      for (const f of form.fields.filter((x) => x.type === 'json'))
        expect(
          new RegExp(
            `<details class="field advanced"( open="")?>\\s*<summary>[^<]*</summary>\\s*<textarea name="config\\.${f.name}"`,
          ).exec(page.text)?.[1] !== undefined,
          `${form.kind} ${f.name} open`,
        ).toBe(f.required);
    }
  });

  describe('in the setup wizard', () => {
    let c: Client;
    beforeAll(async () => {
      const { app } = webTestApp();
      const code = app.web.setup.issueCode();
      c = new Client(app);
      await c.get('/setup');
      const ok = await c.post('/setup', { code, username: 'admin', password, confirm: password });
      expect(ok.location).toBe('/setup/platform');
    });

    it.each(forms.map((f) => [f.kind, f] as const))('%s', async (_kind, form) => {
      const page = await c.get(`/setup/platform?kind=${form.kind}`);
      expect(page.status).toBe(200);
      const hints = renderedHints(page.text);
      expect([...hints.keys()].sort()).toEqual(form.fields.map((f) => f.name).sort());
      for (const f of form.fields) expectHintFor(f, hints.get(f.name));
    });
  });
});
