/**
 * The runc backend: pods as Linux namespaces held by a pause container, containers under conmon with an OCI
 * runtime (runc by default, per handler), pod networking through CNI. This class only routes calls to the parts
 * (sandbox-run.ts, sandboxes.ts, containers.ts, container-status.ts, exec.ts, stats.ts, recovery.ts) and takes
 * the per-object lock; see those files for the CRI semantics each honours.
 */
import path from 'node:path';
import type { Duplex } from 'node:stream';
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
  ContainerUsage,
  SandboxUsage,
  StreamOptions,
  SandboxStatusResult,
} from '../backend';
import { BaseBackend } from '../base';
import type * as cri from '../../cri/types';
import { FailedPreconditionError } from '../../errors';
import type { ImageStore } from '../../images/types';
import { reopenLog } from '../../host/conmon';
import type { RuncShared } from './context';
import { createContainer, mustRecord, removeContainer, startContainer, stopContainer } from './containers';
import { containerStatus, listContainers } from './container-status';
import { attachStream } from './attach';
import { execSync } from './exec';
import { execStream, portForward } from './exec-stream';
import { HealthChecker } from './health';
import { applyPodCgroup } from './pod-cgroup';
import { checkCgroupDriver } from './cgroup-driver';
import { recover } from './recovery';
import { runSandbox } from './sandbox-run';
import { listSandboxes, removeSandbox, sandboxStatus, stopSandbox } from './sandboxes';
import { toOciResources } from './spec-resources';
import { containerUsage, listContainerUsage, listPodSandboxUsage, podSandboxUsage } from './stats';

/** What the router may send here (it checks pods and containers against these: src/router/select.ts). */
export const RUNC_CAPABILITIES: BackendCapabilities = {
  hostNetwork: true,
  hostPid: true,
  hostIpc: true,
  privileged: true,
  targetPidNamespace: false,
  // runc 1.1 has no recursive read-only mounts, and crimux sets up no user namespaces.
  recursiveReadOnlyMounts: false,
  userNamespaces: false,
};

export class RuncBackend extends BaseBackend {
  readonly name = 'runc';
  readonly kind = 'runc' as const;
  readonly capabilities = RUNC_CAPABILITIES;
  readonly images: ImageStore;
  private readonly healthChecker: HealthChecker;

  constructor(private readonly s: RuncShared) {
    super();
    this.images = s.images;
    this.healthChecker = new HealthChecker(s);
  }

  async start(ctx: CallContext): Promise<void> {
    checkCgroupDriver(this.s.runc.cgroupDriver);
    ctx.log.info('cgroups', { version: this.s.cgroups.version, driver: this.s.runc.cgroupDriver });
    await this.s.network.importCache(path.join(this.s.layout.stateDir, 'cni'));
    await recover(this.s, ctx);
  }

  health(_ctx: CallContext): Promise<BackendHealth> {
    return this.healthChecker.check();
  }

  /**
   * Containers and their monitors deliberately outlive crimux; only background removals in flight are given a
   * moment to finish (what does not finish is resumed at the next start).
   */
  async close(): Promise<void> {
    await Promise.race([this.s.reaper.drain(), new Promise((r) => setTimeout(r, 10_000).unref())]);
  }

