/**
 * What the runc backend's parts share: built once by the factory (index.ts), passed to sandboxes.ts,
 * containers.ts, exec.ts, stats.ts and recovery.ts. One object instead of a god class: each part stays small and
 * testable on its own.
 */
import type { Config } from '../../config/types';
import type { ImageStore, Snapshot, SnapshotStore } from '../../images/types';
import type { Logger } from '../../log/logger';
import type { PodNetworking } from '../../network';
import type { CgroupLayer } from '../../host/cgroup';
import type { OomWatcher } from '../../host/oom-watch';
import type { RuncBackendConfig } from './config';
import type { Engine } from './engine';
import type { Layout } from './layout';
import type { KeyedMutex } from '../../util/keyed-mutex';
import type { BackendHost } from '../host';
import type { Reaper } from './reaper';
import type { RecordStore } from './records';

export interface RuncShared {
  readonly config: Config;
  readonly runc: RuncBackendConfig;
  readonly log: Logger;
  /** Clock, record files, undo, locks: the daemon's shared services. */
  readonly host: BackendHost;
  readonly layout: Layout;
  readonly records: RecordStore;
  readonly engine: Engine;
  readonly images: ImageStore & SnapshotStore;
  /** The daemon's one pod network (namespaces + CNI), shared with the other backends. */
  readonly network: PodNetworking;
  /** The host's cgroup hierarchy (v1 or v2, chosen at start-up): pod cgroups, stats, OOM counts. */
  readonly cgroups: CgroupLayer;
  /** cgroup v2: watches running containers' memory.events, so OOM kills in cgroups that vanish at exit count. */
  readonly oomWatch: OomWatcher;
  /** One lock per sandbox or container ID: the router serialises per pod, this guards direct callers too. */
  readonly locks: KeyedMutex;
  /** The RuntimeDefault seccomp profile file. */
  readonly seccompProfile: string;
  /** crimux's own oom_score_adj, the lowest its containers can get here. */
  readonly oomScoreAdjFloor: number;
  /** Root snapshots being mounted in the background since CreateContainer, by container ID. */
  readonly mounting: Map<string, Promise<Snapshot>>;
  /** Runtime creates (conmon + `runtime create`) started in the background by CreateContainer, by container ID. */
  readonly launching: Map<string, Promise<number>>;
  /** Background removal (RemoveContainer / RemovePodSandbox answer before the host work is done). */
  readonly reaper: Reaper;
}
