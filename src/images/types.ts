/**
 * Image store contracts.
 *
 * ImageStore is what the CRI ImageService needs from a store; ImageService calls are routed to a store by runtime
 * handler (KEP-4216) and merged across stores. The runc, vm and rkt backends share one OCI content store
 * (src/images/, issue #3) which also implements SnapshotStore to hand out copy-on-write container roots; the docker
 * backend puts Docker's own store behind ImageStore.
 */
import type { CallContext } from '../context';
import type * as cri from '../cri/types';

export interface PullRequest {
  /** The image reference as the kubelet gave it (ImageSpec.image), e.g. "busybox:1.36" or "registry.k8s.io/pause:3.9". */
  readonly image: string;
  /** Credentials from the CRI AuthConfig; never logged, never stored. */
  readonly auth?: cri.AuthConfig;
}

export interface ImageStatusResult {
  /** null when the image is not present (CRI: ImageStatus of an unknown image is not an error). */
  readonly image: cri.Image | null;
  /** Verbose info (JSON strings), e.g. { info: '{"imageSpec": <OCI image config>}' } like containerd. */
  readonly info: Record<string, string>;
}

export interface FsInfo {
  readonly imageFilesystems: cri.FilesystemUsage[];
  readonly containerFilesystems: cri.FilesystemUsage[];
}

/** What the CRI ImageService needs from any store. */
export interface ImageStore {
  /** Stable name for logs/metrics ("oci" for the shared store, "docker" for Docker's). */
  readonly name: string;
  /** Pulls and returns the image ID (sha256:… of the config), which PullImageResponse.image_ref carries. */
  pull(ctx: CallContext, req: PullRequest): Promise<string>;
  list(ctx: CallContext): Promise<cri.Image[]>;
  /** Looks up by ID (full or unique prefix), tag or digest reference. */
  status(ctx: CallContext, ref: string, verbose: boolean): Promise<ImageStatusResult>;
  /** Idempotent: removing an unknown image succeeds. */
  remove(ctx: CallContext, ref: string): Promise<void>;
  fsInfo(ctx: CallContext): Promise<FsInfo>;
}

/** The OCI image config fields backends apply as container defaults. */
export interface ImageConfig {
  readonly user?: string;
  readonly env?: string[];
  readonly entrypoint?: string[];
  readonly cmd?: string[];
  readonly workingDir?: string;
  readonly stopSignal?: string;
  readonly exposedPorts?: string[];
  readonly labels?: Record<string, string>;
}

/** A pulled image resolved for container creation. */
export interface ResolvedImage {
  /** sha256:… of the config blob (CRI image ID). */
  readonly id: string;
  /** The reference the kubelet used, normalised (e.g. docker.io/library/busybox:1.36). */
  readonly ref: string;
  /** repo@sha256:… digest reference when known (ContainerStatus.image_ref). */
  readonly digestRef?: string;
  readonly config: ImageConfig;
  /** Unpacked layer directories, lowest first (what an overlay lowerdir stacks, reversed). */
  readonly layerDirs: string[];
}

export interface Snapshot {
  readonly key: string;
  /** The mounted root filesystem (overlay of the image's layers + a private upper dir). */
  readonly rootfs: string;
  /** The writable upper dir (for writable-layer stats); absent for read-only snapshots. */
  readonly upperDir?: string;
}

/** Copy-on-write container roots from the shared store; used by the runc, vm and rkt backends. */
export interface SnapshotStore {
  /** NotFoundError when the image is not pulled (the kubelet pulls before it creates). */
  resolve(ctx: CallContext, ref: string): Promise<ResolvedImage>;
  /** Mounts an overlay for `key` (a container ID); repeating it for the same key returns the same snapshot. */
  prepare(ctx: CallContext, key: string, ref: string, opts: { readonly readonly: boolean }): Promise<Snapshot>;
  /**
   * Idempotent: unmounts and deletes the snapshot's dirs. (Not `remove`: the shared store is also an ImageStore,
   * whose remove() deletes an image.)
   */
  removeSnapshot(ctx: CallContext, key: string): Promise<void>;
  /** Bytes and inodes used by the writable layer (ContainerStats.writable_layer). */
  usage(key: string): Promise<{ bytes: number; inodes: number }>;
  /** Existing snapshot keys, for leak checks and reconcile. */
  keys(): Promise<string[]>;
}
