/**
 * The composition root: state → shared images → backends → router → CRI server → metrics. Also the daemon's
 * lifecycle: RPCs are refused (UNAVAILABLE) until start-up reconcile has finished; reload swaps the routing
 * table (SIGHUP); stop drains the gRPC server and closes backends without touching containers.
 */
import path from 'node:path';
import type { Backend, CallContext } from './backends/backend';
import { backendFactory } from './backends/all';
import { createBackendHost } from './backends/default-host';
import { handlersByBackend } from './backends/registry';
import type { Config } from './config/types';
import { CriServer } from './cri/server';
import { imageService } from './cri/image-service';
import { runtimeService } from './cri/runtime-service';
import type { RpcEnv } from './cri/instrument';
import { OciImageStore } from './images/store';
import type { Logger } from './log/logger';
import { Metrics } from './metrics/metrics';
import { MetricsServer } from './metrics/http';
import { RouterCore } from './router/core';
import { reportingUnavailable } from './router/health-monitor';
import { Router, routingFromConfig } from './router/router';
import { reconcile } from './router/reconcile';
import { ExitWatcher } from './router/exit-watcher';
import { protectedHostPaths } from './router/mount-sources';
import { securePrivateDirs } from './state/private-dirs';
import { stopSpawnHelper, useSpawnHelper } from './host/spawner';
import { SqliteOwnershipStore } from './state/sqlite-store';
import { startStreamingServer, type StreamingServer } from './streaming';
import { errorMessage } from './errors';
import { VERSION } from './version';
import { notifySystemd } from './host/sd-notify';
import { cgroupDriverOf, runtimeConfigInfo } from './config/info';

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Logger;
}

export class Daemon {
  private reconciled = false;
  private cri?: CriServer;
  private metricsServer?: MetricsServer;
  private exitWatcher?: ExitWatcher;
  /** Serves the Exec/Attach/PortForward URLs (issue #8); set before the CRI server listens. */
  private streaming?: StreamingServer;
  metricsAddress = '';

