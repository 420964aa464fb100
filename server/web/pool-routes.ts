// Adding address and VLAN pools from a form: the same handlers serve the setup wizard and Settings.
import type { Hono, MiddlewareHandler } from 'hono';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from './context.ts';
import { emptyForm, formFields, formFromError, parseFields, type FormState } from './forms.ts';
import { cidrPoolSchema, vlanPoolSchema } from './schemas.ts';

/** POST `${base}/cidr` and `${base}/vlan`; `page` renders the pools screen with the failing form's state. */
export function mountPoolRoutes(
  app: Hono<AppEnv>,
  web: WebDomain,
  base: string,
  guard: MiddlewareHandler<AppEnv>,
  page: (c: Ctx, cidrForm: FormState, vlanForm: FormState) => Response | Promise<Response>,
) {
  app.post(`${base}/cidr`, guard, async (c) => {
    const fields = await formFields(c);
    const parsed = parseFields(cidrPoolSchema, fields);
    if ('form' in parsed) return (c.status(422), page(c, parsed.form, emptyForm));
    try {
      web.ipam.addCidrPool(parsed.data.cidr, parsed.data.subnetPrefix);
    } catch (e) {
      return (c.status(422), page(c, formFromError(e, fields), emptyForm));
    }
    web.audit.record(actorOf(c), 'pool.create', `cidr:${parsed.data.cidr}`, `/${parsed.data.subnetPrefix} subnets`);
    return c.redirect(base, 303);
  });
  app.post(`${base}/vlan`, guard, async (c) => {
    const fields = await formFields(c);
    const parsed = parseFields(vlanPoolSchema, fields);
    if ('form' in parsed) return (c.status(422), page(c, emptyForm, parsed.form));
    try {
      web.ipam.addVlanPool(parsed.data.first, parsed.data.last);
    } catch (e) {
      return (c.status(422), page(c, emptyForm, formFromError(e, fields)));
    }
    web.audit.record(actorOf(c), 'pool.create', `vlan:${parsed.data.first}-${parsed.data.last}`);
    return c.redirect(base, 303);
  });
}
