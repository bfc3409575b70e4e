/**
 * The vm backend: every pod is a lightweight VM (qemu microvm, Kata/runv style) whose guest agent runs the pod's
 * containers — the pod's containers share the guest kernel, pods share nothing but the host. See README.md in
 * this folder for the design and ../../../../shared/notes/vm-backend.md for the measurements behind it.
 */
import type { Duplex } from 'node:stream';
import { NotFoundError, UnavailableError, errorMessage } from '../../errors';
import type * as cri from '../../cri/types';
import type { ImageStore } from '../../images/types';
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
import * as ops from './containers';
import type { VmShared } from './context';
import { attach, exec } from './interactive';
import { portForward } from './portforward';
import { qemuCpuNs } from './qemu';
import * as sb from './sandboxes';
import { setupVmShared } from './setup';
import { setConsoleLogMaxBytes } from './console-log';
import type { StatsReply } from './protocol';
import * as st from './status';
import type { PodRecord } from './records';

/** What the router may send here (it checks pods and containers against these: src/router/select.ts). */
export const VM_CAPABILITIES: BackendCapabilities = {
  hostNetwork: false,
  hostPid: false,
  hostIpc: false,
  // Privileged containers are privileged inside the guest (all capabilities, devices and sysfs of the VM),
  // never on the host: the VM stays the boundary, as with Kata.
  privileged: true,
  targetPidNamespace: false,
  recursiveReadOnlyMounts: false,
  userNamespaces: false,
};

export class VmBackend extends BaseBackend {
  readonly kind = 'vm' as const;
  readonly capabilities = VM_CAPABILITIES;
  readonly images: ImageStore;
  private shared?: VmShared;
  private startError?: string;

  constructor(
    readonly name: string,
    private readonly deps: BackendDeps,
  ) {
    super();
    this.images = deps.sharedImages;
  }

  /** Never fails for a missing guest: health reports it, so the rest of the node keeps working. */
  async start(ctx: CallContext): Promise<void> {
    setConsoleLogMaxBytes(this.deps.config.backends.vm.consoleLogMaxBytes);
    try {
      this.shared = await setupVmShared(this.deps, ctx.log);
    } catch (err) {
      this.startError = errorMessage(err);
      ctx.log.error('vm: backend unavailable', { error: err });
    }
  }

  private get s(): VmShared {
    if (!this.shared) throw new UnavailableError(`vm backend unavailable: ${this.startError ?? 'not started'}`);
    return this.shared;
  }

  async health(_ctx: CallContext): Promise<BackendHealth> {
    if (!this.shared)
      return { ready: false, networkReady: false, reason: 'VmBackendUnavailable', message: this.startError };
    const net = await this.shared.net.ready();
    if (!this.shared.guest) {
      return { ready: false, networkReady: net.ready, reason: 'VmGuestUnavailable', message: this.shared.guestError };
    }
    return {
      ready: true,
      networkReady: net.ready,
      reason: net.ready ? undefined : 'NetworkPluginNotReady',
      message: net.message,
    };
  }

  async close(): Promise<void> {
    // VMs keep running across a crimux restart: only drop the channels. A template build in flight is stopped.
    this.shared?.templates?.close();
    for (const vm of this.shared?.rt.vms.values() ?? []) vm.disconnect();
  }

