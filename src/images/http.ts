/**
 * The one narrow HTTP seam of the registry client: GET/POST over node:http(s) with keep-alive agents, bounded
 * redirects and an AbortSignal. node:http rather than fetch because it streams with backpressure into files and
 * child processes, and per-endpoint TLS verification (insecureSkipVerify) needs no extra dependency.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Endpoint } from './hosts';
import { handleErrors } from '../util/streams';
import { checkLiteral, endpointAddresses, guardedLookup } from './address-guard';
import { PermissionDeniedError, UnavailableError } from '../errors';

export interface HttpRequest {
  readonly method?: 'GET' | 'HEAD' | 'POST';
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal: AbortSignal;
  readonly insecureSkipVerify?: boolean;
  /**
   * The registry endpoint's hostname: every hop to another host (a token realm, a redirect) goes through the
   * address guard (address-guard.ts) on a fresh connection.
   */
  readonly trustedHost: string;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** The final URL after redirects. */
  readonly url: string;
  readonly body: IncomingMessage;
}

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 60_000;
// Keep-alive: a pull makes several requests to the same endpoint, and layers download in parallel.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });
const insecureAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
// Guarded hops never share pooled sockets: a socket is only ever used for the host its guard checked.
const guardedHttpAgent = new http.Agent({ keepAlive: false });
const guardedHttpsAgent = new https.Agent({ keepAlive: false });

interface Hop {
  readonly url: URL;
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  /** Set for a hop to a host other than the endpoint: the addresses allowed despite the guard. */
  readonly guard?: ReadonlySet<string>;
}

function once(req: HttpRequest, hop: Hop): Promise<IncomingMessage> {
  const { url } = hop;
  const isHttps = url.protocol === 'https:';
  const mod = isHttps ? https : http;
  let options: https.RequestOptions;
  if (hop.guard) {
    checkLiteral(url.hostname, hop.guard);
    options = {
      agent: isHttps ? guardedHttpsAgent : guardedHttpAgent,
      lookup: guardedLookup(hop.guard),
      rejectUnauthorized: !req.insecureSkipVerify,
    };
  } else {
    options = { agent: isHttps ? (req.insecureSkipVerify ? insecureAgent : httpsAgent) : httpAgent };
  }
  return new Promise((resolve, reject) => {
    const r = mod.request(url, { ...options, method: hop.method, headers: hop.headers, signal: req.signal }, (res) =>
      resolve(handleErrors(res, 'registry response')),
    );
    r.on('error', reject);
    // A registry that accepts and then goes silent would otherwise hold the pull until its overall timeout.
    r.setTimeout(IDLE_TIMEOUT_MS, () => r.destroy(Object.assign(new Error('no data for 60s'), { code: 'ETIMEDOUT' })));
    r.end(hop.body);
  });
}

/** Error for a request that never got an HTTP answer; names the host, never the URL's query or headers. */
export function unreachable(host: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return err as Error;
  const detail = e?.code ?? e?.message ?? String(err);
  return new UnavailableError(`registry ${host} unreachable: ${detail}`, { cause: err, context: { host } });
}

/**
 * Sends a request, following redirects (registries send blobs to storage hosts). Credentials only go where they
 * were meant to: the Authorization header is dropped when a redirect leaves the original origin; a 301/302/303
 * turns a POST into a body-less GET (as browsers do), and a 307/308 that would re-send a body to another origin is
 * refused. Hops to hosts other than the endpoint pass the address guard.
 */
export async function request(req: HttpRequest): Promise<HttpResponse> {
  const origin = new URL(req.url).origin;
  let allowed: Promise<Set<string>> | undefined;
  const guardFor = async (url: URL): Promise<ReadonlySet<string> | undefined> => {
    if (url.hostname.toLowerCase() === req.trustedHost.toLowerCase()) return undefined;
    allowed ??= endpointAddresses(req.trustedHost);
    return allowed;
  };
  let url = new URL(req.url);
  let method = req.method ?? 'GET';
  let body = req.body;
  for (let n = 0; ; n++) {
    const headers = { ...(req.headers ?? {}) };
    if (url.origin !== origin) delete headers.Authorization;
    if (body === undefined) delete headers['Content-Type'];
    const guard = await guardFor(url);
    let res: IncomingMessage;
    try {
      res = await once(req, { url, method, headers, body, ...(guard ? { guard } : {}) });
    } catch (err) {
      if (err instanceof PermissionDeniedError) throw err;
      throw unreachable(url.host, err);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location && n < MAX_REDIRECTS) {
      res.resume(); // drain so the socket returns to the pool
      const next = new URL(location, url);
      if (status === 307 || status === 308) {
        if (body !== undefined && next.origin !== origin) {
          throw new PermissionDeniedError(
            `request to ${url.host} redirected to ${next.host} with its body: not re-sent to another origin`,
            { context: { host: url.host } },
          );
        }
      } else if (method === 'POST') {
        method = 'GET';
        body = undefined;
      }
      url = next;
      continue;
    }
    return { status, headers: res.headers, url: url.toString(), body: res };
  }
}

/** `code` of the error readBody throws past its limit. */
export const TOO_LARGE_BODY = 'ERR_BODY_TOO_LARGE';

/** Reads a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > limit) {
      res.body.destroy();
      throw Object.assign(new Error(`response larger than ${limit} bytes`), { code: TOO_LARGE_BODY });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** Discards a body we do not need, so the keep-alive socket can be reused. */
export function discard(res: HttpResponse): void {
  res.body.resume();
}

/** URL of an API path at an endpoint. */
export function endpointUrl(ep: Endpoint, apiPath: string): string {
  return `${ep.base}${apiPath}`;
}
