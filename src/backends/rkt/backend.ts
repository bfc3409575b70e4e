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
  CreateContainerRequest,
  ExecSyncResult,
  ProcessStreams,
  RunSandboxRequest,
  RuntimeConfigUpdate,
  SandboxStatusResult,
  StreamOptions,
} from '../backend';
import { BaseBackend } from '../base';
import type { BackendDeps } from '../registry';
import type * as cri from '../../cri/types';
import type { ImageStore } from '../../images/types';
import { attach } from './attach';
import * as containers from './containers';
import type { RktShared } from './context';
import { openRktContext } from './open';
import { portForward } from './portforward';
import * as sandboxes from './sandboxes';
import * as stats from './stats';
import * as streams from './streams';

export class RktBackend extends BaseBackend {
  readonly kind = 'rkt' as const;
  readonly capabilities: BackendCapabilities = {
    hostNetwork: true,
    hostPid: false,
    hostIpc: false,
    privileged: false,
    recursiveReadOnlyMounts: false,
    userNamespaces: false,
  };
  readonly images: ImageStore;
  private ctx?: RktShared;
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
    return this.c().pm;
  }

  private c(): RktShared {
    if (this.ctx) return this.ctx;
    throw new UnavailableError(
      `rkt backend ${this.name}: not started${this.startError ? `: ${errorMessage(this.startError)}` : ''}`,
    );
  }

  /**
   * The pod CIDR reaches host-local through the ipRanges capability of the next CNI ADD. Only the built-in stage1
   * runs CNI from crimux (a real rkt runs it itself), and an rkt that failed to start has no pods to network.
   */
  override async updateRuntimeConfig(_ctx: CallContext, update: RuntimeConfigUpdate): Promise<void> {
    this.ctx?.network?.updatePodCidr(update.podCidr);
  }

  async start(cc: CallContext): Promise<void> {
    try {
      this.ctx = await openRktContext(this.deps, cc);
      this.startError = undefined;
    } catch (err) {
      // Must not fail because the runtime is down: health() reports it, calls get UNAVAILABLE.
      this.startError = err;
      cc.log.error('rkt backend could not start', { error: err });
      return;
    }
    await this.rollBackCreates(cc);
  }

  private async rollBackCreates(cc: CallContext): Promise<void> {
    const ctx = this.c();
    for (const c of await ctx.index.containers()) {
      if (c.state !== 'creating') continue;
      cc.log.info('rolling back a container create cut short', { container: c.id });
      await containers
        .removeContainer(ctx, cc, c.id)
        .catch((err: unknown) => cc.log.warn('roll back container', { container: c.id, error: err }));
    }
    for (const s of await ctx.index.sandboxes()) {
      if (s.state !== 'creating') continue;
      cc.log.info('rolling back a pod sandbox create cut short', { sandbox: s.id });
      await sandboxes
        .removePodSandbox(ctx, cc, s.id)
        .catch((err: unknown) => cc.log.warn('roll back sandbox', { sandbox: s.id, error: err }));
    }
  }

  async health(cc: CallContext): Promise<BackendHealth> {
    if (!this.ctx) {
      return {
        ready: false,
        networkReady: false,
        reason: 'RktBackendNotStarted',
        message: errorMessage(this.startError ?? 'not started'),
      };
    }
    try {
      await this.ctx.pm.info(cc.signal);
    } catch (err) {
      return { ready: false, networkReady: false, reason: 'RktUnavailable', message: errorMessage(err) };
    }
    if (!this.ctx.network) return { ready: true, networkReady: true };
    const net = await this.ctx.network.status();
    return { ready: true, networkReady: net.ready, reason: net.ready ? undefined : net.reason, message: net.message };
  }

  async close(): Promise<void> {
    // Pods and apps run on without crimux (nspawn and conmon are detached), exactly as with rkt.
  }

  runPodSandbox(cc: CallContext, req: RunSandboxRequest): Promise<void> {
    return sandboxes.runPodSandbox(this.c(), cc, req);
  }
  stopPodSandbox(cc: CallContext, id: string): Promise<void> {
    return sandboxes.stopPodSandbox(this.c(), cc, id);
  }
  removePodSandbox(cc: CallContext, id: string): Promise<void> {
    return sandboxes.removePodSandbox(this.c(), cc, id);
  }
  podSandboxStatus(cc: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult> {
    return sandboxes.podSandboxStatus(this.c(), cc, id, verbose);
  }
  listPodSandboxes(cc: CallContext): Promise<SandboxFacts[]> {
    return sandboxes.listPodSandboxes(this.c(), cc);
  }

  createContainer(cc: CallContext, req: CreateContainerRequest): Promise<void> {
    return containers.createContainer(this.c(), cc, req);
  }
  startContainer(cc: CallContext, id: string): Promise<void> {
    return containers.startContainer(this.c(), cc, id);
  }
  stopContainer(cc: CallContext, id: string, timeoutSeconds: number): Promise<void> {
    return containers.stopContainer(this.c(), cc, id, timeoutSeconds);
  }
  removeContainer(cc: CallContext, id: string): Promise<void> {
    return containers.removeContainer(this.c(), cc, id);
  }
  containerStatus(cc: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult> {
    return containers.containerStatus(this.c(), cc, id, verbose);
  }
  listContainers(cc: CallContext): Promise<ContainerFacts[]> {
    return containers.listContainers(this.c(), cc);
  }

  override execSync(cc: CallContext, id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    return streams.execSync(this.c(), cc, id, cmd, timeoutSeconds);
  }
  override exec(cc: CallContext, id: string, cmd: string[], opts: StreamOptions): Promise<ProcessStreams> {
    return streams.exec(this.c(), cc, id, cmd, opts);
  }
  override attach(cc: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
    return attach(this.c(), cc, id, opts);
  }
  override portForward(cc: CallContext, sandboxId: string, port: number): Promise<Duplex> {
    return portForward(this.c(), cc, sandboxId, port);
  }
  override async reopenContainerLog(_cc: CallContext, id: string): Promise<void> {
    const ctx = this.c();
    if (!ctx.stage1) this.unimplemented('ReopenContainerLog');
    const rec = await ctx.index.getContainer(id);
    if (!rec) throw new NotFoundError(`reopen container log ${id}: container not found`);
    const h = await ctx.stage1.appHandle(rec.uuid, rec.app);
    if (!h.running) throw new FailedPreconditionError(`reopen container log ${id}: container is not running`);
    await reopenLog(`${h.infoDir}/bundle`, rec.logPath || undefined);
  }
  override containerStats(cc: CallContext, id: string): Promise<cri.ContainerStats> {
    return stats.containerStats(this.c(), cc, id);
  }
  override listContainerStats(cc: CallContext): Promise<cri.ContainerStats[]> {
    return stats.listContainerStats(this.c(), cc);
  }
  override podSandboxStats(cc: CallContext, id: string): Promise<cri.PodSandboxStats> {
    return stats.podSandboxStats(this.c(), cc, id);
  }
  override listPodSandboxStats(cc: CallContext): Promise<cri.PodSandboxStats[]> {
    return stats.listPodSandboxStats(this.c(), cc);
  }
}
