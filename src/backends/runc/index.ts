/**
 * createRuncBackend: the runc backend's factory (registered in src/backends/all.ts). Validates the handler options
 * and builds the shared parts; touches no host state yet (start() recovers from disk, and a missing runc or
 * conmon only makes the backend unhealthy).
 */
import { OomWatcher } from '../../host/oom-watch';
import type { BackendFactory } from '../registry';
import type { Snapshot } from '../../images/types';
import { hostCgroups } from '../../host/cgroup';
import { shippedRuntimeDefaultProfile } from '../../host/seccomp';
import type { RuncShared } from './context';
import { Engine } from './engine';
import { Layout } from './layout';
import { checkDistinctRoots, parseHandlerOptions } from './options';
import { Reaper } from './reaper';
import { RecordStore } from './records';
import { RuncBackend } from './backend';
import { ownOomScoreAdj } from '../../host/oom-score';
import { driverRuntimeArgs, podCgroupParent, removePodCgroup } from './cgroup-driver';

export const createRuncBackend: BackendFactory = (deps) => {
  const runc = deps.config.backends.runc;
  const log = deps.log.child({ backend: 'runc' });
  // The driver's runtime flag goes on every runc call of every handler (conmon passes it on as --runtime-arg).
  const handlers = deps.handlers.map((h) => {
    const o = parseHandlerOptions(h, { runtimePath: runc.runtimePath, runDir: deps.runDir });
    return { ...o, runtimeArgs: [...driverRuntimeArgs(runc.cgroupDriver), ...o.runtimeArgs] };
  });
  checkDistinctRoots(handlers);
  const layout = new Layout(deps.stateDir, deps.runDir);
  const engine = new Engine(handlers, runc.conmonPath, layout, runc.logSizeMaxBytes);
  const mounting = new Map<string, Promise<Snapshot>>();
  const launching = new Map<string, Promise<number>>();
  // Removal never races a mount or launch still in flight for the same container.
  const inFlight = (id: string): Promise<unknown> | undefined => {
    const work = [mounting.get(id), launching.get(id)].filter((p) => p !== undefined);
    return work.length > 0 ? Promise.allSettled(work) : undefined;
  };
  const cgroups = hostCgroups();
  const reaper = new Reaper(
    layout.trashDir,
    engine,
    deps.sharedImages,
    log,
    inFlight,
    (parent) => removePodCgroup(cgroups, parent),
    (id) => podCgroupParent(runc.cgroupDriver, runc.cgroupParent, id, '').parent,
  );
  const shared: RuncShared = {
    config: deps.config,
    runc,
    log,
    host: deps.host,
    layout,
    records: new RecordStore(layout, log, deps.host.files),
    engine,
    images: deps.sharedImages,
    network: deps.host.podNetwork(deps.config, deps.log),
    cgroups,
    oomWatch: new OomWatcher((id, err) =>
      log.warn('cannot record an OOM kill', { container: id, error: err instanceof Error ? err.message : String(err) }),
    ),
    locks: deps.host.keyedMutex(),
    seccompProfile: runc.seccompProfile || shippedRuntimeDefaultProfile(),
    oomScoreAdjFloor: ownOomScoreAdj(),
    mounting,
    launching,
    reaper,
  };
  return new RuncBackend(shared);
};

export { RuncBackend } from './backend';
