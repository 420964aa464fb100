// /account: the signed-in user's own account: change their password (proving the current one); their other sessions
// end, this one stays.
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { isAppError } from '../../errors.ts';
import { AccountPage } from '../../../views/pages/account.tsx';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { errorsOf, formFields, parseFields } from '../forms.ts';
import { passwordChangeSchema } from '../schemas.ts';
import { allow, cookieNames } from '../security.ts';

export function accountRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();

  const page = (c: Ctx, errors: Record<string, string> = {}, message?: string) => {
    const { user } = c.get('viewer')!;
    return c.render(
      <AccountPage
        username={user.username}
        role={user.role}
        csrf={c.get('csrf')}
        errors={errors}
        message={message}
        saved={c.req.query('saved') === '1'}
      />,
      { title: 'Your account' },
    );
  };

  app.get('/', allow(), (c) => page(c));

  app.post('/password', allow(), async (c) => {
    const parsed = parseFields(passwordChangeSchema, await formFields(c), ['current', 'password', 'confirm']);
    if ('form' in parsed) return (c.status(422), page(c, parsed.form.errors));
    try {
      await web.users.changeOwnPassword(
        actorOf(c),
        parsed.data.current,
        parsed.data.password,
        getCookie(c, cookieNames.session),
      );
    } catch (e) {
      if (!isAppError(e) || e.code !== 'invalid_input') throw e;
      return (c.status(422), page(c, errorsOf(e.issues ?? []), e.message));
    }
    return c.redirect('/account?saved=1', 303);
  });

  return app;
}
