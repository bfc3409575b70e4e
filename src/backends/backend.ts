/**
 * The one seam between the router and every runtime backend (runc, vm, docker, rkt).
 *
 * Sandbox-centric, like containerd's sandbox Controller: the router owns pods. It allocates every sandbox and
 * container ID, records a "creating" intent in the state store, and only then calls the backend, so a crash
 * mid-create can be reconciled at start-up. A backend therefore must accept the ID it is given, must make create
 * calls safe to repeat after a crash (remove leftovers of the same ID first), and must make stop/remove idempotent.
 *
 * Every call gets a CallContext: an AbortSignal (the caller's deadline or the daemon's shutdown) and a logger with
 * the pod/container/backend fields already set. A backend that lacks an operation throws UnimplementedError (see
 * BaseBackend), which becomes gRPC UNIMPLEMENTED — the kubelet relies on that code, e.g. to fall back to cAdvisor.
 *
 * Pods and containers are reported as facts (SandboxFacts, ContainerFacts: what the runtime knows, never a CRI
 * reply): the router shapes every status and list entry from them once, for all backends (src/router/shape-*.ts),
 * so the CRI's rules (states, reasons, StartError, timestamps, network and namespace fields) live in one place.
 * The router adds what it owns (routing reason, snapshot markers) and applies the CRI filters itself, once.
 */
import type { Duplex, Readable, Writable } from 'node:stream';
import type { CallContext } from '../context';
import type * as cri from '../cri/types';
import type { ImageStore } from '../images/types';

export type { CallContext } from '../context';

/** The four built-in backend kinds. */
export type BackendKind = 'runc' | 'vm' | 'docker' | 'rkt';

/** A runtime handler (the name a RuntimeClass refers to) and the backend options it selects. */
export interface HandlerSpec {
  readonly name: string;
  readonly backend: BackendKind;
  /** Backend-specific, validated by the backend's own factory (e.g. { runtimeRoot, runtimePath } for runc). */
  readonly options: Readonly<Record<string, unknown>>;
}

/** What a backend can honour; the router uses it to refuse or re-route pods before anything is created. */
export interface BackendCapabilities {
  readonly hostNetwork: boolean;
  readonly hostPid: boolean;
  readonly hostIpc: boolean;
  readonly privileged: boolean;
  /** A container may join another container's PID namespace (namespace_options.pid=TARGET: ephemeral containers). */
  readonly targetPidNamespace: boolean;
  /** Status.runtime_handlers[].features */
  readonly recursiveReadOnlyMounts: boolean;
  readonly userNamespaces: boolean;
}

/** Health as reported by a backend; a backend that is down makes the node degraded, never dead. */
export interface BackendHealth {
  readonly ready: boolean;
  readonly networkReady: boolean;
  /** CamelCase reason when not ready, e.g. "DockerDaemonUnavailable". */
  readonly reason?: string;
  readonly message?: string;
}

export interface RunSandboxRequest {
  readonly id: string;
  readonly handler: HandlerSpec;
  readonly config: cri.PodSandboxConfig;
}

export interface CreateContainerRequest {
  readonly id: string;
  readonly sandboxId: string;
  readonly config: cri.ContainerConfig;
  readonly sandboxConfig: cri.PodSandboxConfig;
  /** The container's CRI log file (the router's one rule: validated log_directory + log_path); '' for none. */
  readonly logPath: string;
}

/** A pod's namespace modes as the CRI spells them (NamespaceOption's network, pid, ipc). */
export interface PodNamespaceModes {
  readonly network: cri.NamespaceMode;
  readonly pid: cri.NamespaceMode;
  readonly ipc: cri.NamespaceMode;
}

/** What a backend knows of one pod sandbox; the router shapes PodSandboxStatus and list entries from it. */
export interface SandboxFacts {
  readonly id: string;
  readonly metadata: cri.PodSandboxMetadata | null;
  /** Its infrastructure (pause process, VM, stage1) runs and its network is set up. */
  readonly ready: boolean;
  /** Nanoseconds since the epoch, decimal. */
  readonly createdAtNs: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** The runtime handler it was run with. */
  readonly handler: string;
  // Status only (list entries leave them out):
  /** Pod IPs, the primary first; none on the node's network. */
  readonly ips?: readonly string[];
  readonly namespaces?: PodNamespaceModes;
}

