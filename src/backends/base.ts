/**
 * BaseBackend: every optional operation throws UnimplementedError naming the operation and the backend, so an
 * RPC no backend can serve reaches the kubelet as UNIMPLEMENTED (never UNKNOWN). Backends override what they do.
 */
import type { Duplex } from 'node:stream';
import { UnimplementedError } from '../errors';
import type * as cri from '../cri/types';
import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  BackendKind,
  CallContext,
  ContainerFacts,
  ContainerUsage,
  SandboxUsage,
  ContainerStatusResult,
  SandboxFacts,
  CreateContainerRequest,
  ExecSyncResult,
  ProcessStreams,
  RunSandboxRequest,
  RuntimeConfigUpdate,
  SandboxStatusResult,
  StreamOptions,
} from './backend';
import type { ImageStore } from '../images/types';

export abstract class BaseBackend implements Backend {
  abstract readonly name: string;
  abstract readonly kind: BackendKind;
  abstract readonly capabilities: BackendCapabilities;
  abstract readonly images: ImageStore;

  abstract start(ctx: CallContext): Promise<void>;
  abstract health(ctx: CallContext): Promise<BackendHealth>;
  abstract close(): Promise<void>;
  abstract runPodSandbox(ctx: CallContext, req: RunSandboxRequest): Promise<void>;
  abstract stopPodSandbox(ctx: CallContext, id: string): Promise<void>;
  abstract removePodSandbox(ctx: CallContext, id: string): Promise<void>;
  abstract podSandboxStatus(ctx: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult>;
  abstract listPodSandboxes(ctx: CallContext): Promise<SandboxFacts[]>;
  abstract createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<void>;
  abstract startContainer(ctx: CallContext, id: string): Promise<void>;
  abstract stopContainer(ctx: CallContext, id: string, timeoutSeconds: number): Promise<void>;
  abstract removeContainer(ctx: CallContext, id: string): Promise<void>;
  abstract containerStatus(ctx: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult>;
  abstract listContainers(ctx: CallContext): Promise<ContainerFacts[]>;

  protected unimplemented(operation: string): never {
    throw new UnimplementedError(`${operation}: not implemented by the ${this.name} backend`, {
      context: { backend: this.name, operation },
    });
  }

  updateContainerResources(_ctx: CallContext, _id: string, _r: cri.ContainerResources): Promise<void> {
    this.unimplemented('UpdateContainerResources');
  }
  updatePodSandboxResources(
    _ctx: CallContext,
    _id: string,
    _u: { overhead: cri.LinuxContainerResources | null; resources: cri.LinuxContainerResources | null },
  ): Promise<void> {
    this.unimplemented('UpdatePodSandboxResources');
  }
  reopenContainerLog(_ctx: CallContext, _id: string): Promise<void> {
    this.unimplemented('ReopenContainerLog');
  }
  execSync(_ctx: CallContext, _id: string, _cmd: string[], _timeout: number): Promise<ExecSyncResult> {
    this.unimplemented('ExecSync');
  }
  exec(_ctx: CallContext, _id: string, _cmd: string[], _opts: StreamOptions): Promise<ProcessStreams> {
    this.unimplemented('Exec');
  }
  attach(_ctx: CallContext, _id: string, _opts: StreamOptions): Promise<ProcessStreams> {
    this.unimplemented('Attach');
  }
  portForward(_ctx: CallContext, _sandboxId: string, _port: number): Promise<Duplex> {
    this.unimplemented('PortForward');
  }
  containerUsage(_ctx: CallContext, _id: string): Promise<ContainerUsage> {
    this.unimplemented('ContainerStats');
  }
  listContainerUsage(_ctx: CallContext): Promise<ContainerUsage[]> {
    this.unimplemented('ListContainerStats');
  }
  podSandboxUsage(_ctx: CallContext, _id: string): Promise<SandboxUsage> {
    this.unimplemented('PodSandboxStats');
  }
  listPodSandboxUsage(_ctx: CallContext): Promise<SandboxUsage[]> {
    this.unimplemented('ListPodSandboxStats');
  }
  checkpointContainer(_ctx: CallContext, _req: cri.CheckpointContainerRequest): Promise<void> {
    this.unimplemented('CheckpointContainer');
  }
  /** No-op: only backends that run CNI themselves take the pod CIDR. */
  async updateRuntimeConfig(_ctx: CallContext, _update: RuntimeConfigUpdate): Promise<void> {}
}