  async runPodSandbox(ctx: CallContext, req: RunSandboxRequest): Promise<void> {
    await this.s.locks.run(req.id, async () => {
      // A repeated create (after a crash mid-way) starts from a clean slate.
      await removeSandbox(this.s, ctx, req.id, { leftoverScan: false });
      await runSandbox(this.s, ctx, req);
    });
  }
  stopPodSandbox(ctx: CallContext, id: string): Promise<void> {
    return this.s.locks.run(id, () => stopSandbox(this.s, ctx, id));
  }
  removePodSandbox(ctx: CallContext, id: string): Promise<void> {
    return this.s.locks.run(id, () => removeSandbox(this.s, ctx, id));
  }
  podSandboxStatus(ctx: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult> {
    return sandboxStatus(this.s, ctx, id, verbose);
  }
  listPodSandboxes(ctx: CallContext): Promise<SandboxFacts[]> {
    return listSandboxes(this.s, ctx);
  }

  async createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<void> {
    await this.s.locks.run(req.id, async () => {
      await removeContainer(this.s, ctx, req.id, { snapshotCheck: false });
      await createContainer(this.s, ctx, req);
    });
  }
  startContainer(ctx: CallContext, id: string): Promise<void> {
    return this.s.locks.run(id, () => startContainer(this.s, ctx, id));
  }
  stopContainer(ctx: CallContext, id: string, timeoutSeconds: number): Promise<void> {
    return this.s.locks.run(id, () => stopContainer(this.s, ctx, id, timeoutSeconds));
  }
  removeContainer(ctx: CallContext, id: string): Promise<void> {
    return this.s.locks.run(id, () => removeContainer(this.s, ctx, id));
  }
  containerStatus(ctx: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult> {
    return containerStatus(this.s, ctx, id, verbose);
  }
  listContainers(ctx: CallContext): Promise<ContainerFacts[]> {
    return listContainers(this.s, ctx);
  }

  override async updateContainerResources(
    ctx: CallContext,
    id: string,
    resources: cri.ContainerResources,
  ): Promise<void> {
    await this.s.locks.run(id, async () => {
      const rec = mustRecord(this.s, id);
      const sandbox = this.s.records.sandbox(rec.sandboxId);
      const linux = resources.linux ?? null;
      const oci = toOciResources(linux, 'linux', ctx.log, this.s.cgroups);
      if (!sandbox || (await this.s.engine.exited(this.s.layout.containerDir(id)))) {
        throw new FailedPreconditionError(`update container ${id} resources: container is not running`);
      }
      ctx.log.info('update container resources', { resources: JSON.stringify(oci) });
      await this.s.engine.runtime(sandbox.handler).update(id, oci, ctx.signal);
      await this.s.records.updateContainer(id, { resources: linux });
      ctx.log.info('updated container resources');
    });
  }

  override async updatePodSandboxResources(
    ctx: CallContext,
    id: string,
    update: { overhead: cri.LinuxContainerResources | null; resources: cri.LinuxContainerResources | null },
  ): Promise<void> {
    const rec = this.s.records.sandbox(id);
    if (!rec) throw new FailedPreconditionError(`update pod sandbox ${id} resources: not found`);
    // The kubelet resizes the pod cgroups it owns itself; crimux only sizes the parents it made.
    if (rec.ownsCgroupParent)
      await applyPodCgroup(this.s.cgroups, rec.cgroupParent, update.overhead, update.resources, ctx.log);
  }

  override async reopenContainerLog(ctx: CallContext, id: string): Promise<void> {
    const rec = mustRecord(this.s, id);
    const dir = this.s.layout.containerDir(id);
    if (!rec.startedAt || (await this.s.engine.exited(dir))) {
      throw new FailedPreconditionError(`reopen log of container ${id}: container is not running`);
    }
    ctx.log.info('reopen container log', { logPath: rec.logPath });
    await reopenLog(dir, rec.logPath);
  }

  override execSync(ctx: CallContext, id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    return execSync(this.s, ctx, id, cmd, timeoutSeconds);
  }

  override exec(ctx: CallContext, id: string, cmd: string[], opts: StreamOptions): Promise<ProcessStreams> {
    return execStream(this.s, ctx, id, cmd, opts);
  }

  override attach(ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
    return attachStream(this.s, ctx, id, opts);
  }
  override portForward(ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
    return portForward(this.s, ctx, sandboxId, port);
  }

  override containerUsage(ctx: CallContext, id: string): Promise<ContainerUsage> {
    return containerUsage(this.s, ctx, id);
  }
  override listContainerUsage(ctx: CallContext): Promise<ContainerUsage[]> {
    return listContainerUsage(this.s, ctx);
  }
  override podSandboxUsage(ctx: CallContext, id: string): Promise<SandboxUsage> {
    return podSandboxUsage(this.s, ctx, id);
  }
  override listPodSandboxUsage(ctx: CallContext): Promise<SandboxUsage[]> {
    return listPodSandboxUsage(this.s, ctx);
  }
}
