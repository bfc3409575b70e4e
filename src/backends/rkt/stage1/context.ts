/** What every stage1 operation needs: the layout, cgroup hierarchies, binaries, and where app roots come from. */
import { createHash } from 'node:crypto';
import type { Logger } from '../../../log/logger';
import type { Hierarchy } from './cgroups';
import type { Stage1Layout } from './layout';

/** A prepared, writable root filesystem for one app. */
export interface PreparedRootfs {
  /** Host path of the mounted root (an overlay of the image). */
  readonly rootfs: string;
  /** Image ID reported as rkt's image_id (an OCI config digest here; rkt had sha512-…). */
  readonly imageId: string;
}

/**
 * Where app roots come from: the shared OCI image store's snapshots in crimux (images/), a plain directory in
 * tests. Keys are chosen by the stage1 and are unique per pod and app.
 */
export interface RootfsProvider {
  /** Idempotent for a key. NotFoundError when the image is not present locally (app add never pulls, as in rkt). */
  prepare(key: string, image: string, signal?: AbortSignal): Promise<PreparedRootfs>;
  /** Idempotent. */
  remove(key: string, signal?: AbortSignal): Promise<void>;
  /** Bytes and inodes of the writable layer, when known. */
  usage?(key: string): Promise<{ bytes: number; inodes: number }>;
  /** Every existing key (pod removal sweeps its own by podKeyPrefix). */
  keys?(): Promise<string[]>;
}

export interface Stage1Context {
  readonly layout: Stage1Layout;
  readonly hierarchies: readonly Hierarchy[];
  readonly nspawnPath: string;
  readonly conmonPath: string;
  /** crimux-stage1 on the host (src/host/native/crimux-stage1.c); pods see it at POD_HELPER. */
  readonly helperPath: string;
  /** The generated enter-runtime adapter conmon runs as its OCI runtime. */
  readonly runtimePath: string;
  /** Default parent cgroup (absolute, or relative to crimux's own). */
  readonly cgroupParent: string;
  readonly readyTimeoutMs: number;
  readonly rootfs: RootfsProvider;
  readonly log: Logger;
}

/** Where crimux-stage1 is in every pod (bound read-only by nspawn). */
export const POD_HELPER = '/rkt/bin/crimux-stage1';

/** Default host path of crimux-stage1 (scripts/build-native.sh installs it there). */
export const DEFAULT_HELPER_PATH = '/usr/local/libexec/crimux/crimux-stage1';

/**
 * The snapshot key of an app: unique per pod and app, stable across restarts, and of bounded length whatever the
 * app's name (snapshot keys are at most 128 characters; a kubelet container name alone can exceed 60, and issue #20
 * saw "rkt-<uuid>-2-container-with-block-hostname-seccomp-profile-test-<uuid>" refused). So it is derived from the
 * pod's UUID and a digest of the app name, never from the name itself.
 */
export function rootfsKey(uuid: string, app: string): string {
  return `rkt-${uuid}-${createHash('sha256').update(app).digest('hex').slice(0, 32)}`;
}

/**
 * What every key of a pod's apps starts with (rootfsKey and legacyRootfsKey alike). Pod removal sweeps by it, not
 * only by the apps it has records for: the backend prepares an app's root before any record of the app exists (so
 * the user resolves against the image), and a crimux killed in between left that mount to no one (#24).
 */
export function podKeyPrefix(uuid: string): string {
  return `rkt-${uuid}-`;
}

/** The key earlier versions used ("rkt-<uuid>-<app>"), when it was a valid key: removed too, so none leaks. */
export function legacyRootfsKey(uuid: string, app: string): string | undefined {
  const key = `rkt-${uuid}-${app}`;
  return key.length <= 128 ? key : undefined;
}
