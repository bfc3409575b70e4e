/**
 * The rkt backend: the CRI, translated to one pod-manager operation per call (rktlet's design), over a real rkt
 * or the built-in systemd-nspawn stage1. This class only wires; each RPC group lives in its own file.
 *
 * Start-up (recovery): the backend keeps no state in memory. The stage1 finishes removals a crash interrupted,
 * then records left in "creating" (a create cut short) are rolled back here; everything else is read from disk on
 * every call, so pods and apps that ran on — or exited — while crimux was down are simply reported as they are.
 */
import type { Duplex } from 'node:stream';
import { FailedPreconditionError, NotFoundError, UnavailableError, errorMessage } from '../../errors';
import { reopenLog } from '../../host/conmon';
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
import type { BackendDeps } from '../registry';
import type { ImageStore } from '../../images/types';
import { attach } from './attach';
import * as containers from './containers';
import type { RktShared } from './context';
import { openRktShared } from './open';
import { portForward } from './portforward';
import * as sandboxes from './sandboxes';
import * as stats from './stats';
import * as streams from './streams';

/** What the router may send here (it checks pods and containers against these: src/router/select.ts). */
export const RKT_CAPABILITIES: BackendCapabilities = {
  hostNetwork: true,
  hostPid: false,
  hostIpc: false,
  privileged: false,
  targetPidNamespace: false,
  recursiveReadOnlyMounts: false,
  userNamespaces: false,
};

export class RktBackend extends BaseBackend {
  readonly kind = 'rkt' as const;
  readonly capabilities = RKT_CAPABILITIES;
  readonly images: ImageStore;
  private shared?: RktShared;
  private startError?: unknown;

  constructor(
    readonly name: string,
    private readonly deps: BackendDeps,
    images: ImageStore,
  ) {
    super();
    this.images = images;
  }

  /** The pod manager, for the real-rkt image store (which exists before start()). */
  podManager(): RktShared['pm'] {
    return this.s.pm;
  }

  private get s(): RktShared {
    if (this.shared) return this.shared;
    throw new UnavailableError(
      `rkt backend ${this.name}: not started${this.startError ? `: ${errorMessage(this.startError)}` : ''}`,
    );
  }

  async start(ctx: CallContext): Promise<void> {
    try {
      this.shared = await openRktShared(this.deps, ctx);
      this.startError = undefined;
    } catch (err) {
      // Must not fail because the runtime is down: health() reports it, calls get UNAVAILABLE.
      this.startError = err;
      ctx.log.error('rkt backend could not start', { error: err });
      return;
    }
    await this.rollBackCreates(ctx);
  }

  private async rollBackCreates(ctx: CallContext): Promise<void> {
    const s = this.s;
    for (const c of await s.index.containers()) {
      if (c.state !== 'creating') continue;
      ctx.log.info('rolling back a container create cut short', { container: c.id });
      await containers
        .removeContainer(s, ctx, c.id)
        .catch((err: unknown) => ctx.log.warn('roll back container', { container: c.id, error: err }));
    }
    for (const sb of await s.index.sandboxes()) {
      if (sb.state !== 'creating') continue;
      ctx.log.info('rolling back a pod sandbox create cut short', { sandbox: sb.id });
      await sandboxes
        .removePodSandbox(s, ctx, sb.id)
        .catch((err: unknown) => ctx.log.warn('roll back sandbox', { sandbox: sb.id, error: err }));
    }
  }

  async health(ctx: CallContext): Promise<BackendHealth> {
    if (!this.shared) {
      return {
        ready: false,
        networkReady: false,
        reason: 'RktBackendNotStarted',
        message: errorMessage(this.startError ?? 'not started'),
      };
    }
    try {
      await this.shared.pm.info(ctx.signal);
    } catch (err) {
      return { ready: false, networkReady: false, reason: 'RktUnavailable', message: errorMessage(err) };
    }
    if (!this.shared.network) return { ready: true, networkReady: true };
    const net = await this.shared.network.status();
    return { ready: true, networkReady: net.ready, reason: net.ready ? undefined : net.reason, message: net.message };
  }

  async close(): Promise<void> {
    // Pods and apps run on without crimux (nspawn and conmon are detached), exactly as with rkt.
  }

  runPodSandbox(ctx: CallContext, req: RunSandboxRequest): Promise<void> {
    return sandboxes.runPodSandbox(this.s, ctx, req);
  }
  stopPodSandbox(ctx: CallContext, id: string): Promise<void> {
    return sandboxes.stopPodSandbox(this.s, ctx, id);
  }
  removePodSandbox(ctx: CallContext, id: string): Promise<void> {
    return sandboxes.removePodSandbox(this.s, ctx, id);
  }
  podSandboxStatus(ctx: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult> {
    return sandboxes.podSandboxStatus(this.s, ctx, id, verbose);
  }
  listPodSandboxes(ctx: CallContext): Promise<SandboxFacts[]> {
    return sandboxes.listPodSandboxes(this.s, ctx);
  }

  createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<void> {
    return containers.createContainer(this.s, ctx, req);
  }
  startContainer(ctx: CallContext, id: string): Promise<void> {
    return containers.startContainer(this.s, ctx, id);
  }
  stopContainer(ctx: CallContext, id: string, timeoutSeconds: number): Promise<void> {
    return containers.stopContainer(this.s, ctx, id, timeoutSeconds);
  }
  removeContainer(ctx: CallContext, id: string): Promise<void> {
    return containers.removeContainer(this.s, ctx, id);
  }
  containerStatus(ctx: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult> {
    return containers.containerStatus(this.s, ctx, id, verbose);
  }
  listContainers(ctx: CallContext): Promise<ContainerFacts[]> {
    return containers.listContainers(this.s, ctx);
  }

  override execSync(ctx: CallContext, id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    return streams.execSync(this.s, ctx, id, cmd, timeoutSeconds);
  }
  override exec(ctx: CallContext, id: string, cmd: string[], opts: StreamOptions): Promise<ProcessStreams> {
    return streams.exec(this.s, ctx, id, cmd, opts);
  }
  override attach(ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
    return attach(this.s, ctx, id, opts);
  }
  override portForward(ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
    return portForward(this.s, ctx, sandboxId, port);
  }
  override async reopenContainerLog(_cc: CallContext, id: string): Promise<void> {
    const ctx = this.s;
    if (!ctx.stage1) this.unimplemented('ReopenContainerLog');
    const rec = await ctx.index.getContainer(id);
    if (!rec) throw new NotFoundError(`reopen container log ${id}: container not found`);
    const h = await ctx.stage1.appHandle(rec.uuid, rec.app);
    if (!h.running) throw new FailedPreconditionError(`reopen container log ${id}: container is not running`);
    await reopenLog(`${h.infoDir}/bundle`, rec.logPath || undefined);
  }
  override containerUsage(ctx: CallContext, id: string): Promise<ContainerUsage> {
    return stats.containerUsage(this.s, ctx, id);
  }
  override listContainerUsage(ctx: CallContext): Promise<ContainerUsage[]> {
    return stats.listContainerUsage(this.s, ctx);
  }
  override podSandboxUsage(ctx: CallContext, id: string): Promise<SandboxUsage> {
    return stats.podSandboxUsage(this.s, ctx, id);
  }
  override listPodSandboxUsage(ctx: CallContext): Promise<SandboxUsage[]> {
    return stats.listPodSandboxUsage(this.s, ctx);
  }
}
