/**
 * The one narrow HTTP seam of the registry client: GET/POST over node:http(s) with keep-alive agents, bounded
 * redirects and an AbortSignal. node:http rather than fetch because it streams with backpressure into files and
 * child processes, and per-endpoint TLS verification (insecureSkipVerify) needs no extra dependency.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Endpoint } from './hosts';
import { UnavailableError } from '../errors';

export interface HttpRequest {
  readonly method?: 'GET' | 'HEAD' | 'POST';
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal: AbortSignal;
  readonly insecureSkipVerify?: boolean;
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

function once(req: HttpRequest, url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
  const isHttps = url.protocol === 'https:';
  const agent = isHttps ? (req.insecureSkipVerify ? insecureAgent : httpsAgent) : httpAgent;
  const mod = isHttps ? https : http;
  return new Promise((resolve, reject) => {
    const r = mod.request(url, { method: req.method ?? 'GET', headers, agent, signal: req.signal }, resolve);
    r.on('error', reject);
    // A registry that accepts and then goes silent would otherwise hold the pull until its overall timeout.
    r.setTimeout(IDLE_TIMEOUT_MS, () => r.destroy(Object.assign(new Error('no data for 60s'), { code: 'ETIMEDOUT' })));
    r.end(req.body);
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
 * Sends a request, following redirects (registries send blobs to storage hosts). The Authorization header is
 * dropped when a redirect leaves the original origin, so credentials only go where they were meant to.
 */
export async function request(req: HttpRequest): Promise<HttpResponse> {
  let url = new URL(req.url);
  const origin = url.origin;
  for (let hop = 0; ; hop++) {
    const headers = { ...(req.headers ?? {}) };
    if (url.origin !== origin) delete headers.Authorization;
    let res: IncomingMessage;
    try {
      res = await once(req, url, headers);
    } catch (err) {
      throw unreachable(url.host, err);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location && hop < MAX_REDIRECTS) {
      res.resume(); // drain so the socket returns to the pool
      url = new URL(location, url);
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
