/**
 * The docker backend: pods as pause containers in Docker Engine, containers joining their namespaces
 * (dockershim / cri-dockerd style), Docker's own image store, CRI logs copied out of Docker.
 *
 * Recovery: Docker is the only store (names + labels, see naming.ts/records.ts), the CNI result cache and the log
 * positions are on disk. After a crimux restart, statuses come straight from Docker and log copiers resume; while
 * dockerd is down, health says DockerDaemonUnavailable and calls fail UNAVAILABLE; when it is back, nothing needs
 * a manual step (copiers retry on their own, and unresumed copiers are resumed by the recovery tick).
 */
import fs from 'node:fs/promises';
import type {
  BackendCapabilities,
  BackendHealth,
  CallContext,
  ContainerFacts,
  ContainerStatusResult,
  SandboxFacts,
  ContainerUsage,
  SandboxUsage,
  CreateContainerRequest,
  ExecSyncResult,
  ProcessStreams,
  RunSandboxRequest,
  SandboxStatusResult,
  StreamOptions,
} from '../backend';
import { BaseBackend } from '../base';
import type * as cri from '../../cri/types';
import type { Logger } from '../../log/logger';
import { errorMessage } from '../../errors';
import type { DockerShared } from './context';
import type { DockerImageStore } from './images';
import { SandboxOps } from './sandboxes';
import { ContainerOps } from './containers';
import { StatsOps } from './stats';
import { PodStatsOps } from './pod-stats';
import { execSync } from './exec';
import { attach, exec } from './streams';
import { portForward } from './portforward';
import type { Duplex } from 'node:stream';
import { selector } from './naming';

const RECOVERY_TICK_MS = 5000;
const PING_TIMEOUT_MS = 3000;

/** What the router may send here (it checks pods and containers against these: src/router/select.ts). */
export const DOCKER_CAPABILITIES: BackendCapabilities = {
  hostNetwork: true,
  hostPid: true,
  hostIpc: true,
  privileged: true,
  targetPidNamespace: true,
  recursiveReadOnlyMounts: false,
  userNamespaces: false,
};

export class DockerBackend extends BaseBackend {
  readonly name = 'docker';
  readonly kind = 'docker' as const;
  readonly capabilities = DOCKER_CAPABILITIES;
  readonly images: DockerImageStore;
  private readonly sandboxes: SandboxOps;
  private readonly containers: ContainerOps;
  private readonly statsOps: StatsOps;
  private readonly podStats: PodStatsOps;
  private resumed = false;
  private resuming?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly s: DockerShared,
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {
    super();
    this.images = s.images;
    this.sandboxes = new SandboxOps(s);
    this.containers = new ContainerOps(s);
    this.statsOps = new StatsOps(s);
    this.podStats = new PodStatsOps(s, this.statsOps);
  }

  async start(ctx: CallContext): Promise<void> {
    await fs.mkdir(this.stateDir, { recursive: true });
    await this.maybeResume(ctx.log);
    this.timer = setInterval(() => void this.maybeResume(this.log), RECOVERY_TICK_MS);
    this.timer.unref();
  }

  async health(ctx: CallContext): Promise<BackendHealth> {
    try {
      await this.s.engine.ping(AbortSignal.any([ctx.signal, AbortSignal.timeout(PING_TIMEOUT_MS)]));
    } catch (err) {
      this.resumed = false;
      return {
        ready: false,
        networkReady: false,
        reason: 'DockerDaemonUnavailable',
        message: `docker daemon at ${this.s.docker.socket}: ${errorMessage(err)}`,
      };
    }
    void this.maybeResume(ctx.log);
    const net = await this.s.network.status();
    return net.ready
      ? { ready: true, networkReady: true }
      : { ready: true, networkReady: false, reason: net.reason, message: net.message };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.resuming?.catch(() => undefined);
    await this.s.copiers.close();
  }

  /** Resumes log copying for every crimux container, once per dockerd availability; never throws. */
  private maybeResume(log: Logger): Promise<void> {
    if (this.resumed) return Promise.resolve();
    this.resuming ??= this.resumeCopiers(log)
      .then(() => {
        this.resumed = true;
      })
      .catch((err: unknown) => log.debug('resume log copiers deferred', { error: errorMessage(err) }))
      .finally(() => {
        this.resuming = undefined;
      });
    return this.resuming;
  }

  private async resumeCopiers(log: Logger): Promise<void> {
    const signal = AbortSignal.timeout(60_000);
    await this.s.engine.ping(signal);
    const all = await this.s.engine.listContainers(selector('container'), signal);
    for (const summary of all) {
      const c = await this.s.engine.inspectContainer(summary.Id, { signal }).catch(() => undefined);
      if (c) await this.containers.follow(c, c.State.Running);
    }
    log.info('docker log copiers resumed', { containers: all.length });
  }

  runPodSandbox(ctx: CallContext, req: RunSandboxRequest): Promise<void> {
    return this.sandboxes.run(ctx, req);
  }
  stopPodSandbox(ctx: CallContext, id: string): Promise<void> {
    return this.sandboxes.stop(ctx, id);
  }
  removePodSandbox(ctx: CallContext, id: string): Promise<void> {
    return this.sandboxes.remove(ctx, id);
  }
  podSandboxStatus(ctx: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult> {
    return this.sandboxes.status(ctx, id, verbose);
  }
  listPodSandboxes(ctx: CallContext): Promise<SandboxFacts[]> {
    return this.sandboxes.list(ctx);
  }

  createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<void> {
    return this.containers.create(ctx, req);
  }
  startContainer(ctx: CallContext, id: string): Promise<void> {
    return this.containers.start(ctx, id);
  }
  stopContainer(ctx: CallContext, id: string, timeoutSeconds: number): Promise<void> {
    return this.containers.stop(ctx, id, timeoutSeconds);
  }
  removeContainer(ctx: CallContext, id: string): Promise<void> {
    return this.containers.remove(ctx, id);
  }
  containerStatus(ctx: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult> {
    return this.containers.status(ctx, id, verbose);
  }
  listContainers(ctx: CallContext): Promise<ContainerFacts[]> {
    return this.containers.list(ctx);
  }

  override updateContainerResources(ctx: CallContext, id: string, r: cri.ContainerResources): Promise<void> {
    return this.containers.updateResources(ctx, id, r);
  }
  override reopenContainerLog(ctx: CallContext, id: string): Promise<void> {
    return this.containers.reopenLog(ctx, id);
  }
  override execSync(ctx: CallContext, id: string, cmd: string[], timeout: number): Promise<ExecSyncResult> {
    return execSync(this.s, ctx, id, cmd, timeout);
  }
  override exec(ctx: CallContext, id: string, cmd: string[], opts: StreamOptions): Promise<ProcessStreams> {
    return exec(this.s, ctx, id, cmd, opts);
  }
  override attach(ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
    return attach(this.s, ctx, id, opts);
  }
  override portForward(ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
    return portForward(this.s, ctx, sandboxId, port);
  }
  override containerUsage(ctx: CallContext, id: string): Promise<ContainerUsage> {
    return this.statsOps.container(ctx, id);
  }
  override listContainerUsage(ctx: CallContext): Promise<ContainerUsage[]> {
    return this.statsOps.list(ctx);
  }
  override podSandboxUsage(ctx: CallContext, id: string): Promise<SandboxUsage> {
    return this.podStats.sandbox(ctx, id);
  }
  override listPodSandboxUsage(ctx: CallContext): Promise<SandboxUsage[]> {
    return this.podStats.list(ctx);
  }
}
