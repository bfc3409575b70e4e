/**
 * Durable records of the runc backend's sandboxes and containers: one versioned JSON file each (written atomically
 * by rename), mirrored in memory. The records hold only what the kernel and conmon cannot tell later (CRI
 * metadata, chosen paths, timestamps); live state — running, exited, exit code — is always derived from conmon's
 * files and /proc (see status.ts), so nothing is lost when crimux dies between two writes.
 *
 * Records change only through update(), which writes the file before the memory copy.
 */
import type * as cri from '../../cri/types';
import type { Logger } from '../../log/logger';
import type { RecordFiles } from '../host';
import { InternalError } from '../../errors';
import { RecordDir } from '../../host/record-dir';
import type { Layout } from './layout';

export const RECORD_VERSION = 1;

/** creating: steps in progress or failed mid-way (remove cleans up); ready: created; notready: stopped. */
export type SandboxPhase = 'creating' | 'ready' | 'notready';

export interface SandboxRecord {
  readonly version: number;
  readonly id: string;
  readonly handler: string;
  readonly phase: SandboxPhase;
  readonly metadata: cri.PodSandboxMetadata;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly createdAt: string;
  /** The request, kept for containers (sysctls, DNS) and verbose status. */
  readonly config: cri.PodSandboxConfig;
  readonly hostNetwork: boolean;
  readonly hostPid: boolean;
  readonly hostIpc: boolean;
  /** Pod-level PID namespace (NamespaceMode POD): containers join the pause container's. */
  readonly sharedPid: boolean;
  /** Bind-mounted netns, absent with hostNetwork. */
  readonly netnsPath?: string;
  readonly ips: string[];
  readonly cgroupParent: string;
  /** crimux made the parent (no cgroup_parent in the request) and removes it with the sandbox. */
  readonly ownsCgroupParent: boolean;
  /** tmpfs shared as /dev/shm, absent with hostIpc. */
  readonly shmPath?: string;
  readonly pauseImage: string;
  readonly hostname: string;
  /** StopPodSandbox tore the network down (CNI DEL, netns removed): RemovePodSandbox need not repeat it. */
  readonly networkDown?: boolean;
}

export interface ContainerRecord {
  readonly version: number;
  readonly id: string;
  readonly sandboxId: string;
  readonly metadata: cri.ContainerMetadata;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly createdAt: string;
  readonly startedAt?: string;
  /** The image as the kubelet named it, and what it resolved to. */
  readonly image: { image: string; annotations: Record<string, string>; user_specified_image: string };
  readonly imageRef: string;
  readonly imageId: string;
  /** log_directory + log_path; '' when the kubelet asked for no log. */
  readonly logPath: string;
  readonly mounts: { container_path: string; host_path: string; readonly: boolean; propagation: string }[];
  readonly stopSignal: string;
  readonly cgroupsPath: string;
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdinOnce: boolean;
  /** The container has its own PID namespace (killing its init ends all its processes). */
  readonly ownPidNs: boolean;
  /** StartContainer failed: the container counts as exited with reason StartError. */
  readonly startError?: { readonly at: string; readonly message: string };
  readonly resources: cri.LinuxContainerResources | null;
  readonly user: { uid: number; gid: number; additionalGids: number[] };
}

export class RecordStore {
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly containers = new Map<string, ContainerRecord>();
  private readonly sandboxFiles: RecordDir<SandboxRecord>;
  private readonly containerFiles: RecordDir<ContainerRecord>;

  constructor(layout: Layout, log: Logger, files: RecordFiles) {
    // <dir>/<id>/sandbox.json and <dir>/<id>/container.json, indented by one space, as they always were.
    const common = { version: RECORD_VERSION, files, log, indent: 1 };
    this.sandboxFiles = new RecordDir({
      ...common,
      dir: layout.sandboxesDir,
      fileName: 'sandbox.json',
      kind: 'sandbox',
    });
    this.containerFiles = new RecordDir({
      ...common,
      dir: layout.containersDir,
      fileName: 'container.json',
      kind: 'container',
    });
  }

  /** Reads every record from disk; unreadable ones are logged and skipped (their dirs stay for remove to clean). */
  async load(): Promise<void> {
    this.sandboxes.clear();
    this.containers.clear();
    for (const [id, rec] of await this.sandboxFiles.list()) this.sandboxes.set(id, rec);
    for (const [id, rec] of await this.containerFiles.list()) this.containers.set(id, rec);
  }

  sandbox(id: string): SandboxRecord | undefined {
    return this.sandboxes.get(id);
  }
  container(id: string): ContainerRecord | undefined {
    return this.containers.get(id);
  }
  allSandboxes(): SandboxRecord[] {
    return [...this.sandboxes.values()];
  }
  allContainers(): ContainerRecord[] {
    return [...this.containers.values()];
  }
  containersOf(sandboxId: string): ContainerRecord[] {
    return this.allContainers().filter((c) => c.sandboxId === sandboxId);
  }

  /** A crash leaves either the old or the new record, never half of one (not fsynced: see src/util/fs.ts). */
  async putSandbox(rec: SandboxRecord): Promise<void> {
    await this.sandboxFiles.put(rec);
    this.sandboxes.set(rec.id, rec);
  }
  async putContainer(rec: ContainerRecord): Promise<void> {
    await this.containerFiles.put(rec);
    this.containers.set(rec.id, rec);
  }

  /** The one way a stored record changes. */
  async updateSandbox(id: string, change: Partial<Omit<SandboxRecord, 'id' | 'version'>>): Promise<SandboxRecord> {
    const cur = this.sandboxes.get(id);
    if (!cur) throw new InternalError(`update sandbox record ${id}: no such record`);
    const next = { ...cur, ...change };
    await this.putSandbox(next);
    return next;
  }
  async updateContainer(
    id: string,
    change: Partial<Omit<ContainerRecord, 'id' | 'version'>>,
  ): Promise<ContainerRecord> {
    const cur = this.containers.get(id);
    if (!cur) throw new InternalError(`update container record ${id}: no such record`);
    const next = { ...cur, ...change };
    await this.putContainer(next);
    return next;
  }

  /** Forgets the records (the caller deletes the directories). */
  dropSandbox(id: string): void {
    this.sandboxes.delete(id);
  }
  dropContainer(id: string): void {
    this.containers.delete(id);
  }
}