  async runPodSandbox(ctx: CallContext, req: RunSandboxRequest): Promise<void> {
    return sb.runPodSandbox(this.s, ctx, req);
  }
  async stopPodSandbox(ctx: CallContext, id: string): Promise<void> {
    return sb.stopPodSandbox(this.s, ctx, id);
  }
  async removePodSandbox(ctx: CallContext, id: string): Promise<void> {
    return sb.removePodSandbox(this.s, ctx, id);
  }
  async podSandboxStatus(_ctx: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult> {
    const pod = this.pod(id);
    const ready = this.s.rt.checkAlive(pod);
    return {
      facts: st.sandboxFacts(pod, ready),
      info: verbose ? st.sandboxInfo(pod) : {},
      containers: Object.values(pod.containers).map(st.containerFacts),
    };
  }
  async listPodSandboxes(_ctx: CallContext): Promise<SandboxFacts[]> {
    const rt = this.s.rt;
    return [...rt.pods.values()].map((p) => st.sandboxFacts(p, rt.checkAlive(p)));
  }

  async createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<void> {
    return ops.createContainer(this.s, ctx, req);
  }
  async startContainer(ctx: CallContext, id: string): Promise<void> {
    return ops.startContainer(this.s, ctx, id);
  }
  async stopContainer(ctx: CallContext, id: string, timeoutSeconds: number): Promise<void> {
    return ops.stopContainer(this.s, ctx, id, timeoutSeconds);
  }
  async removeContainer(ctx: CallContext, id: string): Promise<void> {
    return ops.removeContainer(this.s, ctx, id);
  }
  async containerStatus(_ctx: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult> {
    const { pod, c } = ops.findContainer(this.s, id);
    this.s.rt.checkAlive(pod);
    return {
      facts: st.containerFacts(c),
      info: verbose ? { info: JSON.stringify({ lun: c.lun, serial: c.serial, overlay: c.overlay }) } : {},
    };
  }
  async listContainers(_ctx: CallContext): Promise<ContainerFacts[]> {
    const rt = this.s.rt;
    return [...rt.pods.values()].flatMap((p) => (rt.checkAlive(p), Object.values(p.containers).map(st.containerFacts)));
  }

  override async reopenContainerLog(_ctx: CallContext, id: string): Promise<void> {
    ops.reopenLog(this.s, id);
  }
  override async execSync(
    ctx: CallContext,
    id: string,
    cmd: string[],
    timeoutSeconds: number,
  ): Promise<ExecSyncResult> {
    return ops.execSync(this.s, ctx, id, cmd, timeoutSeconds);
  }
  override async portForward(ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
    return portForward(this.s, ctx, sandboxId, port);
  }
  override async exec(ctx: CallContext, id: string, cmd: string[], opts: StreamOptions): Promise<ProcessStreams> {
    return exec(this.s, ctx, id, cmd, opts);
  }
  override async attach(ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
    return attach(this.s, ctx, id, opts);
  }
  override async updateContainerResources(
    ctx: CallContext,
    id: string,
    resources: cri.ContainerResources,
  ): Promise<void> {
    return ops.updateResources(this.s, ctx, id, resources);
  }

  override async containerUsage(_ctx: CallContext, id: string): Promise<ContainerUsage> {
    const { pod, c } = ops.findContainer(this.s, id);
    const s = await this.guestStats(pod);
    return st.containerUsage(
      c,
      s?.containers.find((x) => x.cid === id),
      pod.id,
      this.s.rt.host.clock,
    );
  }
  override async listContainerUsage(_ctx: CallContext): Promise<ContainerUsage[]> {
    const out: ContainerUsage[] = [];
    for (const pod of this.s.rt.pods.values()) {
      const s = await this.guestStats(pod);
      for (const c of Object.values(pod.containers))
        out.push(
          st.containerUsage(
            c,
            s?.containers.find((x) => x.cid === c.id),
            pod.id,
            this.s.rt.host.clock,
          ),
        );
    }
    return out;
  }
  override async podSandboxUsage(_ctx: CallContext, id: string): Promise<SandboxUsage> {
    return this.podUsage(this.pod(id));
  }
  override async listPodSandboxUsage(_ctx: CallContext): Promise<SandboxUsage[]> {
    const pods = [...this.s.rt.pods.values()].filter((p) => p.state === 'ready');
    return Promise.all(pods.map((p) => this.podUsage(p)));
  }

  private async podUsage(pod: PodRecord): Promise<SandboxUsage> {
    const s = await this.guestStats(pod);
    const vm = this.s.rt.vmFor(pod);
    const alive = this.s.rt.checkAlive(pod);
    const containers = Object.values(pod.containers).map((c) =>
      st.containerUsage(
        c,
        s?.containers.find((x) => x.cid === c.id),
        pod.id,
        this.s.rt.host.clock,
      ),
    );
    return st.podUsage(
      pod,
      s,
      { rssBytes: alive ? vm.rssBytes() : 0, cpuNs: alive ? qemuCpuNs(pod.vm.pid) : 0 },
      containers,
      this.s.rt.host.clock,
    );
  }

  /** Guest numbers, or undefined when the VM does not answer (stats never fail a whole list). */
  private async guestStats(pod: PodRecord): Promise<StatsReply | undefined> {
    if (!this.s.rt.checkAlive(pod)) return undefined;
    try {
      return (await this.s.rt.vmFor(pod).request({ op: 'stats' }, 5_000)) as unknown as StatsReply;
    } catch {
      return undefined;
    }
  }

  private pod(id: string): PodRecord {
    const pod = this.s.rt.pods.get(id);
    if (!pod) throw new NotFoundError(`pod sandbox ${id} not found`);
    return pod;
  }
}
