/**
 * Registry authentication (distribution token spec): a 401 carries a WWW-Authenticate challenge; for Bearer we
 * fetch a token from the realm (basic credentials, or an OAuth2 refresh token for identity tokens), for Basic we
 * send the credentials. One AuthSession per endpoint and repository: every layer download of a pull shares its
 * token, and concurrent 401s refresh it once. Credentials and tokens never reach a log line or an error message,
 * and neither does anything a registry or token service sent back (only host and status).
 *
 * The registry chooses the realm, so it is not trusted with the node: the realm must be http(s) without userinfo,
 * its addresses pass the address guard (address-guard.ts, applied in http.ts), and credentials go to it only when
 * it is the endpoint's own host or one the operator listed (credentialRealms; auth.docker.io for Docker Hub), and
 * never over plain http to a non-loopback host. Otherwise the token is asked for anonymously (public images on
 * such registries keep working) and a refusal says why the credentials were withheld.
 */
import type { Credentials, Endpoint } from './hosts';
import type { Transport } from './trust';
import { readBody, request } from './http';
import { isLoopbackHost } from './address-guard';
import { PermissionDeniedError, UnavailableError } from '../errors';

interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_LIMIT = 1 << 20;

/** Parses `Bearer realm="…",service="…",scope="…"` (first challenge; quoted or token values). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null && p[0] !== '') {
    params[(p[1] ?? '').toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

function basic(c: Credentials): string {
  return 'Basic ' + Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64');
}

export class AuthSession {
  private authorization: string | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly transport: Transport,
    /** Repository path at the endpoint, for the token scope. */
    private readonly repository: string,
    private readonly creds: Credentials | undefined,
    private readonly signal: AbortSignal,
  ) {
    // A registry token is a ready Bearer token (CRI AuthConfig.registry_token).
    if (creds?.registryToken) this.authorization = `Bearer ${creds.registryToken}`;
  }

  /** Headers to send with the next request. */
  headers(): Record<string, string> {
    return this.authorization ? { Authorization: this.authorization } : {};
  }

  /**
   * Handles a 401: answers the challenge so the caller can retry. Concurrent callers share one refresh. Throws
   * PermissionDeniedError when the challenge cannot be answered (no credentials for Basic, token refused).
   */
  async answer(wwwAuthenticate: string | undefined, failedWith: string | undefined): Promise<void> {
    // Another request already refreshed since this one was sent: just retry with the new header.
    if (this.authorization !== failedWith) return;
    this.refreshing ??= this.refresh(wwwAuthenticate).finally(() => (this.refreshing = undefined));
    await this.refreshing;
  }

  private async refresh(wwwAuthenticate: string | undefined): Promise<void> {
    const ch = wwwAuthenticate ? parseChallenge(wwwAuthenticate) : undefined;
    const host = this.endpoint.host;
    if (ch?.scheme === 'basic') {
      if (!this.creds?.username) throw denied(host, 401, 'credentials required');
      if (plainHttpAway(new URL(this.endpoint.base))) {
        throw denied(host, 401, 'credentials are never sent over plain http to a non-loopback host');
      }
      this.authorization = basic(this.creds);
      return;
    }
    if (ch?.scheme !== 'bearer' || !ch.params.realm) throw denied(host, 401, 'no usable authentication challenge');
    const scope = ch.params.scope ?? `repository:${this.repository}:pull`;
    this.authorization = `Bearer ${await this.fetchToken(ch.params.realm, ch.params.service, scope)}`;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<string> {
    const host = this.endpoint.host;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw denied(host, 401, 'the token realm is not a URL');
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
      throw denied(host, 401, 'the token realm must be an http(s) URL without credentials');
    }
    const realmHost = url.host;
    const transport = this.transport;
    const trustedHost = new URL(this.endpoint.base).hostname;
    const withheld = this.creds ? credentialsWithheld(this.endpoint, url) : undefined;
    const creds = withheld ? undefined : this.creds;
    let res;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as Docker and containerd do for identity tokens.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken });
      form.set('client_id', 'crimux');
      form.set('scope', scope);
      if (service) form.set('service', service);
      res = await request({
        method: 'POST',
        url: url.toString(),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        signal: this.signal,
        transport,
        trustedHost,
      });
    } else {
      if (service) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      const headers: Record<string, string> = creds?.username ? { Authorization: basic(creds) } : {};
      res = await request({ url: url.toString(), headers, signal: this.signal, transport, trustedHost });
    }
    let body: Buffer;
    try {
      body = await readBody(res, TOKEN_LIMIT);
    } catch {
      throw new UnavailableError(`fetch token from ${realmHost}: response unreadable or too large`, {
        context: { host: realmHost },
      });
    }
    if (res.status === 401 || res.status === 403) {
      throw denied(realmHost, res.status, withheld ? `token refused; ${withheld}` : 'token refused');
    }
    if (res.status >= 500 || res.status === 429) {
      throw new UnavailableError(`fetch token from ${realmHost}: HTTP ${res.status}`, { context: { host: realmHost } });
    }
    if (res.status !== 200) throw denied(realmHost, res.status, 'token request failed');
    let token: unknown;
    try {
      const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      token = json.token ?? json.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') throw denied(realmHost, res.status, 'no token in the response');
    return token;
  }
}

/** Why credentials may not go to a token realm of this endpoint, or undefined when they may. */
export function credentialsWithheld(endpoint: Endpoint, realm: URL): string | undefined {
  const own = new URL(endpoint.base).hostname.toLowerCase();
  const host = realm.hostname.toLowerCase();
  if (host !== own && !endpoint.credentialRealms.some((h) => h.toLowerCase() === host)) {
    return `credentials withheld from token realm ${realm.host} (not the registry host)`;
  }
  if (plainHttpAway(realm)) return `credentials withheld from token realm ${realm.host} (plain http)`;
  return undefined;
}

/** True when a request to `url` would carry a secret in clear text off this machine. */
function plainHttpAway(url: URL): boolean {
  return url.protocol === 'http:' && !isLoopbackHost(url.hostname);
}

/** The error for an authentication failure: host and status, never credentials. */
export function denied(host: string, status: number, detail: string): PermissionDeniedError {
  return new PermissionDeniedError(`registry ${host} refused access (HTTP ${status}): ${detail}`, {
    context: { host, status },
  });
}