  private constructor(
    private config: Config,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly store: SqliteOwnershipStore,
    readonly backends: ReadonlyMap<string, Backend>,
    readonly router: Router,
    private readonly images: OciImageStore,
    private readonly shutdown: AbortController,
  ) {}

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config, log } = opts;
    const metrics = new Metrics();
    securePrivateDirs({ stateDir: config.stateDir, runDir: config.runDir });
    if (config.spawnHelper !== '') {
      const onLost = (why: string): void =>
        log.error('spawn helper lost; host commands are forked by the daemon', { why });
      if (!(await useSpawnHelper(config.spawnHelper, config.runDir, onLost))) {
        log.warn('spawn helper missing or not starting; host commands are forked by the daemon', {
          path: config.spawnHelper,
        });
      }
    }
    const store = new SqliteOwnershipStore({ dir: config.stateDir, durability: config.stateDurability });
    const images = new OciImageStore({
      root: path.join(config.stateDir, 'images'),
      registries: config.images.registries,
      pullTimeoutSeconds: config.images.pullTimeoutSeconds,
      maxConcurrentDownloads: config.images.maxConcurrentDownloads,
      unpackHelper: config.images.unpackHelper,
      limits: config.images.limits,
      sandboxImage: config.images.sandboxImage,
      platform: config.images.platform,
      log: log.child({ component: 'images' }),
      metrics,
    });
    await images.start();
    const ctx: CallContext = { signal: AbortSignal.timeout(120_000), log };
    const backends = new Map<string, Backend>();
    const host = createBackendHost();
    for (const [kind, handlers] of handlersByBackend(config)) {
      const backend = backendFactory(kind)({
        config,
        handlers,
        log: log.child({ backend: kind }),
        stateDir: path.join(config.stateDir, 'backends', kind),
        runDir: path.join(config.runDir, kind),
        sharedImages: images,
        metrics,
        host,
      });
      await backend.start({ signal: ctx.signal, log: log.child({ backend: kind }) });
      backends.set(backend.name, backend);
      log.info('backend started', { backend: backend.name, handlers: handlers.map((h) => h.name).join(',') });
    }
    const streaming = await startStreamingServer(config.streaming, {
      log: log.child({ component: 'streaming' }),
      metrics,
    });
    const { table, handlers } = routingFromConfig(config, backends);
    const shutdown = new AbortController();
    // The router's view of each backend reports Unavailable failures so the health monitor re-probes at once.
    let router: Router | undefined;
    const routed = new Map([...backends].map(([k, b]) => [k, reportingUnavailable(b, () => router?.status.monitor)]));
    const daemon = new Daemon(
      config,
      log,
      metrics,
      store,
      backends,
      (router = new Router(
        new RouterCore(
          store,
          routed,
          metrics,
          log,
          table,
          handlers,
          {
            listTimeoutMs: config.lists.backendTimeoutMs,
            keepLists: config.lists.refreshIntervalMs > 0,
            statsCacheMs: config.lists.statsCacheMs,
            createTimeoutMs: 4 * 60_000,
            undoTimeoutMs: 60_000,
            validation: { logRoot: config.security.logRoot, mountSourceDenyList: protectedHostPaths(config) },
            podNetwork: host.podNetwork(config, log),
          },
          shutdown.signal,
        ),
      )),
      images,
      shutdown,
    );
    daemon.streaming = streaming;
    await daemon.serve();
    return daemon;
  }

  private rpcEnv(): RpcEnv {
    const core = this.router.core;
    return {
      log: this.log,
      metrics: this.metrics,
      ready: () => this.reconciled,
      backendOf: (req, res) => {
        const r = (req ?? {}) as { container_id?: string; pod_sandbox_id?: string };
        const out = (res ?? {}) as { pod_sandbox_id?: string };
        if (r.container_id) return core.findContainer(r.container_id)?.backend ?? 'none';
        const sandbox = r.pod_sandbox_id || out.pod_sandbox_id;
        if (sandbox) return core.findSandbox(sandbox)?.backend ?? 'none';
        return 'none';
      },
    };
  }

  private async serve(): Promise<void> {
    const env = this.rpcEnv();
    this.cri = new CriServer(
      {
        socketPath: this.config.socket.path,
        socketGroup: this.config.socket.group,
        maxMessageBytes: this.config.socket.maxMessageBytes,
        transport: this.config.server.transport,
        log: this.log,
      },
      runtimeService(
        env,
        this.router,
        () => this.streaming,
        () => runtimeConfigInfo(this.config),
        () => cgroupDriverOf(this.config),
      ),
      imageService(env, this.router),
    );
    // Listen first so clients get a clear UNAVAILABLE (not a refused connection) while reconcile runs.
    await this.cri.listen();
    if (this.config.metrics.address) {
      this.metricsServer = new MetricsServer(
        this.metrics,
        {
          ready: () => this.reconciled,
          backendsReady: async () => {
            const h = await this.router.status.health({ signal: AbortSignal.timeout(5000), log: this.log });
            return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.ready]));
          },
        },
        this.log,
      );
      this.metricsAddress = await this.metricsServer.listen(this.config.metrics.address);
    }
    const report = await reconcile(
      this.store,
      [...this.backends.values()],
      this.metrics,
      { signal: AbortSignal.timeout(300_000), log: this.log.child({ component: 'reconcile' }) },
      (backend) => [...this.router.core.handlers.values()].find((h) => h.backend === backend)?.name ?? backend,
    );
    this.log.info('reconcile finished', { repairs: report.repairs.length, skipped: report.skipped.join(',') });
    // Health from here on comes from background probes; the first round finishes before the first RPC.
    // 0 keeps the old per-call probing (a fallback, and the baseline of bench/status.ts).
    if (this.config.lists.healthProbeIntervalMs > 0)
      this.router.status.monitor.start(this.config.lists.healthProbeIntervalMs);
    await this.router.status.health({ signal: AbortSignal.timeout(10_000), log: this.log });
    // Also the change feed of the kept lists (issue #21): relists every backend each interval, subscribers or not.
    const refreshMs = this.config.lists.refreshIntervalMs;
    this.exitWatcher = new ExitWatcher(
      this.router.core.events,
      () => [...this.router.core.backends.values()],
      this.log,
      refreshMs > 0 ? refreshMs : 1000,
      refreshMs > 0 ? this.router.core.views : undefined,
    );
    this.exitWatcher.start();
    this.reconciled = true;
    this.log.info('crimux ready', { version: VERSION, socket: this.config.socket.path });
    await notifySystemd('ready', this.log);
  }

  /** SIGHUP: new handler table and routing rules for new pods; backends and existing pods are untouched. */
  reload(config: Config): void {
    const added = Object.entries(config.handlers).filter(
      ([, h]) => !this.backends.has(h.backend) && config.backends[h.backend]?.enabled,
    );
    if (added.length) {
      this.log.warn('reload: handlers for backends not started at boot stay disabled until restart', {
        handlers: added.map(([n]) => n).join(','),
      });
    }
    this.router.reload(config);
    this.config = config;
    this.log.info('configuration reloaded', {
      handlers: Object.keys(config.handlers).join(','),
      default: config.defaultHandler,
    });
  }

  async stop(graceMs = 10_000): Promise<void> {
    this.log.info('shutting down');
    await notifySystemd('stopping', this.log);
    this.shutdown.abort();
    this.exitWatcher?.stop();
    this.router.status.monitor.stop();
    await this.cri?.drain(graceMs);
    await this.metricsServer?.close();
    // Before the backends: ending live sessions kills exec'd processes through the backends.
    await this.streaming?.close();
    for (const b of this.backends.values()) {
      try {
        await b.close();
      } catch (err) {
        this.log.warn('backend close failed', { backend: b.name, error: errorMessage(err) });
      }
    }
    this.store.close();
    await stopSpawnHelper();
    this.log.info('stopped');
  }
}
