/**
 * Ownership records: which backend owns every sandbox and container, why it was chosen, and where each object is
 * in crimux's own lifecycle. The runtime state (running, exited…) belongs to the backend; the record keeps only a
 * last-known snapshot of it, used to answer lists while a backend is unreachable.
 *
 *            insert (intent)          backend create ok
 *   (none) ────────────────► creating ─────────────────► ready
 *                               │  backend create failed     │ RemovePodSandbox / RemoveContainer
 *                               ▼  (undo, then delete)       ▼
 *                            (none)  ◄────────────────── removing
 *                                       backend remove ok
 *
 * A crash leaves records in `creating` or `removing`; reconcile at start-up finishes or rolls them back.
 */
export type RecordPhase = 'creating' | 'ready' | 'removing';

/** Bumped whenever the record shape changes; stored with every row so old rows can be migrated on read. */
export const RECORD_VERSION = 1;

export interface SandboxRecord {
  readonly id: string;
  readonly backend: string;
  readonly handler: string;
  /** Why routing chose this handler, e.g. "runtime_handler", "annotation crimux.io/runtime". */
  readonly reason: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly attempt: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly phase: RecordPhase;
  /** CRI created_at, nanoseconds since the epoch as a decimal string (int64 kept exact). */
  readonly createdAt: string;
  readonly updatedAtMs: number;
  readonly recordVersion: number;
  /** Optimistic-concurrency counter, bumped by every update. */
  readonly generation: number;
  /** Last-known CRI PodSandbox (list entry) as reported by the backend; JSON. */
  readonly snapshot?: string;
}

export interface ContainerRecord {
  readonly id: string;
  readonly sandboxId: string;
  readonly backend: string;
  readonly name: string;
  readonly attempt: number;
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly phase: RecordPhase;
  readonly createdAt: string;
  readonly updatedAtMs: number;
  readonly recordVersion: number;
  readonly generation: number;
  /** Last-known CRI Container (list entry); JSON. */
  readonly snapshot?: string;
}

export type NewSandboxRecord = Omit<
  SandboxRecord,
  'phase' | 'updatedAtMs' | 'recordVersion' | 'generation' | 'snapshot'
>;
export type NewContainerRecord = Omit<
  ContainerRecord,
  'phase' | 'updatedAtMs' | 'recordVersion' | 'generation' | 'snapshot'
>;

/** The only mutable fields of a record; every change goes through OwnershipStore.update*. */
export interface RecordPatch {
  phase?: RecordPhase;
  snapshot?: string;
}

/** Durable ownership store. Implementations must survive kill -9 with every acknowledged write intact. */
export interface OwnershipStore {
  /** Inserts in phase `creating`. AlreadyExistsError if the ID or the pod name/namespace/uid/attempt is taken. */
  insertSandbox(rec: NewSandboxRecord): SandboxRecord;
  /** Inserts in phase `creating`. AlreadyExistsError if the ID or sandbox/name/attempt is taken. */
  insertContainer(rec: NewContainerRecord): ContainerRecord;
  getSandbox(id: string): SandboxRecord | undefined;
  getContainer(id: string): ContainerRecord | undefined;
  findSandboxByName(name: string, namespace: string, uid: string, attempt: number): SandboxRecord | undefined;
  /** Full IDs starting with `prefix` (at most `limit`), for crictl-style short IDs. */
  sandboxIdsByPrefix(prefix: string, limit: number): string[];
  containerIdsByPrefix(prefix: string, limit: number): string[];
  updateSandbox(id: string, patch: RecordPatch): SandboxRecord;
  updateContainer(id: string, patch: RecordPatch): ContainerRecord;
  deleteSandbox(id: string): void;
  deleteContainer(id: string): void;
  listSandboxes(filter?: { backend?: string }): SandboxRecord[];
  listContainers(filter?: { backend?: string; sandboxId?: string }): ContainerRecord[];
  /**
   * Bumped by every insert, update and delete: what a reader derived from records (the merged lists the kubelet
   * asks for every second) stays valid while it is unchanged.
   */
  readonly revision: number;
  close(): void;
}
