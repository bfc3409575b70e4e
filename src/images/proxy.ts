/**
 * Which proxy a registry request goes through, from HTTP_PROXY / HTTPS_PROXY / NO_PROXY (or their lowercase
 * forms), with the semantics of Go's net/http (golang.org/x/net/http/httpproxy), which containerd and CRI-O use, so
 * a node's proxy settings mean the same to crimux as to the runtime it replaces:
 *
 * - https:// requests use HTTPS_PROXY, http:// requests HTTP_PROXY; there is no fallback from one to the other. The
 *   uppercase name wins when both forms are set and non-empty. A value without a scheme is taken as http://.
 *   HTTP_PROXY is refused when REQUEST_METHOD is set (a CGI environment, where a client can set it: Go's rule).
 * - "localhost" and loopback IP literals are never proxied, whatever NO_PROXY says.
 * - NO_PROXY is a comma-separated list, case-insensitive:
 *     *                   no request is proxied
 *     10.0.0.0/8          an IP literal host inside the CIDR (any port)
 *     10.1.2.3, [::1]:80  that IP literal host (on that port only, when one is given)
 *     example.com[:port]  example.com and every subdomain (on that port only, when one is given)
 *     .example.com        and *.example.com: subdomains only, not example.com itself
 *   Names are not resolved: an IP entry matches only a host written as an IP.
 * - A proxy URL's user:password goes to the proxy as Proxy-Authorization: Basic, never to the registry.
 *
 * Proxies may be http:// (a CONNECT tunnel for https targets, absolute-form requests for http targets) or
 * https:// (the same inside TLS to the proxy). socks5 is not supported: a request that would use it fails and says
 * so, rather than silently going direct. The environment is read once, at start (as Go does).
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { FailedPreconditionError } from '../errors';

export type Env = Readonly<Record<string, string | undefined>>;

interface Matcher {
  match(host: string, port: string, ip: Uint8Array | undefined): boolean;
}

export interface ProxyConfig {
  readonly httpProxy: URL | undefined;
  readonly httpsProxy: URL | undefined;
  /** REQUEST_METHOD is set: HTTP_PROXY may have come from a client and is refused. */
  readonly cgi: boolean;
  readonly ipMatchers: readonly Matcher[];
  readonly domainMatchers: readonly Matcher[];
  /** Values that were ignored, for the daemon to log once at start. */
  readonly warnings: readonly string[];
}

const DEFAULT_PORT: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

function getEnvAny(env: Env, ...names: string[]): string {
  for (const n of names) {
    const v = env[n];
    if (v) return v;
  }
  return '';
}

/** Go's parseProxy: a bare host[:port] means http://host[:port]. */
function parseProxy(value: string, name: string, warnings: string[]): URL | undefined {
  if (value === '') return undefined;
  // A value with a scheme is taken as it is; only a bare host[:port] gets http:// in front.
  const candidates = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? [value] : [value, `http://${value}`];
  for (const candidate of candidates) {
    try {
      const u = new URL(candidate);
      // "proxy:3128" parses as scheme "proxy:" with no host; Go then tries http:// in front, and so do we.
      if (u.host !== '' && /^[a-z][a-z0-9+.-]*:$/.test(u.protocol)) return u;
    } catch {
      // try the next form
    }
  }
  warnings.push(`${name}: "${redact(value)}" is not a proxy URL; ignored`);
  return undefined;
}

