// Microsoft Entra ID as far as a service principal signs in: the tenant's OpenID metadata and the v2.0 token
// endpoint's client-credentials grant, with Entra's AADSTS errors for an unknown tenant, unknown client or wrong
// secret. The ARM routes accept only tokens issued here (or the static test token) until they expire.
import crypto from 'node:crypto';

export interface ServicePrincipal {
  clientId: string;
  secret: string;
}

export interface TokenIssuer {
  /** Answers `GET /{tenant}/v2.0/.well-known/openid-configuration` and `POST /{tenant}/oauth2/v2.0/token`, or undefined for other paths. */
  handle(method: string, path: string, form: URLSearchParams): { status: number; body: unknown } | undefined;
  /** The client id a bearer token was issued to, or why it is refused. */
  verify(token: string): { clientId: string } | { error: string };
  /** Tokens issued so far. */
  issued: number;
  /** Makes every issued token expired now. */
  expireAll(): void;
}

export function createTokenIssuer(o: {
  base: () => string;
  tenantId: string;
  principals: ServicePrincipal[];
  staticToken?: string;
  lifetimeSec?: number;
}): TokenIssuer {
  const tokens = new Map<string, { clientId: string; expiresAt: number }>();
  const lifetime = o.lifetimeSec ?? 3599;
  const trace = () =>
    `Trace ID: ${crypto.randomUUID()}\r\nCorrelation ID: ${crypto.randomUUID()}\r\nTimestamp: ${new Date().toISOString().replace('T', ' ').slice(0, 19)}Z`;
  const aadError = (status: number, error: string, code: number, description: string) => ({
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description}\r\n${trace()}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
      trace_id: crypto.randomUUID(),
      correlation_id: crypto.randomUUID(),
    },
  });
  const issuer = {
    issued: 0,
    handle(method: string, path: string, form: URLSearchParams) {
      const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(path);
      if (!m) return undefined;
      const tenant = m[1]!;
      if (tenant.toLowerCase() !== o.tenantId.toLowerCase())
        return aadError(
          400,
          'invalid_tenant',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        );
      const root = `${o.base()}/${tenant}`;
      if (m[2]!.startsWith('v2.0') && method === 'GET')
        return {
          status: 200,
          body: {
            token_endpoint: `${root}/oauth2/v2.0/token`,
            token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
            jwks_uri: `${root}/discovery/v2.0/keys`,
            response_modes_supported: ['query', 'fragment', 'form_post'],
            subject_types_supported: ['pairwise'],
            id_token_signing_alg_values_supported: ['RS256'],
            response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
            scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
            issuer: `${root}/v2.0`,
            request_uri_parameter_supported: false,
            userinfo_endpoint: `${root}/openid/userinfo`,
            authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
            device_authorization_endpoint: `${root}/oauth2/v2.0/devicecode`,
            http_logout_supported: true,
            frontchannel_logout_supported: true,
            end_session_endpoint: `${root}/oauth2/v2.0/logout`,
            claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid'],
            kerberos_endpoint: `${root}/kerberos`,
            tenant_region_scope: 'EU',
            cloud_instance_name: 'glassdome.test',
            cloud_graph_host_name: 'graph.glassdome.test',
            msgraph_host: 'graph.glassdome.test',
            rbac_url: 'https://pas.glassdome.test',
          },
        };
      if (method !== 'POST')
        return {
          status: 405,
          body: {
            error: 'invalid_request',
            error_description: 'AADSTS900561: The endpoint only accepts POST requests.',
          },
        };
      if (form.get('grant_type') !== 'client_credentials')
        return aadError(
          400,
          'unsupported_grant_type',
          70003,
          `The app requested an unsupported grant type '${form.get('grant_type')}'.`,
        );
      const clientId = form.get('client_id') ?? '';
      const sp = o.principals.find((p) => p.clientId === clientId);
      if (!sp)
        return aadError(
          400,
          'unauthorized_client',
          700016,
          `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
        );
      const secret = form.get('client_secret') ?? '';
      if (secret.length !== sp.secret.length || !crypto.timingSafeEqual(Buffer.from(secret), Buffer.from(sp.secret)))
        return aadError(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        );
      if (!/\/\.default$/.test(form.get('scope') ?? ''))
        return aadError(
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${form.get('scope')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        );
      const token = `gd.${crypto.randomBytes(32).toString('base64url')}`;
      tokens.set(token, { clientId, expiresAt: Date.now() + lifetime * 1000 });
      issuer.issued++;
      return {
        status: 200,
        body: { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: token },
      };
    },
    verify(token: string) {
      if (o.staticToken && token === o.staticToken) return { clientId: 'static-test-client' };
      const t = tokens.get(token);
      if (!t) return { error: 'The access token is invalid.' };
      if (t.expiresAt <= Date.now())
        return { error: 'The access token expiry UTC time is earlier than current UTC time.' };
      return { clientId: t.clientId };
    },
    expireAll() {
      for (const t of tokens.values()) t.expiresAt = 0;
    },
  };
  return issuer;
}
