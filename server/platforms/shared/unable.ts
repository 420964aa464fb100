// The one shape of a driver's failure: `[driver] Unable to <action> <resource> "<name>": <cause>`, keeping the
// error's code (transient, not_found, ...), its hint, its issues and the cause itself.
import { AppError, errorMessage } from '../../errors.ts';

export function unable(
  driver: string,
  action: string,
  resource: string,
  name: string,
  e: unknown,
  o: { cause?: string; hint?: string } = {},
): AppError {
  const prefix = `[${driver}] `;
  const cause =
    o.cause ?? (errorMessage(e).startsWith(prefix) ? errorMessage(e).slice(prefix.length) : errorMessage(e));
  const from = e instanceof AppError ? e : undefined;
  const hint = o.hint ?? from?.hint;
  return new AppError(from?.code ?? 'platform_error', `${prefix}Unable to ${action} ${resource} "${name}": ${cause}`, {
    cause: e,
    ...(hint ? { hint } : {}),
    ...(from?.issues ? { issues: from.issues } : {}),
  });
}
