/** Builds a ready Stage1PodManager from plain options (used by the backend factory, the CLI and tests). */
import path from 'node:path';
import type { Logger } from '../../../log/logger';
import { detectHierarchies } from './cgroups';
import { DEFAULT_HELPER_PATH, type RootfsProvider, type Stage1Context } from './context';
import { Stage1Layout } from './layout';
import { Stage1PodManager, type ImageOps } from './manager';

export interface Stage1Options {
  /** Data dir (pods/…, bin/enter-runtime). */
  readonly root: string;
  readonly cgroupParent: string;
  readonly nspawnPath: string;
  readonly conmonPath: string;
  /** crimux-stage1; default DEFAULT_HELPER_PATH. */
  readonly helperPath?: string;
  readonly readyTimeoutMs: number;
  readonly rootfs: RootfsProvider;
  readonly images: ImageOps;
  readonly log: Logger;
  /** Clean pods left half-created or half-removed (false for a CLI next to a running daemon). Default true. */
  readonly cleanup?: boolean;
}

/** Detects cgroup hierarchies, writes the enter-runtime and cleans interrupted pods; then the manager is usable. */
export async function createStage1Manager(opts: Stage1Options, signal?: AbortSignal): Promise<Stage1PodManager> {
  const ctx: Stage1Context = {
    layout: new Stage1Layout(opts.root),
    hierarchies: await detectHierarchies(),
    nspawnPath: opts.nspawnPath,
    conmonPath: opts.conmonPath,
    helperPath: opts.helperPath || DEFAULT_HELPER_PATH,
    runtimePath: path.join(opts.root, 'bin', 'enter-runtime'),
    cgroupParent: opts.cgroupParent,
    readyTimeoutMs: opts.readyTimeoutMs,
    rootfs: opts.rootfs,
    log: opts.log.child({ component: 'rkt-stage1' }),
  };
  const mgr = new Stage1PodManager(ctx, opts.images);
  await mgr.init(signal, opts.cleanup ?? true);
  return mgr;
}
