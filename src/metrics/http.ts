/**
 * The HTTP listener for Prometheus and probes: /metrics (the explicit registry), /healthz (the process is up),
 * /readyz (reconcile finished and at least one backend is ready). Nothing here exposes configuration or secrets.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger';
import type { Metrics } from './metrics';

export interface ProbeSource {
  /** Reconcile finished and RPCs are served. */
  ready(): boolean;
  /** Per backend: ready or not. */
  backendsReady(): Promise<Record<string, boolean>>;
}

export class MetricsServer {
  private server?: http.Server;

  constructor(
    private readonly metrics: Metrics,
    private readonly probes: ProbeSource,
    private readonly log: Logger,
  ) {}

  async listen(address: string): Promise<string> {
    const { host, port } = splitHostPort(address);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error('metrics request failed', { error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        // Once listening, an 'error' is an accept failure (EMFILE under fd pressure): log it, keep serving. Without
        // a listener the second such error would be thrown and end the daemon.
        server.on('error', (err: Error) => this.log.warn('metrics server error', { error: err.message }));
        resolve();
      });
    });
    const a = server.address() as AddressInfo;
    const bound = `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
    this.log.info('metrics listening', { address: bound });
    return bound;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    switch (url.pathname) {
      case '/metrics': {
        const body = await this.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(body);
        return;
      }
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const backends = await this.probes.backendsReady();
        const ok = this.probes.ready() && Object.values(backends).some(Boolean);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ready: ok, reconciled: this.probes.ready(), backends }) + '\n');
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
  }
}

export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`metrics.address: "${address}" is not host:port`);
  return { host: m[1] ?? '', port: Number(m[2]) };
}
