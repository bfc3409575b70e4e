/** What the rkt backend's CRI operations share once the backend has started. */
import type { ImageStore, SnapshotStore } from '../../images/types';
import type { Logger } from '../../log/logger';
import type { RktBackendConfig } from './config';
import type { IdIndex } from './records';
import type { SnapshotRootfs } from './images';
import type { PodNetworking } from '../../network';
import type { PodManager, PodManagerInfo } from './pod-manager';
import type { Stage1PodManager } from './stage1/manager';
import type { BackendHost } from '../host';

export interface RktShared {
  readonly pm: PodManager;
  readonly info: PodManagerInfo;
  /** Set when the built-in stage1 is the pod manager: attach, port-forward and stats need its internals. */
  readonly stage1?: Stage1PodManager;
  readonly index: IdIndex;
  /** crimux-side networking (built-in stage1 only; a real rkt runs CNI itself). */
  readonly network?: PodNetworking;
  readonly rootfs?: SnapshotRootfs;
  readonly config: RktBackendConfig;
  readonly images: ImageStore & SnapshotStore;
  readonly log: Logger;
  /** Clock, record files, undo: the daemon's shared services. */
  readonly host: BackendHost;
}