/** Result of a status call: the pod's facts plus backend-specific verbose info (JSON strings per CRI convention). */
export interface SandboxStatusResult {
  readonly facts: SandboxFacts;
  readonly info: Record<string, string>;
  /** Filled when the backend can report them cheaply (CRI v0.29+ PodSandboxStatusResponse.containers_statuses). */
  readonly containers?: ContainerFacts[];
}

/** Where a container is in its life, as the runtime sees it (the router maps it to a CRI state). */
export type ContainerPhase = 'created' | 'running' | 'exited' | 'unknown';

/**
 * What a backend knows of one container: its identity as created (from its records) and its live state. No CRI
 * rule is applied here: a backend reports what happened (an exit code, an OOM kill, a failed start), the router
 * decides how the CRI says it.
 */
export interface ContainerFacts {
  readonly id: string;
  readonly sandboxId: string;
  readonly metadata: cri.ContainerMetadata | null;
  /** The image as CreateContainer named it. */
  readonly image: cri.ImageSpec | { readonly image: string };
  /** Digest reference (repo@sha256:...) or, failing that, the image ID. */
  readonly imageRef: string;
  readonly imageId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Nanoseconds since the epoch, decimal. */
  readonly createdAtNs: string;
  readonly phase: ContainerPhase;
  /** Unset or '0': never started. */
  readonly startedAtNs?: string;
  /** Unset or '0': not finished. */
  readonly finishedAtNs?: string;
  readonly exitCode?: number;
  /** The kernel's OOM killer ended it. */
  readonly oomKilled?: boolean;
  /** StartContainer failed: what the runtime said, and when. */
  readonly startError?: { readonly message: string; readonly atNs: string };
  /** More about an exit than its code says, in the backend's words (e.g. the VM died, the monitor was lost). */
  readonly message?: string;
  // Status only (list entries leave them out, so a list may skip them):
  /** As the CRI sent them. */
  readonly mounts?: cri.Mount[];
  readonly logPath?: string;
  readonly resources?: cri.ContainerStatus['resources'];
  /** The identity the process runs as, resolved at create (primary gid first among the groups). */
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
}

export interface ContainerStatusResult {
  readonly facts: ContainerFacts;
  readonly info: Record<string, string>;
}

/** A counter or size as read from the runtime (cgroup files give bigints, JSON APIs give numbers). */
export type Quantity = bigint | number;

/** Memory of a cgroup or a VM, in bytes (the numbers cAdvisor reports). */
export interface MemoryUsage {
  readonly workingSetBytes?: Quantity;
  readonly usageBytes?: Quantity;
  /** The limit that applies; the router derives available_bytes from it (unlimited: leave unset). */
  readonly limitBytes?: Quantity;
  /** Set only where the runtime knows better than limit − working set (a VM's guest MemAvailable). */
  readonly availableBytes?: Quantity;
  readonly rssBytes?: Quantity;
  readonly pageFaults?: Quantity;
  readonly majorPageFaults?: Quantity;
}

/** Counters of one interface of a pod's network namespace. */
export interface InterfaceUsage {
  readonly name: string;
  readonly rxBytes: Quantity;
  readonly rxErrors: Quantity;
  readonly txBytes: Quantity;
  readonly txErrors: Quantity;
}

/**
 * One sample of a container's resource usage, as the runtime measured it. The router shapes ContainerStats from
 * it and its own records (attributes), and derives usage_nano_cores from consecutive samples, once for all
 * backends (src/router/shape-stats.ts).
 */
export interface ContainerUsage {
  readonly id: string;
  /** When it was measured, nanoseconds since the epoch. */
  readonly atNs: bigint;
  /** Cumulative CPU time. */
  readonly cpuNs?: Quantity;
  readonly memory?: MemoryUsage;
  /** The container's writable layer: the filesystem it lives on (fs_id) and what it uses there. */
  readonly writableLayer?: {
    readonly mountpoint: string;
    readonly usedBytes?: Quantity;
    readonly inodesUsed?: Quantity;
  };
}

/** One sample of a pod's usage: its own (pod cgroup, VM) and its containers'. */
export interface SandboxUsage {
  readonly id: string;
  readonly atNs: bigint;
  readonly cpuNs?: Quantity;
  readonly memory?: MemoryUsage;
  /** The pod's interfaces, loopback excluded; unset for a pod on the node's network (those are the node's). */
  readonly interfaces?: readonly InterfaceUsage[];
  readonly processCount?: Quantity;
  readonly containers: readonly ContainerUsage[];
}

export interface ExecSyncResult {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exitCode: number;
}

