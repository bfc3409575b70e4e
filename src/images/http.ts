/**
 * The one narrow HTTP seam of the registry client: GET/POST over node:http(s) with keep-alive agents, bounded
 * redirects and an AbortSignal. node:http rather than fetch because it streams with backpressure into files and
 * child processes, and per-endpoint TLS (trust.ts: extra CAs, client certificates, insecureSkipVerify) and proxies
 * (proxy.ts: HTTP_PROXY/HTTPS_PROXY/NO_PROXY with Go's rules) need no extra dependency.
 *
 * Through a proxy, an https target is reached by a CONNECT tunnel (TLS to the registry runs inside it, so the proxy
 * sees neither content nor credentials) and an http target by an absolute-form request to the proxy.
 */
import http from 'node:http';
import https from 'node:https';
import net, { isIP, type Socket } from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Endpoint } from './hosts';
import type { Transport } from './trust';
import { handleErrors } from '../util/streams';
import { checkLiteral, checkResolved, endpointAddresses, guardedLookup } from './address-guard';
import { describeProxy, proxyAuthorization, proxyFor } from './proxy';
import { FailedPreconditionError, PermissionDeniedError, UnavailableError } from '../errors';

export interface HttpRequest {
  readonly method?: 'GET' | 'HEAD' | 'POST';
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal: AbortSignal;
  readonly transport: Transport;
  /**
   * The registry endpoint's hostname: every hop to another host (a token realm, a redirect) goes through the
   * address guard (address-guard.ts) on a fresh connection, and is never offered the client certificate.
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
/** Bound of a proxy's answer to CONNECT (connection, TLS to the proxy, status line). */
const TUNNEL_TIMEOUT_MS = 30_000;
const MAX_PROXY_HEADER = 16 * 1024;
// Keep-alive: a pull makes several requests to the same endpoint, and layers download in parallel.
const POOL = { keepAlive: true, maxSockets: 16 } as const;
const httpAgent = new http.Agent(POOL);
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

/** Opens a CONNECT tunnel to `authority` (host:port) through `proxy`; resolves with the raw socket. */
export function openTunnel(proxy: URL, authority: string, proxyContext: SecureContext): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const port = Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80));
    const host = proxy.hostname.replace(/^\[|\]$/g, '');
    const socket: Socket =
      proxy.protocol === 'https:'
        ? tls.connect({ host, port, secureContext: proxyContext, ...(isIP(host) ? {} : { servername: host }) })
        : net.connect({ host, port });
    const fail = (why: string, cause?: unknown): void => {
      socket.destroy();
      reject(
        new UnavailableError(`proxy ${describeProxy(proxy)}: tunnel to ${authority}: ${why}`, {
          cause,
          context: { host: authority },
        }),
      );
    };
    socket.setTimeout(TUNNEL_TIMEOUT_MS, () => fail(`no answer in ${TUNNEL_TIMEOUT_MS / 1000}s`));
    socket.once('error', (err) => fail((err as NodeJS.ErrnoException).code ?? err.message, err));
    const auth = proxyAuthorization(proxy);
    socket.once(proxy.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      socket.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
          (auth ? `Proxy-Authorization: ${auth}\r\n` : '') +
          '\r\n',
      );
    });
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_PROXY_HEADER) fail('answer headers too large');
        return;
      }
      socket.off('data', onData);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'));
      const code = Number(status?.[1] ?? 0);
      if (code < 200 || code > 299) {
        // The status only: a proxy's answer body may carry anything.
        fail(
          code
            ? `proxy answered HTTP ${code}${code === 407 ? ' (proxy authentication required)' : ''}`
            : 'not an HTTP answer',
        );
        return;
      }
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      socket.removeAllListeners('error');
      socket.removeAllListeners('timeout');
      socket.setTimeout(0);
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

