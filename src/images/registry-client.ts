/**
 * The OCI distribution pull protocol against one endpoint and repository: manifests by tag or digest, blobs by
 * digest, with the auth handshake (auth.ts) answered on the first 401 and shared by every request of the pull.
 * Errors name the image, the endpoint host and the HTTP status: 404 → NotFound, 401/403 → PermissionDenied,
 * 429/5xx or no answer → Unavailable. Credentials never appear in them.
 */
import type { Credentials, Endpoint } from './hosts';
import type { Transport } from './trust';
import { AuthSession, denied } from './auth';
import { discard, endpointUrl, readBody, request, TOO_LARGE_BODY, type HttpResponse } from './http';
import { MANIFEST_ACCEPT } from './manifest';
import { digestWith, sha256 } from './digest';
import { DEFAULT_LIMITS, overLimit } from './limits';
import { InternalError, InvalidArgumentError, NotFoundError, UnavailableError } from '../errors';

export interface FetchedManifest {
  readonly body: Buffer;
  readonly contentType: string | undefined;
  /** sha256 of the body (the store's key); a requested digest of any algorithm was verified too. */
  readonly digest: string;
}

export class RegistryClient {
  private readonly auth: AuthSession;

  constructor(
    readonly endpoint: Endpoint,
    /** TLS profile and proxy settings of this pull (RegistryHosts.transport). */
    private readonly connection: Transport,
    /** Repository path at the endpoint, e.g. "library/busybox". */
    readonly repository: string,
    creds: Credentials | undefined,
    private readonly signal: AbortSignal,
    /** The image being pulled, for error messages. */
    private readonly image: string,
    /** Manifests and indexes are small; the limit keeps a hostile registry from exhausting memory. */
    private readonly manifestLimit = DEFAULT_LIMITS.manifestBytes,
  ) {
    this.auth = new AuthSession(endpoint, connection, repository, creds, signal);
  }

  /**
   * GET /v2/<repo>/manifests/<tag|digest>; verifies the digest when `reference` is one, in its own algorithm
   * (sha256, sha384 or sha512: reference.ts refuses any other, so nothing is ever taken unverified).
   */
  async manifest(reference: string): Promise<FetchedManifest> {
    const what = `manifest ${reference}`;
    const res = await this.send(`/v2/${this.repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT }, what);
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > this.manifestLimit) {
      discard(res);
      throw overLimit(this.image, `${what} of ${declared} bytes`, 'manifestBytes', this.manifestLimit);
    }
    let body: Buffer;
    try {
      body = await readBody(res, this.manifestLimit);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === TOO_LARGE_BODY) {
        throw overLimit(this.image, what, 'manifestBytes', this.manifestLimit);
      }
      throw this.transport(what, err);
    }
    const digest = sha256(body);
    const algorithm = reference.includes(':') ? reference.slice(0, reference.indexOf(':')) : undefined;
    const got = algorithm === undefined ? undefined : algorithm === 'sha256' ? digest : digestWith(algorithm, body);
    if (got !== undefined && got !== reference) {
      throw new InvalidArgumentError(
        `pull image ${this.image}: registry ${this.endpoint.host} sent ${what} with digest ${got}`,
        { context: { host: this.endpoint.host } },
      );
    }
    const ct = res.headers['content-type'];
    return { body, contentType: Array.isArray(ct) ? ct[0] : ct, digest };
  }

  /** GET /v2/<repo>/blobs/<digest>; the caller streams and verifies the body. */
  blob(digest: string): Promise<HttpResponse> {
    return this.send(`/v2/${this.repository}/blobs/${digest}`, {}, `blob ${digest}`);
  }

  /** Reads a whole small blob (an image config) and verifies digest and size. */
  async smallBlob(digest: string, size: number): Promise<Buffer> {
    const what = `blob ${digest}`;
    const res = await this.blob(digest);
    let body: Buffer;
    try {
      body = await readBody(res, size);
    } catch (err) {
      throw this.transport(what, err);
    }
    if (body.length !== size || sha256(body) !== digest) {
      throw new InvalidArgumentError(
        `pull image ${this.image}: ${what} from ${this.endpoint.host} failed verification (digest or size mismatch)`,
      );
    }
    return body;
  }

  /** An error while reading a body: the connection broke (Unavailable), or a limit was exceeded. */
  transport(what: string, err: unknown): Error {
    if ((err as Error)?.name === 'AbortError') return err as Error;
    return new UnavailableError(
      `pull image ${this.image}: read ${what} from ${this.endpoint.host}: ${(err as Error)?.message ?? String(err)}`,
      { cause: err, context: { host: this.endpoint.host } },
    );
  }

  private async send(apiPath: string, headers: Record<string, string>, what: string): Promise<HttpResponse> {
    const host = this.endpoint.host;
    for (let attempt = 0; ; attempt++) {
      const authHeaders = this.auth.headers();
      let res: HttpResponse;
      try {
        res = await request({
          url: endpointUrl(this.endpoint, apiPath),
          headers: { ...headers, ...authHeaders },
          signal: this.signal,
          transport: this.connection,
          trustedHost: new URL(this.endpoint.base).hostname,
        });
      } catch (err) {
        throw prefix(this.image, err);
      }
      if (res.status === 200) return res;
      discard(res);
      if (res.status === 401 && attempt === 0) {
        const challenge = res.headers['www-authenticate'];
        try {
          await this.auth.answer(Array.isArray(challenge) ? challenge[0] : challenge, authHeaders.Authorization);
        } catch (err) {
          throw prefix(this.image, err);
        }
        continue;
      }
      const ctx = { context: { host, status: res.status } };
      const msg = `pull image ${this.image}: registry ${host}`;
      if (res.status === 401 || res.status === 403) throw prefix(this.image, denied(host, res.status, what));
      if (res.status === 404) throw new NotFoundError(`${msg}: ${what} not found (HTTP 404)`, ctx);
      if (res.status === 429 || res.status >= 500)
        throw new UnavailableError(`${msg}: ${what}: HTTP ${res.status}`, ctx);
      if (res.status === 400) throw new InvalidArgumentError(`${msg}: ${what}: HTTP 400`, ctx);
      throw new InternalError(`${msg}: ${what}: unexpected HTTP ${res.status}`, ctx);
    }
  }
}

/** Prefixes "pull image X: " to a crimux error, keeping its kind; other errors pass through. */
function prefix(image: string, err: unknown): unknown {
  if (!(err instanceof Error) || err.name === 'AbortError' || !('kind' in err)) return err;
  const Ctor = err.constructor as new (m: string, o: { cause?: unknown; context?: Record<string, unknown> }) => Error;
  const ctx = (err as { context?: Record<string, unknown> }).context;
  return new Ctor(`pull image ${image}: ${err.message}`, { cause: err, context: { ...ctx } });
}
