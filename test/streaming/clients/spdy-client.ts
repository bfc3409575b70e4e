/**
 * A SPDY/3.1 streaming client for tests, built like client-go's: an HTTP/1.1 request with `Upgrade: SPDY/3.1`
 * and X-Stream-Protocol-Version headers, then a client-role SpdySession on the upgraded socket. It compresses
 * its header blocks with real zlib + the SPDY dictionary (as Go does), so the server's inflater is exercised.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import { SpdySession } from '../../../src/streaming/spdy/session';

export interface UpgradeResult {
  /** Set when the server answered 101. */
  session?: SpdySession;
  protocol?: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface UpgradeOptions {
  protocols: readonly string[];
  method?: string;
  /** Replace the default upgrade headers (to send malformed upgrades). */
  headers?: Record<string, string | string[]>;
  timeoutMs?: number;
}

export function spdyUpgrade(url: string, opts: UpgradeOptions): Promise<UpgradeResult> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const headers = opts.headers ?? {
    connection: 'Upgrade',
    upgrade: 'SPDY/3.1',
    'x-stream-protocol-version': [...opts.protocols],
  };
  return new Promise((resolve, reject) => {
    const req = mod.request(u, {
      method: opts.method ?? 'POST',
      headers,
      rejectUnauthorized: false,
      timeout: opts.timeoutMs ?? 10_000,
    });
    req.on('timeout', () => req.destroy(new Error('upgrade request timed out')));
    req.on('error', reject);
    req.on('upgrade', (res, socket: Socket, head) => {
      const session = new SpdySession(socket, { role: 'client', headerCompression: 'zlib' });
      if (head.length) socket.unshift(head);
      const protocol = res.headers['x-stream-protocol-version'];
      resolve({
        session,
        protocol: typeof protocol === 'string' ? protocol : undefined,
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: '',
      });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.end();
  });
}

/** Send raw bytes as an HTTP request and return the raw response (for malformed-request tests). */
export function rawRequest(url: string, text: string, timeoutMs = 5000): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(out);
    }, timeoutMs);
    sock.on('connect', () => sock.write(text));
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      if (out) resolve(out);
      else reject(err);
    });
  });
}