/**
 * An https.Agent whose connections are TLS inside a CONNECT tunnel. Sockets pool per target host like any
 * agent's; one agent per proxy, TLS profile and kind of hop (see agentFor).
 */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    private readonly proxyContext: SecureContext,
    opts: https.AgentOptions,
    /** For guarded hops: checks the target name before the proxy is asked to connect to it. */
    private readonly precheck?: (host: string) => Promise<void>,
  ) {
    super(opts);
  }

  override createConnection(options: tls.ConnectionOptions, cb: (err: Error | null, s?: Duplex) => void): undefined {
    const host = String(options.host ?? '').replace(/^\[|\]$/g, '');
    const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${options.port ?? 443}`;
    let called = false;
    const done = (err: Error | null, s?: Duplex): void => {
      if (called) return;
      called = true;
      cb(err, s);
    };
    (async () => {
      await this.precheck?.(host);
      const raw = await openTunnel(this.proxy, authority, this.proxyContext);
      const secure = tls.connect({
        ...options,
        socket: raw,
        host,
        ...(isIP(host) ? { servername: undefined } : { servername: host }),
      } as tls.ConnectionOptions);
      secure.once('secureConnect', () => done(null, secure));
      secure.once('error', (err) => done(err));
    })().catch((err: unknown) => done(err as Error));
    return undefined;
  }
}

const agents = new Map<string, http.Agent>();
const MAX_AGENTS = 64;

function cachedAgent(key: string, make: () => http.Agent): http.Agent {
  let a = agents.get(key);
  if (!a) {
    a = make();
    if (agents.size >= MAX_AGENTS) {
      const [oldKey, old] = agents.entries().next().value as [string, http.Agent];
      agents.delete(oldKey);
      old.destroy();
    }
    agents.set(key, a);
  }
  return a;
}

/** A proxy's own TLS (an https:// proxy) is verified against the node's roots, without a client certificate. */
function proxyContextOf(t: Transport): SecureContext {
  return t.tls.otherContext;
}

function once(req: HttpRequest, hop: Hop): Promise<IncomingMessage> {
  const { url } = hop;
  const isHttps = url.protocol === 'https:';
  const profile = req.transport.tls;
  const own = !hop.guard;
  const proxy = proxyFor(req.transport.proxy, url);
  const tlsOpts = isHttps
    ? {
        secureContext: own ? profile.endpointContext : profile.otherContext,
        rejectUnauthorized: profile.rejectUnauthorized,
      }
    : {};
  let mod: typeof http | typeof https = isHttps ? https : http;
  let target: URL | { host: string; port: string; path: string } = url;
  let headers = hop.headers;
  let options: https.RequestOptions;
  if (hop.guard) checkLiteral(url.hostname, hop.guard);
  if (proxy && isHttps) {
    const guard = hop.guard;
    const key = `tunnel|${proxy.href}|${profile.id}|${own ? 'own' : 'other'}`;
    options = {
      // A guarded hop never reuses a tunnel: each is opened for the host its check passed.
      agent: guard
        ? new TunnelAgent(proxy, proxyContextOf(req.transport), { keepAlive: false }, (h) => checkResolved(h, guard))
        : cachedAgent(key, () => new TunnelAgent(proxy, proxyContextOf(req.transport), POOL)),
      ...tlsOpts,
    };
  } else if (proxy) {
    // Plain http through the proxy: the absolute URL as request target, the proxy's credentials in a header.
    const viaTls = proxy.protocol === 'https:';
    mod = viaTls ? https : http;
    const auth = proxyAuthorization(proxy);
    headers = { ...headers, Host: url.host, ...(auth ? { 'Proxy-Authorization': auth } : {}) };
    target = {
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port || (viaTls ? '443' : '80'),
      path: url.href,
    };
    const key = `forward|${proxy.href}|${profile.id}`;
    options = {
      agent: cachedAgent(key, () =>
        viaTls ? new https.Agent({ ...POOL, secureContext: proxyContextOf(req.transport) }) : new http.Agent(POOL),
      ),
    };
    if (hop.guard) {
      const guard = hop.guard;
      return checkResolved(url.hostname.replace(/^\[|\]$/g, ''), guard).then(() => send(mod, target, options, headers));
    }
  } else if (hop.guard) {
    options = {
      agent: isHttps ? guardedHttpsAgent : guardedHttpAgent,
      lookup: guardedLookup(hop.guard),
      ...tlsOpts,
    };
  } else {
    options = {
      agent: isHttps ? cachedAgent(`direct|${profile.id}`, () => new https.Agent(POOL)) : httpAgent,
      ...tlsOpts,
    };
  }
  return send(mod, target, options, headers);

  function send(
    m: typeof http | typeof https,
    to: URL | { host: string; port: string; path: string },
    opts: https.RequestOptions,
    hdrs: Record<string, string>,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const all = { ...opts, method: hop.method, headers: hdrs, signal: req.signal };
      const r = to instanceof URL ? m.request(to, all, onRes) : m.request({ ...to, ...all }, onRes);
      function onRes(res: IncomingMessage): void {
        resolve(handleErrors(res, 'registry response'));
      }
      r.on('error', reject);
      // A registry that accepts and then goes silent would otherwise hold the pull until its overall timeout.
      r.setTimeout(IDLE_TIMEOUT_MS, () =>
        r.destroy(Object.assign(new Error('no data for 60s'), { code: 'ETIMEDOUT' })),
      );
      r.end(hop.body);
    });
  }
}

/** OpenSSL's verification failures that mean "no trusted root for this chain" (not an expired or wrong-host one). */
const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** Error for a request that never got an HTTP answer; names the host, never the URL's query or headers. */
export function unreachable(host: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return err as Error;
  const detail = e?.code ?? e?.message ?? String(err);
  const hint = TLS_TRUST_CODES.has(String(e?.code))
    ? ': the certificate is not trusted (add its CA to the endpoint\'s "ca" in images.registries, or to the system store)'
    : '';
  return new UnavailableError(`registry ${host} unreachable: ${detail}${hint}`, { cause: err, context: { host } });
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
      if (err instanceof PermissionDeniedError || err instanceof FailedPreconditionError) throw err;
      // A proxy's refusal is already an Unavailable error that names the proxy and the target.
      if (err instanceof UnavailableError) throw err;
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