/** A proxy value for a log line: without its password. */
function redact(value: string): string {
  return value.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** The 16 bytes of an IP literal (IPv4 as ::ffff:a.b.c.d, as Go stores it), or undefined for a name. */
export function ipBytes(literal: string): Uint8Array | undefined {
  const s = literal.replace(/^\[|\]$/g, '');
  const family = isIP(s);
  if (family === 0) return undefined;
  const out = new Uint8Array(16);
  if (family === 4) {
    out[10] = 0xff;
    out[11] = 0xff;
    s.split('.').forEach((o, i) => (out[12 + i] = Number(o)));
    return out;
  }
  let text = s.replace(/%.*$/, '');
  // A trailing dotted IPv4 part becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const b = v4[1].split('.').map(Number);
    text =
      text.slice(0, -v4[1].length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function isV4(ip: Uint8Array): boolean {
  return ip.slice(0, 12).every((b, i) => b === (i >= 10 ? 0xff : 0));
}

function isLoopback(ip: Uint8Array): boolean {
  if (isV4(ip)) return ip[12] === 127;
  return ip.slice(0, 15).every((b) => b === 0) && ip[15] === 1;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const allMatch: Matcher = { match: () => true };

function cidrMatch(text: string): Matcher | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(text);
  if (!m?.[1] || m[2] === undefined) return undefined;
  const base = ipBytes(m[1]);
  if (!base || m[1].startsWith('[')) return undefined;
  const v4 = isIP(m[1]) === 4;
  const prefix = Number(m[2]);
  if (prefix > (v4 ? 32 : 128)) return undefined;
  const bits = v4 ? prefix + 96 : prefix;
  return {
    match: (_host, _port, ip) => {
      if (!ip) return false;
      // Go: an IPv4 network holds only IPv4 (and v4-mapped) addresses, an IPv6 network only IPv6 ones.
      if (!v4 && isV4(ip)) return false;
      for (let i = 0; i < 128; i++) {
        if (i >= bits) return true;
        const mask = 0x80 >> (i % 8);
        if (((ip[i >> 3] ?? 0) & mask) !== ((base[i >> 3] ?? 0) & mask)) return false;
      }
      return true;
    },
  };
}

/** Go's SplitHostPort: "host:port" or "[v6]:port"; undefined when the text has no port part. */
function splitHostPort(text: string): { host: string; port: string } | undefined {
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':' || text.indexOf(':', end + 2) >= 0) return undefined;
    return { host: text.slice(1, end), port: text.slice(end + 2) };
  }
  const i = text.lastIndexOf(':');
  if (i < 0 || text.indexOf(':') !== i) return undefined; // no port, or a bare IPv6 address
  return { host: text.slice(0, i), port: text.slice(i + 1) };
}

function parseNoProxy(value: string): { ip: Matcher[]; domain: Matcher[] } {
  const ip: Matcher[] = [];
  const domain: Matcher[] = [];
  for (const raw of value.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (p === '*') return { ip: [allMatch], domain: [allMatch] };
    const cidr = cidrMatch(p);
    if (cidr) {
      ip.push(cidr);
      continue;
    }
    let phost = p;
    let pport = '';
    const hp = splitHostPort(p);
    if (hp) {
      if (hp.host === '') continue; // ":80" names no host: malformed, ignored (as Go does)
      phost = hp.host;
      pport = hp.port;
    }
    const literal = ipBytes(phost);
    if (literal) {
      ip.push({ match: (_h, port, addr) => !!addr && equalBytes(addr, literal) && (pport === '' || pport === port) });
      continue;
    }
    if (phost.startsWith('*.')) phost = phost.slice(1);
    const matchHost = !phost.startsWith('.');
    if (matchHost) phost = `.${phost}`;
    const ascii = domainToASCII(phost.slice(1));
    if (ascii) phost = `.${ascii}`;
    const suffix = phost;
    domain.push({
      match: (host, port) =>
        (host.endsWith(suffix) || (matchHost && host === suffix.slice(1))) && (pport === '' || pport === port),
    });
  }
  return { ip, domain };
}

/** Reads the proxy settings from an environment (process.env by default). */
export function proxyFromEnv(env: Env = process.env): ProxyConfig {
  const warnings: string[] = [];
  const httpProxy = parseProxy(getEnvAny(env, 'HTTP_PROXY', 'http_proxy'), 'HTTP_PROXY', warnings);
  const httpsProxy = parseProxy(getEnvAny(env, 'HTTPS_PROXY', 'https_proxy'), 'HTTPS_PROXY', warnings);
  const noProxy = parseNoProxy(getEnvAny(env, 'NO_PROXY', 'no_proxy'));
  return {
    httpProxy,
    httpsProxy,
    cgi: !!env.REQUEST_METHOD,
    ipMatchers: noProxy.ip,
    domainMatchers: noProxy.domain,
    warnings,
  };
}

/** Go's useProxy: false for loopback and for hosts NO_PROXY names. `hostname` as in URL.hostname. */
export function useProxy(cfg: ProxyConfig, hostname: string, port: string): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .trim()
    .toLowerCase();
  if (host === 'localhost') return false;
  const ip = ipBytes(host);
  if (ip && isLoopback(ip)) return false;
  if (ip && cfg.ipMatchers.some((m) => m.match(host, port, ip))) return false;
  return !cfg.domainMatchers.some((m) => m.match(host, port, ip));
}

/** The proxy for a request URL, or undefined to connect directly. */
export function proxyFor(cfg: ProxyConfig, target: URL): URL | undefined {
  let proxy: URL | undefined;
  if (target.protocol === 'https:') proxy = cfg.httpsProxy;
  else if (target.protocol === 'http:') {
    proxy = cfg.httpProxy;
    if (proxy && cfg.cgi) {
      throw new FailedPreconditionError('refusing to use HTTP_PROXY in a CGI environment (REQUEST_METHOD is set)');
    }
  }
  if (!proxy) return undefined;
  if (!useProxy(cfg, target.hostname, target.port || (DEFAULT_PORT[target.protocol] ?? ''))) return undefined;
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') {
    throw new FailedPreconditionError(
      `proxy ${proxy.protocol}//${proxy.host} for ${target.host}: only http:// and https:// proxies are supported`,
    );
  }
  return proxy;
}

/** The Proxy-Authorization header for a proxy URL with user:password, else undefined. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
}

/** A proxy for logs and errors: scheme, host and port, never its credentials. */
export function describeProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}
