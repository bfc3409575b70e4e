/**
 * An in-memory Backend double for unit tests of routing, lists and reconcile (never used by src/).
 * It can be told to fail or hang, to check that one broken backend does not break the others.
 */
import { BaseBackend } from '../../src/backends/base';
import type {
  ContainerFacts,
  ContainerPhase,
  SandboxFacts,
  BackendCapabilities,
  BackendHealth,
  BackendKind,
  CallContext,
  ContainerStatusResult,
  CreateContainerRequest,
  RunSandboxRequest,
  SandboxStatusResult,
} from '../../src/backends/backend';
import { NotFoundError, UnavailableError } from '../../src/errors';
import type * as cri from '../../src/cri/types';

/** The fake keeps CRI states; its facts say them as phases (the router maps them back). */
export function phaseOfState(state: string): ContainerPhase {
  const phases: Record<string, ContainerPhase> = {
    CONTAINER_CREATED: 'created',
    CONTAINER_RUNNING: 'running',
    CONTAINER_EXITED: 'exited',
  };
  return phases[state] ?? 'unknown';
}
import type { ImageStore } from '../../src/images/types';

export const ALL_CAPS: BackendCapabilities = {
  hostNetwork: true,
  hostPid: true,
  hostIpc: true,
  privileged: true,
  targetPidNamespace: true,
  recursiveReadOnlyMounts: false,
  userNamespaces: false,
};

const noImages: ImageStore = {
  name: 'none',
  pull: () => Promise.reject(new UnavailableError('fake backend has no images')),
  list: () => Promise.resolve([]),
  status: () => Promise.resolve({ image: null, info: {} }),
  remove: () => Promise.resolve(),
  fsInfo: () => Promise.resolve({ imageFilesystems: [], containerFilesystems: [] }),
};

export class FakeBackend extends BaseBackend {
  readonly images = noImages;
  readonly sandboxes = new Map<string, { state: string; config: cri.PodSandboxConfig; handler: string }>();
  readonly containers = new Map<string, { sandboxId: string; state: string; config: cri.ContainerConfig }>();
  /** 'ok' | 'fail' (throw Unavailable) | 'hang' (never answer until aborted) */
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  failRunPodSandbox = false;
  calls: string[] = [];

  constructor(
    readonly name: string,
    readonly kind: BackendKind = name as BackendKind,
    readonly capabilities: BackendCapabilities = ALL_CAPS,
  ) {
    super();
  }

  private async gate(ctx: CallContext, op: string): Promise<void> {
    this.calls.push(op);
    if (this.mode === 'fail') throw new UnavailableError(`${op}: ${this.name} is down`);
    if (this.mode === 'hang') {
      await new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }),
      );
    }
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}
  async health(ctx: CallContext): Promise<BackendHealth> {
    await this.gate(ctx, 'health');
    return { ready: true, networkReady: true };
  }
  async runPodSandbox(ctx: CallContext, req: RunSandboxRequest): Promise<void> {
    await this.gate(ctx, 'runPodSandbox');
    this.sandboxes.set(req.id, { state: 'SANDBOX_READY', config: req.config, handler: req.handler.name });
    if (this.failRunPodSandbox) throw new UnavailableError('runPodSandbox: injected failure');
  }
  async stopPodSandbox(ctx: CallContext, id: string): Promise<void> {
    await this.gate(ctx, 'stopPodSandbox');
    const s = this.sandboxes.get(id);
    if (s) s.state = 'SANDBOX_NOTREADY';
  }
  async removePodSandbox(ctx: CallContext, id: string): Promise<void> {
    await this.gate(ctx, 'removePodSandbox');
    this.sandboxes.delete(id);
    for (const [cid, c] of this.containers) if (c.sandboxId === id) this.containers.delete(cid);
  }
  async podSandboxStatus(ctx: CallContext, id: string): Promise<SandboxStatusResult> {
    await this.gate(ctx, 'podSandboxStatus');
    const s = this.sandboxes.get(id);
    if (!s) throw new NotFoundError(`pod sandbox ${id} not found`);
    return { facts: this.sandboxFacts(id, s), info: { fake: 'yes' } };
  }
  async listPodSandboxes(ctx: CallContext): Promise<SandboxFacts[]> {
    await this.gate(ctx, 'listPodSandboxes');
    return [...this.sandboxes].map(([id, s]) => this.sandboxFacts(id, s));
  }
  private sandboxFacts(id: string, s: { state: string; config: cri.PodSandboxConfig; handler: string }): SandboxFacts {
    return {
      id,
      metadata: s.config.metadata,
      ready: s.state === 'SANDBOX_READY',
      createdAtNs: '1',
      labels: s.config.labels,
      annotations: s.config.annotations,
      handler: s.handler,
    };
  }
  async createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<void> {
    await this.gate(ctx, 'createContainer');
    this.containers.set(req.id, { sandboxId: req.sandboxId, state: 'CONTAINER_CREATED', config: req.config });
  }
  async startContainer(ctx: CallContext, id: string): Promise<void> {
    await this.gate(ctx, 'startContainer');
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container ${id} not found`);
    c.state = 'CONTAINER_RUNNING';
  }
  async stopContainer(ctx: CallContext, id: string): Promise<void> {
    await this.gate(ctx, 'stopContainer');
    const c = this.containers.get(id);
    if (c) c.state = 'CONTAINER_EXITED';
  }
  async removeContainer(ctx: CallContext, id: string): Promise<void> {
    await this.gate(ctx, 'removeContainer');
    this.containers.delete(id);
  }
  /** IDs the last resource update and checkpoint reached this backend with. */
  lastTarget: Record<string, string> = {};
  override async updatePodSandboxResources(ctx: CallContext, id: string): Promise<void> {
    await this.gate(ctx, 'updatePodSandboxResources');
    this.lastTarget.updatePodSandboxResources = id;
  }
  override async checkpointContainer(ctx: CallContext, req: cri.CheckpointContainerRequest): Promise<void> {
    await this.gate(ctx, 'checkpointContainer');
    this.lastTarget.checkpointContainer = req.container_id;
  }
  async containerStatus(ctx: CallContext, id: string): Promise<ContainerStatusResult> {
    await this.gate(ctx, 'containerStatus');
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container ${id} not found`);
    return { facts: this.facts(id, c), info: {} };
  }
  async listContainers(ctx: CallContext): Promise<ContainerFacts[]> {
    await this.gate(ctx, 'listContainers');
    return [...this.containers].map(([id, c]) => this.facts(id, c));
  }
  private facts(id: string, c: { sandboxId: string; state: string; config: cri.ContainerConfig }): ContainerFacts {
    return {
      id,
      sandboxId: c.sandboxId,
      metadata: c.config.metadata,
      image: c.config.image ?? { image: '' },
      imageRef: '',
      imageId: '',
      labels: c.config.labels,
      annotations: c.config.annotations,
      createdAtNs: '2',
      phase: phaseOfState(c.state),
    };
  }
}
