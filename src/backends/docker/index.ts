/**
 * createDockerBackend: the docker backend's factory (registered in src/backends/all.ts). Validates the handler
 * options, builds the Docker Engine client and the helpers on it; connects to nothing yet (start() does, and a
 * dockerd that is down only makes the backend unhealthy).
 */
import { ownOomScoreAdj } from '../../host/oom-score';
import type { BackendFactory, BackendDeps } from '../registry';
import { DockerBackend } from './backend';
import { HttpDockerEngine, type DockerEngine } from './engine-client';
import { DockerImageStore } from './images';
import { ImageTransfer } from './image-transfer';
import { isImageExporter } from '../../images/export';
import { Lookup } from './lookup';
import { LogCopiers } from './log-copiers';
import { parseHandlerOptions } from './options';
import { scopeToOwner } from './owner';
import { configSchema } from '../../config/schema';

/** Builds the backend on a given engine: the factory passes the real one, unit tests a fake. */
export function buildDockerBackend(deps: BackendDeps, shared_: DockerEngine): DockerBackend {
  const engine = scopeToOwner(shared_, deps.stateDir, deps.config.stateDir === configSchema.stateDir.default);
  const runtimes = new Map(deps.handlers.map((h) => [h.name, parseHandlerOptions(h).dockerRuntime]));
  const docker = deps.config.backends.docker;
  const log = deps.log.child({ backend: 'docker' });
  const source = isImageExporter(deps.sharedImages) ? deps.sharedImages : undefined;
  const { registries, sandboxImage } = deps.config.images;
  const images = new DockerImageStore(engine, registries, sandboxImage, deps.host.clock, source, deps.metrics);
  const transfer = new ImageTransfer({
    engine,
    images,
    source,
    timeoutMs: deps.config.images.pullTimeoutSeconds * 1000,
    log,
  });
  const shared = {
    host: deps.host,
    engine,
    lookup: new Lookup(engine),
    images,
    transfer,
    layers: deps.sharedImages,
    network: deps.host.podNetwork(deps.config, deps.log),
    copiers: new LogCopiers(engine, deps.stateDir, deps.host.files, log),
    config: deps.config,
    docker,
    runtimes,
    oomScoreAdjFloor: ownOomScoreAdj(),
  };
  return new DockerBackend(shared, deps.stateDir, log);
}

export const createDockerBackend: BackendFactory = (deps) => {
  const docker = deps.config.backends.docker;
  const engine = new HttpDockerEngine({
    socket: docker.socket,
    apiVersion: docker.apiVersion,
    requestTimeoutMs: docker.requestTimeoutSeconds * 1000,
  });
  return buildDockerBackend(deps, engine);
};

export { DockerBackend } from './backend';
export type { DockerEngine } from './engine-client';
