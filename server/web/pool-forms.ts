// Adding address and VLAN pools from a form: the same handlers serve the setup wizard and Settings.
import type { Hono, MiddlewareHandler } from 'hono';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from './context.ts';
import { emptyForm, formFields, formFromError, parseFields, type FormState } from './forms.ts';
import { cidrPoolSchema, vlanPoolSchema } from './schemas.ts';

/**
 * POST `/pools/cidr` and `/pools/vlan` on `app`; after success the browser goes back to `pageUrl` (the pools screen,
 * whose absolute URL depends on where `app` is mounted). `page` renders that screen with the failing form's state.
 */
export function mountPoolForms(
  app: Hono<AppEnv>,
  web: WebDomain,
  pageUrl: string,
  guard: MiddlewareHandler<AppEnv>,
  page: (c: Ctx, cidrForm: FormState, vlanForm: FormState) => Response | Promise<Response>,
) {
  app.post('/pools/cidr', guard, async (c) => {
    const fields = await formFields(c);
    const parsed = parseFields(cidrPoolSchema, fields);
    if ('form' in parsed) return (c.status(422), page(c, parsed.form, emptyForm));
    try {
      web.ipam.addCidrPool(actorOf(c), parsed.data.cidr, parsed.data.subnetPrefix);
    } catch (e) {
      return (c.status(422), page(c, formFromError(e, fields), emptyForm));
    }
    return c.redirect(pageUrl, 303);
  });
  app.post('/pools/vlan', guard, async (c) => {
    const fields = await formFields(c);
    const parsed = parseFields(vlanPoolSchema, fields);
    if ('form' in parsed) return (c.status(422), page(c, emptyForm, parsed.form));
    try {
      web.ipam.addVlanPool(actorOf(c), parsed.data.first, parsed.data.last);
    } catch (e) {
      return (c.status(422), page(c, emptyForm, formFromError(e, fields)));
    }
    return c.redirect(pageUrl, 303);
  });
}
