/**
 * Opening the rkt backend's context: the pod manager chosen by configuration (a real rkt when rkt.path is set,
 * else the built-in stage1 over the shared image store and crimux's CNI), and the ID index.
 */
import path from 'node:path';
import type { CallContext } from '../backend';
import type { BackendDeps } from '../registry';
import type { RktBackendConfig } from './config';
import type { RktShared } from './context';
import { IdIndex } from './records';
import { SnapshotRootfs, StoreImageOps } from './images';
import { RktCliPodManager } from './rkt-cli/manager';
import { RktRunner } from './rkt-cli/runner';
import { createStage1Manager } from './stage1/create';

export function rktConfig(deps: BackendDeps): RktBackendConfig {
  return deps.config.backends.rkt;
}

export async function openRktShared(deps: BackendDeps, ctx: CallContext): Promise<RktShared> {
  const config = rktConfig(deps);
  const log = deps.log;
  const index = new IdIndex(path.join(deps.stateDir, 'index'), deps.host.files);
  await index.init();
  if (config.rkt.path) {
    const runner = new RktRunner({
      path: config.rkt.path,
      dataDir: config.rkt.dataDir || path.join(deps.stateDir, 'rkt-data'),
      timeoutMs: config.rkt.commandTimeoutSeconds * 1000,
    });
    const pm = new RktCliPodManager(runner, {
      stage1Name: config.rkt.stage1Name,
      sandboxDir: path.join(deps.stateDir, 'rkt-sandbox'),
      readyTimeoutMs: config.stage1.readyTimeoutSeconds * 1000,
      log,
    });
    const info = await pm.info(ctx.signal);
    log.info('rkt backend uses a real rkt', { path: config.rkt.path, version: info.version });
    return { pm, info, index, config, images: deps.sharedImages, log, host: deps.host };
  }
  const rootfs = new SnapshotRootfs(deps.sharedImages, log);
  const stage1 = await createStage1Manager(
    {
      root: config.stage1.root || deps.stateDir,
      cgroupParent: config.stage1.cgroupParent,
      nspawnPath: config.stage1.nspawnPath,
      conmonPath: config.stage1.conmonPath,
      helperPath: config.stage1.helperPath,
      readyTimeoutMs: config.stage1.readyTimeoutSeconds * 1000,
      rootfs,
      images: new StoreImageOps(deps.sharedImages, log),
      log,
    },
    ctx.signal,
  );
  const info = await stage1.info(ctx.signal);
  log.info('rkt backend uses the built-in stage1', { version: info.version, root: stage1.ctx.layout.root });
  return {
    pm: stage1,
    info,
    stage1,
    index,
    network: deps.host.podNetwork(deps.config, deps.log),
    rootfs,
    config,
    images: deps.sharedImages,
    log,
    host: deps.host,
  };
}
