/** What the docker backend's operation files share: the engine seam and the helpers built on it. */
import type { Config } from '../../config/types';
import type { DockerBackendConfig } from './config';
import type { DockerEngine } from './engine-client';
import type { DockerImageStore } from './images';
import type { ImageTransfer } from './image-transfer';
import type { ImageLayers } from './identity';
import type { Lookup } from './lookup';
import type { LogCopiers } from './log-copiers';
import type { PodNetworking } from '../../network';
import type { BackendHost } from '../host';

export interface DockerShared {
  /** Clock, record files, undo: the daemon's shared services. */
  readonly host: BackendHost;
  readonly engine: DockerEngine;
  readonly lookup: Lookup;
  readonly images: DockerImageStore;
  /** Docker's image for a container, transferred from the shared store when only that store has it. */
  readonly transfer: ImageTransfer;
  /** The shared store's unpacked images, where a container's user and groups are resolved (identity.ts). */
  readonly layers?: ImageLayers;
  readonly network: PodNetworking;
  readonly copiers: LogCopiers;
  readonly config: Config;
  readonly docker: DockerBackendConfig;
  /** Docker runtime name per handler name (handler option dockerRuntime); '' for dockerd's default. */
  readonly runtimes: ReadonlyMap<string, string>;
  /** crimux's own oom_score_adj: the lowest value runc can set for a container here. */
  readonly oomScoreAdjFloor: number;
}
