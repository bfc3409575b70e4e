/**
 * The dependencies of `crimux rkt …` (cli.ts) from crimux's configuration: the built-in stage1 on the configured
 * data dir (or --dir), app roots and `image` commands on the shared OCI store. Opened without start-up cleanup,
 * so the CLI never touches a create the running daemon has in progress.
 */
import type { Config } from '../../config/types';
import type { ImageStore, SnapshotStore } from '../../images/types';
import { nullLogger, type Logger } from '../../log/logger';
import path from 'node:path';
import { SnapshotRootfs, StoreImageOps } from './images';
import type { RktCliDeps } from './cli';
import { createStage1Manager } from './stage1/create';

export function rktCliDeps(
  config: Config,
  sharedImages: ImageStore & SnapshotStore,
  log: Logger = nullLogger(),
): RktCliDeps {
  const rkt = config.backends.rkt;
  return {
    openManager: (dir) =>
      createStage1Manager({
        root: dir || rkt.stage1.root || path.join(config.stateDir, 'backends', 'rkt'),
        cgroupParent: rkt.stage1.cgroupParent,
        nspawnPath: rkt.stage1.nspawnPath,
        conmonPath: rkt.stage1.conmonPath,
        helperPath: rkt.stage1.helperPath,
        readyTimeoutMs: rkt.stage1.readyTimeoutSeconds * 1000,
        rootfs: new SnapshotRootfs(sharedImages, log),
        images: new StoreImageOps(sharedImages, log),
        log,
        cleanup: false,
      }),
    stdout: (c) => process.stdout.write(c),
    stderr: (c) => process.stderr.write(c),
    stdin: process.stdin,
  };
}