/** Options of an interactive process (Exec) or of attaching to a container's main process (Attach). */
export interface StreamOptions {
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

/**
 * Plain streams of a process, handed to the streaming server (issue #8). With a TTY, stderr is absent and output
 * arrives on stdout. wait() resolves with the exit code once the process ended (Attach: once detached or exited).
 */
export interface ProcessStreams {
  readonly stdin?: Writable;
  readonly stdout?: Readable;
  readonly stderr?: Readable;
  resize(size: { width: number; height: number }): void;
  wait(): Promise<{ exitCode: number }>;
  /** Ends the session (client went away): kills an exec'd process, detaches an attach. Idempotent. */
  close(): void;
}

/** The operations every backend offers. Implementations extend BaseBackend and override what they support. */
export interface Backend {
  readonly name: string;
  readonly kind: BackendKind;
  readonly capabilities: BackendCapabilities;
  /** The image store this backend takes root filesystems from (shared OCI store, or Docker's own). */
  readonly images: ImageStore;

  /** Prepare host resources (dirs, daemon connections). Must not fail because the runtime is down: report health. */
  start(ctx: CallContext): Promise<void>;
  health(ctx: CallContext): Promise<BackendHealth>;
  close(): Promise<void>;

  runPodSandbox(ctx: CallContext, req: RunSandboxRequest): Promise<void>;
  /** Idempotent; stops every container of the sandbox and tears down its network. */
  stopPodSandbox(ctx: CallContext, id: string): Promise<void>;
  /** Idempotent; an unknown ID is success. Removes every container of the sandbox first. */
  removePodSandbox(ctx: CallContext, id: string): Promise<void>;
  /** NotFoundError for an unknown ID. */
  podSandboxStatus(ctx: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult>;
  listPodSandboxes(ctx: CallContext): Promise<SandboxFacts[]>;

  createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<void>;
  startContainer(ctx: CallContext, id: string): Promise<void>;
  /** Idempotent; timeout in seconds (0: kill at once) before SIGKILL, never negative (the router clamps it). */
  stopContainer(ctx: CallContext, id: string, timeoutSeconds: number): Promise<void>;
  /** Idempotent; stops a running container first. */
  removeContainer(ctx: CallContext, id: string): Promise<void>;
  containerStatus(ctx: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult>;
  listContainers(ctx: CallContext): Promise<ContainerFacts[]>;

  updateContainerResources(ctx: CallContext, id: string, resources: cri.ContainerResources): Promise<void>;
  /** Overhead and resources are LinuxContainerResources, as in UpdatePodSandboxResourcesRequest. */
  updatePodSandboxResources(
    ctx: CallContext,
    id: string,
    update: { overhead: cri.LinuxContainerResources | null; resources: cri.LinuxContainerResources | null },
  ): Promise<void>;
  reopenContainerLog(ctx: CallContext, id: string): Promise<void>;
  /** timeoutSeconds 0 means no timeout; a timeout throws DeadlineExceededError after killing the process. */
  execSync(ctx: CallContext, id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult>;

  exec(ctx: CallContext, id: string, cmd: string[], opts: StreamOptions): Promise<ProcessStreams>;
  attach(ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams>;
  /** A TCP connection to `port` inside the sandbox's network namespace. */
  portForward(ctx: CallContext, sandboxId: string, port: number): Promise<Duplex>;

  /** NotFoundError for an unknown ID. */
  containerUsage(ctx: CallContext, id: string): Promise<ContainerUsage>;
  /** The containers whose usage can be read (those that run, or ran and left a cgroup). */
  listContainerUsage(ctx: CallContext): Promise<ContainerUsage[]>;
  /** NotFoundError for an unknown ID. */
  podSandboxUsage(ctx: CallContext, id: string): Promise<SandboxUsage>;
  listPodSandboxUsage(ctx: CallContext): Promise<SandboxUsage[]>;
  checkpointContainer(ctx: CallContext, req: cri.CheckpointContainerRequest): Promise<void>;
  /**
   * UpdateRuntimeConfig: the node's pod CIDR, for backends whose CNI configuration takes it (host-local's
   * `ipRanges` capability). Optional: a backend without crimux-side CNI has nothing to do.
   */
  updateRuntimeConfig?(ctx: CallContext, update: RuntimeConfigUpdate): Promise<void>;
}

/** What UpdateRuntimeConfig carries that a backend may apply. */
export interface RuntimeConfigUpdate {
  readonly podCidr: string;
}
