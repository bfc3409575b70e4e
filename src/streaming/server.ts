/**
 * crimux's one streaming server (issue #8): the URLs that CRI Exec, Attach and PortForward return, for every
 * backend. A URL is `<base>/<kind>/<token>`; the token is single-use and expires (tokens.ts). Unknown, used or
 * expired tokens get 404 and a token used under the wrong kind is spent (as with the kubelet's server); a
 * request that is not a proper upgrade gets a clean 4xx. Plain HTTP on 127.0.0.1 by default (the kubelet
 * proxies these URLs from the same node), TLS when a certificate is configured.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Backend, StreamOptions } from '../backends/backend';
import { errorMessage } from '../errors';
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import { splitHostPort } from '../metrics/http';
import { refuseResponse, refuseSocket } from './http-reply';
import { STREAM_KINDS, targetFields, type StreamKind, type StreamRequest } from './requests';
import { serveUpgrade } from './serve';
import { SessionTracker } from './sessions';
import { TokenCache } from './tokens';
import type { StreamingUrls } from './types';
import { WsAcceptor } from './ws/upgrade';
import { handleErrors } from '../util/streams';

export interface StreamingServerOptions {
  /** host:port; port 0 picks a free port. */
  readonly address: string;
  readonly tokenTtlSeconds: number;
  /** PEM certificate and key; both or neither. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly log: Logger;
  readonly metrics: Metrics;
  /** How long a client may take to open its streams after the upgrade (kubelet: 30 s). */
  readonly streamCreationTimeoutMs?: number;
  /** Connections without traffic this long are closed (kubelet: 4 h). */
  readonly idleTimeoutMs?: number;
}

export class StreamingServer implements StreamingUrls {
  private readonly tokens: TokenCache<StreamRequest>;
  private readonly tracker: SessionTracker;
  private readonly acceptor = new WsAcceptor();
  private readonly server: http.Server;
  private readonly pending = new Set<Promise<void>>();
  private base = '';

  constructor(private readonly opts: StreamingServerOptions) {
    this.tokens = new TokenCache({ ttlMs: opts.tokenTtlSeconds * 1000 });
    this.tracker = new SessionTracker(opts.metrics, opts.log);
    this.server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }) : http.createServer();
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
  }

  /** Start listening; resolves with the base URL (e.g. http://127.0.0.1:40123). */
  async listen(): Promise<string> {
    const { host, port } = splitHostPort(this.opts.address);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        // Once listening, an 'error' is an accept failure (EMFILE under fd pressure): log it, keep serving.
        this.server.on('error', (err: Error) => this.opts.log.warn('streaming server error', { error: err.message }));
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    // A wildcard bind still needs a dialable URL: the kubelet dials it from this node.
    const shown = a.address === '0.0.0.0' ? '127.0.0.1' : a.address === '::' ? '::1' : a.address;
    this.base = `${this.opts.tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${a.port}`;
    this.opts.log.info('streaming server listening', { url: this.base, tls: Boolean(this.opts.tls) });
    return this.base;
  }

  get baseUrl(): string {
    return this.base;
  }

  /** Live sessions (for tests and status). */
  get sessions(): number {
    return this.tracker.size;
  }

  exec(t: { backend: Backend; containerId: string; cmd: string[]; opts: StreamOptions }): string {
    return this.issue({
      kind: 'exec',
      backend: t.backend,
      containerId: t.containerId,
      cmd: [...t.cmd],
      opts: { ...t.opts },
    });
  }

  attach(t: { backend: Backend; containerId: string; opts: StreamOptions }): string {
    return this.issue({ kind: 'attach', backend: t.backend, containerId: t.containerId, opts: { ...t.opts } });
  }

  portForward(t: { backend: Backend; sandboxId: string; ports: number[] }): string {
    return this.issue({ kind: 'portforward', backend: t.backend, sandboxId: t.sandboxId, ports: [...t.ports] });
  }

  /** Stop accepting, end every live session (killing exec'd processes), wait for them (bounded). */
  async close(graceMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.tracker.stopAll();
    this.tokens.clear();
    this.acceptor.close();
    this.server.closeAllConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([closed, ...this.pending]),
      new Promise((r) => (timer = setTimeout(r, graceMs))),
    ]);
    clearTimeout(timer);
  }

  private issue(req: StreamRequest): string {
    if (!this.base) throw new Error('streaming server is not listening yet');
    const token = this.tokens.issue(req);
    this.opts.log.debug('streaming URL issued', targetFields(req));
    return `${this.base}/${req.kind}/${token}`;
  }

  /** Resolves the request of a URL path, spending its token; undefined (after logging why) when refused. */
  private take(url: string | undefined, remote: string | undefined): StreamRequest | undefined {
    // The request target is the client's: an absolute-form one such as `http://[` makes the URL parser throw, and
    // a throw here escapes the HTTP parser's callback as an uncaught exception (which ends the daemon).
    let path: string;
    try {
      path = new URL(url ?? '/', 'http://streaming.invalid').pathname;
    } catch {
      this.opts.log.info('streaming request refused: unparsable request target', { remote });
      return undefined;
    }
    const m = /^\/([a-z]+)\/([A-Za-z0-9_-]+)\/?$/.exec(path);
    const kind = m?.[1] as StreamKind | undefined;
    if (!m || !kind || !STREAM_KINDS.includes(kind) || !m[2]) {
      this.opts.log.info('streaming request refused: unknown path', { remote });
      return undefined;
    }
    const req = this.tokens.consume(m[2]);
    if (!req || req.kind !== kind) {
      this.opts.log.info('streaming URL refused: unknown, used or expired token', { kind, remote });
      return undefined;
    }
    return req;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const r = this.take(req.url, req.socket.remoteAddress);
    if (!r) return refuseResponse(res, 404, 'not found');
    this.opts.log.info('streaming URL used without an upgrade', {
      ...targetFields(r),
      remote: req.socket.remoteAddress,
    });
    refuseResponse(res, 400, 'unable to upgrade: missing upgrade headers in request');
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node hands the socket over without an error listener; one reset peer must not take the daemon down.
    handleErrors(socket, 'streaming connection', this.opts.log);
    const r = this.take(req.url, req.socket.remoteAddress);
    if (!r) return refuseSocket(socket, 404, 'not found');
    const p = serveUpgrade(r, req, socket, head, {
      tracker: this.tracker,
      acceptor: this.acceptor,
      streamCreationTimeoutMs: this.opts.streamCreationTimeoutMs ?? 30_000,
      idleTimeoutMs: this.opts.idleTimeoutMs ?? 4 * 3600_000,
    })
      .catch((err: unknown) => {
        this.opts.log.error('streaming session failed', { ...targetFields(r), error: errorMessage(err) });
        socket.destroy();
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}
