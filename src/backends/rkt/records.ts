/**
 * IDs: crimux's versus rkt's, and the on-disk index between them.
 *
 * The router allocates every sandbox and container ID and records ownership under it (backend.ts), so the CRI
 * sees crimux's IDs. rkt identifies a pod by its UUID and an app by its name, and rktlet's container ID was
 * "<pod-uuid>:<attempt>-<name>". Both are kept: crimux's IDs on the CRI side, the rkt-style app ID inside the pod
 * manager (rkt CLI, logs, verbose info "rktAppId"). The mapping is stored twice, on purpose:
 *   - index files under <stateDir>/index/{sandboxes,containers}/<crimux-id>.json: an O(1) lookup with no rkt call;
 *   - rkt user annotations on the pod and app (crimux.io/sandbox-id, crimux.io/container-id), so `rkt list` alone
 *     can rebuild a lost index — as rktlet rebuilt everything from `rkt list`.
 * A record is written before the pod manager is called ("creating"), so a crash in between leaves a record that
 * says what to clean up.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RecordDir } from '../../host/record-dir';
import type { RecordFiles } from '../host';

export const SANDBOX_ID_ANNOTATION = 'crimux.io/sandbox-id';
export const CONTAINER_ID_ANNOTATION = 'crimux.io/container-id';

/**
 * rktlet's buildAppName ("<attempt>-<name>") made an appc ACName: lowercase alphanumerics and single dashes. When
 * sanitising changed the name, six hex digits of sha1(name) are appended, so "FooBar" and "foobar" (which rktlet
 * mapped to one app, docs/limitations.md) stay distinct.
 */
export function appName(attempt: number, name: string): string {
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const base = `${attempt}-${clean || 'app'}`;
  const hash = (): string => createHash('sha1').update(name).digest('hex').slice(0, 6);
  const full = clean === name ? base : `${base}-${hash()}`;
  // Bounded: the app name becomes path components (`<app>-nsready`) and a cgroup (`app-<app>`), each at most 255
  // bytes, while a CRI name may have 253 characters. A shortened name keeps the digest of the whole one.
  if (full.length <= MAX_APP_NAME) return full;
  return `${full.slice(0, MAX_APP_NAME - 7).replace(/-+$/, '')}-${hash()}`;
}

/** The longest app name appName returns. */
export const MAX_APP_NAME = 100;

/** rktlet's container ID form, kept as the app's identity in rkt terms. */
export function rktAppId(uuid: string, app: string): string {
  return `${uuid}:${app}`;
}

export type RecordState = 'creating' | 'created';

export interface SandboxRecord {
  readonly version: 1;
  readonly id: string;
  readonly state: RecordState;
  /** rkt pod UUID once the pod manager created it. */
  readonly uuid?: string;
  /** Network namespace crimux created for the pod (empty: host network or a real rkt's own networking). */
  readonly netns?: string;
  readonly handler: string;
}

export interface ContainerRecord {
  readonly version: 1;
  readonly id: string;
  readonly state: RecordState;
  readonly sandboxId: string;
  readonly uuid: string;
  readonly app: string;
  /** ContainerStatus.log_path: the sandbox's log_directory joined with the container's log_path ('' = none). */
  readonly logPath: string;
  /** The identity the app runs with (ContainerStatus.user), resolved at create; absent in older records. */
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
}

export class IdIndex {
  private readonly sandboxIndex: RecordDir<SandboxRecord>;
  private readonly containerIndex: RecordDir<ContainerRecord>;

  constructor(
    private readonly dir: string,
    files: RecordFiles,
  ) {
    // As rkt's own files: readable by tools that inspect the pods, writable by crimux alone. IDs come from the
    // router, but the index is a path: RecordDir refuses one that would name a file outside it.
    const common = { version: 1, files, mode: 0o644 };
    this.sandboxIndex = new RecordDir({ ...common, dir: path.join(dir, 'sandboxes'), kind: 'sandbox index' });
    this.containerIndex = new RecordDir({ ...common, dir: path.join(dir, 'containers'), kind: 'container index' });
  }

  async init(): Promise<void> {
    await fs.mkdir(path.join(this.dir, 'sandboxes'), { recursive: true });
    await fs.mkdir(path.join(this.dir, 'containers'), { recursive: true });
  }

  getSandbox(id: string): Promise<SandboxRecord | undefined> {
    return this.sandboxIndex.get(id);
  }
  putSandbox(r: SandboxRecord): Promise<void> {
    return this.sandboxIndex.put(r);
  }
  deleteSandbox(id: string): Promise<void> {
    return this.sandboxIndex.remove(id);
  }
  async sandboxes(): Promise<SandboxRecord[]> {
    return [...(await this.sandboxIndex.list()).values()];
  }

  getContainer(id: string): Promise<ContainerRecord | undefined> {
    return this.containerIndex.get(id);
  }
  putContainer(r: ContainerRecord): Promise<void> {
    return this.containerIndex.put(r);
  }
  deleteContainer(id: string): Promise<void> {
    return this.containerIndex.remove(id);
  }
  async containers(): Promise<ContainerRecord[]> {
    return [...(await this.containerIndex.list()).values()];
  }
}
