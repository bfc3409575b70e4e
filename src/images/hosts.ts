/**
 * Registry host configuration (config `images.registries`): which endpoints serve a registry host, and with which
 * credentials.
 *
 * Configured endpoints REPLACE the host: a host with endpoints is never contacted itself, not even as a fallback,
 * so a miss fails locally (tests and air-gapped nodes depend on this). The key "*" applies to every host without
 * its own entry. The repository path at an endpoint is the reference's path without the host:
 * docker.io/library/busybox → <endpoint>/v2/library/busybox/….
 *
 * Credentials file (`credentialsFile`), JSON, read at every pull so rotation needs no restart:
 *   { "username": "u", "password": "p" }      basic credentials (also used to obtain Bearer tokens)
 *   { "auth": "<base64 of u:p>" }             the same, Docker config style
 *   { "identityToken": "…" }                  OAuth2 refresh token, exchanged at the token endpoint
 *   { "registryToken": "…" }                  a Bearer token sent as is
 * Credentials in the CRI PullImageRequest (the pod's imagePullSecrets) take precedence over the file.
 *
 * TLS per endpoint, in containerd's hosts.toml terms: `ca` (a PEM file or a list, ADDED to the node's roots),
 * `clientCert` + `clientKey` (containerd's `client` pair; `clientCert` alone may hold both), `insecureSkipVerify`
 * (`skip_verify`). trust.ts loads them at every pull; the proxy (proxy.ts) comes from the environment.
 */
import { readFile } from 'node:fs/promises';
import type { RegistryHostConfig } from '../config/types';
import type { AuthConfig } from '../cri/types';
import { DOCKER_HUB } from './reference';
import { InvalidArgumentError } from '../errors';
import { proxyFromEnv, type ProxyConfig } from './proxy';
import { tlsProfile, type Transport } from './trust';

/** Credentials for one registry, normalised from the CRI AuthConfig or a credentials file. Never logged. */
export interface Credentials {
  readonly username?: string;
  readonly password?: string;
  readonly identityToken?: string;
  readonly registryToken?: string;
}

/** One place to send registry requests to. */
export interface Endpoint {
  /** Origin and optional path prefix without a trailing slash, e.g. "http://127.0.0.1:5000". */
  readonly base: string;
  /** host[:port] for logs and errors (never the URL's userinfo). */
  readonly host: string;
  readonly insecureSkipVerify: boolean;
  /** True when this is the registry host itself (no configuration). */
  readonly isDefault: boolean;
  /** Token realm hosts besides the endpoint's own that may receive credentials (config credentialRealms). */
  readonly credentialRealms: readonly string[];
  /** CA files trusted for this endpoint besides the node's roots (config `ca`); absent when none. */
  readonly ca?: readonly string[];
  /** Client certificate and key files offered to this endpoint (config clientCert/clientKey). */
  readonly clientCert?: string;
  readonly clientKey?: string;
}

// Docker Hub's token service lives on another host than its registry API: the one pair every client knows.
const DOCKER_HUB_REALMS = ['auth.docker.io'];

export type RegistriesConfig = Readonly<Record<string, RegistryHostConfig>>;

const WILDCARD = '*';

export class RegistryHosts {
  /** The node's proxy settings, read once (as Go reads them once per process). */
  readonly proxy: ProxyConfig;

  constructor(
    private readonly config: RegistriesConfig,
    opts: { proxy?: ProxyConfig } = {},
  ) {
    this.proxy = opts.proxy ?? proxyFromEnv();
  }

  /** How one pull reaches `ep`: its TLS material, read now (so rotated files apply), and the proxy settings. */
  async transport(ep: Endpoint, domain: string): Promise<Transport> {
    const tls = await tlsProfile(
      {
        ca: ep.ca ?? [],
        insecureSkipVerify: ep.insecureSkipVerify,
        ...(ep.clientCert ? { clientCert: ep.clientCert } : {}),
        ...(ep.clientKey ? { clientKey: ep.clientKey } : {}),
      },
      domain,
    );
    return { tls, proxy: this.proxy };
  }

