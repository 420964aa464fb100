// ARM's error responses: `{"error": {"code", "message", "details"?}}` with the status and wording Azure uses for
// the cases the driver must turn into clear messages. Handlers throw these; the server writes them.

export interface ArmErrorBody {
  code: string;
  message: string;
  target?: string;
  details?: ArmErrorBody[];
}

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { details?: ArmErrorBody[]; headers?: Record<string, string>; target?: string } = {},
  ) {
    super(message);
  }

  body(): { error: ArmErrorBody } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.extra.target ? { target: this.extra.target } : {}),
        ...(this.extra.details ? { details: this.extra.details } : {}),
      },
    };
  }
}

export const armErrors = {
  resourceGroupNotFound: (rg: string) =>
    new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`),
  resourceNotFound: (type: string, name: string, rg: string) =>
    new ArmError(
      404,
      'ResourceNotFound',
      `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    ),
  notFound: (what: string) => new ArmError(404, 'NotFound', `${what} was not found.`),
  subscriptionNotFound: (sub: string) =>
    new ArmError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`),
  noRoute: (method: string, path: string) =>
    new ArmError(
      404,
      'InvalidResourceType',
      `The resource type could not be found for ${method} ${path} (not modelled by the ARM test server).`,
    ),
  missingApiVersion: () =>
    new ArmError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    ),
  badApiVersion: (given: string, type: string, supported: string) =>
    new ArmError(
      400,
      'NoRegisteredProviderFound',
      `No registered resource provider found for location 'westeurope' and API version '${given}' for type '${type}'. The supported api-versions are '${supported}'.`,
    ),
  unauthenticated: (why: string) =>
    new ArmError(401, why.includes('missing') ? 'AuthenticationFailed' : 'InvalidAuthenticationToken', why),
  authorizationFailed: (clientId: string, action: string, scope: string) =>
    new ArmError(
      403,
      'AuthorizationFailed',
      `The client '${clientId}' with object id '${clientId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    ),
  missingRegistration: (namespace: string) =>
    new ArmError(
      409,
      'MissingSubscriptionRegistration',
      `The subscription is not registered to use namespace '${namespace}'. See https://aka.ms/rps-not-found for how to register subscriptions.`,
      {
        details: [
          {
            code: 'MissingSubscriptionRegistration',
            target: namespace,
            message: `The subscription is not registered to use namespace '${namespace}'. See https://aka.ms/rps-not-found for how to register subscriptions.`,
          },
        ],
      },
    ),
  throttled: (retryAfterSec: number) =>
    new ArmError(
      429,
      'TooManyRequests',
      'The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:01:00. For more information, see - https://aka.ms/srpthrottlinglimits',
      {
        headers: { 'Retry-After': String(retryAfterSec) },
      },
    ),
  invalidParameter: (message: string, target?: string) =>
    new ArmError(400, 'InvalidParameter', message, target ? { target } : {}),
  badRequest: (code: string, message: string) => new ArmError(400, code, message),
  conflict: (code: string, message: string) => new ArmError(409, code, message),
  anotherOperation: (resource: string) =>
    new ArmError(
      409,
      'AnotherOperationInProgress',
      `Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: ${resource}. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    ),
};
