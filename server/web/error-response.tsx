// Errors as responses: JSON for the API, a short alert for htmx swaps, a page (or the sign-in page) otherwise.
import { ErrorPage } from '../../views/pages/error.tsx';
import type { AppError } from '../errors.ts';
import type { Ctx } from './context.ts';
import { isApi } from './security.ts';

export function errorResponse(c: Ctx, err: AppError) {
  const status = err.status as 400;
  if (
    isApi(c) ||
    ((c.req.header('Accept') ?? '').includes('application/json') &&
      !(c.req.header('Accept') ?? '').includes('text/html'))
  ) {
    return c.json(
      {
        error: {
          code: err.code,
          message: err.message,
          ...(err.hint ? { hint: err.hint } : {}),
          ...(err.issues ? { issues: err.issues } : {}),
        },
      },
      status,
    );
  }
  if (err.code === 'unauthorized' && c.req.method === 'GET')
    return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
  if (c.req.header('HX-Request')) {
    return c.html(
      <p class="alert" role="alert">
        {err.message}
        {err.hint ? ` ${err.hint}` : ''}
      </p>,
      status,
    );
  }
  c.status(status);
  return c.render(<ErrorPage status={err.status} message={err.message} hint={err.hint} />, { title: 'Error' });
}