  /** Endpoints to try, in order, for a registry host. */
  endpoints(domain: string): Endpoint[] {
    const cfg = this.config[domain] ?? this.config[WILDCARD];
    if (cfg === undefined) {
      // Docker Hub's API lives on another host than its name.
      const host = domain === DOCKER_HUB ? 'registry-1.docker.io' : domain;
      const credentialRealms = domain === DOCKER_HUB ? DOCKER_HUB_REALMS : [];
      return [{ base: `https://${host}`, host, insecureSkipVerify: false, isDefault: true, credentialRealms }];
    }
    return cfg.endpoints.map((ep) => {
      const url = new URL(ep.url);
      // Userinfo in an endpoint URL would leak into logs and Authorization handling: credentials go in the file.
      if (url.username || url.password) {
        throw new InvalidArgumentError(`images.registries.${domain}: endpoint URLs must not carry credentials`);
      }
      const base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
      const credentialRealms = [...(cfg.credentialRealms ?? []), ...(domain === DOCKER_HUB ? DOCKER_HUB_REALMS : [])];
      const ca = typeof ep.ca === 'string' ? [ep.ca] : (ep.ca ?? []);
      return {
        base,
        host: url.host,
        insecureSkipVerify: ep.insecureSkipVerify ?? false,
        isDefault: false,
        credentialRealms,
        ...(ca.length > 0 ? { ca } : {}),
        ...(ep.clientCert ? { clientCert: ep.clientCert } : {}),
        ...(ep.clientKey ? { clientKey: ep.clientKey } : {}),
      };
    });
  }

  /** Request credentials if any, else the host's credentials file, else none. */
  async credentials(domain: string, auth?: AuthConfig): Promise<Credentials | undefined> {
    const fromRequest = auth ? fromAuthConfig(auth) : undefined;
    if (fromRequest) return fromRequest;
    const file = (this.config[domain] ?? this.config[WILDCARD])?.credentialsFile;
    if (!file) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      // Only the path and the error code: the file's content must never reach a message.
      const code = (err as NodeJS.ErrnoException).code ?? 'invalid JSON';
      throw new InvalidArgumentError(`read credentials file ${file} for ${domain}: ${code}`);
    }
    const creds = fromFile(raw);
    if (!creds) throw new InvalidArgumentError(`read credentials file ${file} for ${domain}: no usable credentials`);
    return creds;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Splits a base64 "user:password" (the AuthConfig.auth / Docker config form). */
function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

function normalise(fields: {
  username?: string;
  password?: string;
  auth?: string;
  identityToken?: string;
  registryToken?: string;
}): Credentials | undefined {
  const fromAuth = fields.auth ? decodeAuth(fields.auth) : undefined;
  const username = fields.username ?? fromAuth?.username;
  const password = fields.password ?? fromAuth?.password;
  if (!username && !fields.identityToken && !fields.registryToken) return undefined;
  return {
    ...(username ? { username, password: password ?? '' } : {}),
    ...(fields.identityToken ? { identityToken: fields.identityToken } : {}),
    ...(fields.registryToken ? { registryToken: fields.registryToken } : {}),
  };
}

/** CRI AuthConfig → Credentials; undefined when it carries nothing (proto defaults are empty strings). */
export function fromAuthConfig(a: AuthConfig): Credentials | undefined {
  return normalise({
    username: str(a.username),
    password: str(a.password),
    auth: str(a.auth),
    identityToken: str(a.identity_token),
    registryToken: str(a.registry_token),
  });
}

function fromFile(raw: unknown): Credentials | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  return normalise({
    username: str(o.username),
    password: str(o.password),
    auth: str(o.auth),
    identityToken: str(o.identityToken),
    registryToken: str(o.registryToken),
  });
}
