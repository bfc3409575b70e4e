/**
 * Test scaffolding for the built-in stage1: a temp data dir, a cgroup parent of its own below the test process's
 * cgroup (so parallel test files never meet), and a cleanup that removes every pod, mount, cgroup and file —
 * run in after() whatever happened.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectHierarchies, killCgroup, removeCgroup, type CgroupSet } from '../../../src/backends/rkt/stage1/cgroups';
import { createStage1Manager } from '../../../src/backends/rkt/stage1/create';
import type { Stage1PodManager } from '../../../src/backends/rkt/stage1/manager';
import { mountsUnder, unmountAll } from '../../../src/backends/rkt/stage1/mounts';
import { createLogger, nullLogger, type Logger } from '../../../src/log/logger';
import { buildBusyboxRoot, DirRootfsProvider, TEST_IMAGE, TEST_IMAGE_ID } from './rootfs';

export interface Stage1Fixture {
  readonly dir: string;
  readonly root: string;
  readonly base: string;
  readonly cgroupParent: string;
  readonly rootfs: DirRootfsProvider;
  open(opts?: { cleanup?: boolean }): Promise<Stage1PodManager>;
  /** Removes every pod (through a fresh manager), the cgroup parent, mounts and the temp dir. */
  cleanup(): Promise<void>;
}

export function testLogger(): Logger {
  return process.env.RKT_TEST_DEBUG ? createLogger({ level: 'debug' }) : nullLogger();
}

export const TEST_IMAGES = {
  fetch: async (): Promise<string> => TEST_IMAGE_ID,
  list: async () => [{ id: TEST_IMAGE_ID, name: TEST_IMAGE, import_time: '0', last_used_time: '0', size: 0 }],
  remove: async (): Promise<void> => undefined,
};

export async function stage1Fixture(tag: string): Promise<Stage1Fixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `crimux-rkt-${tag}-`));
  const base = await buildBusyboxRoot(dir);
  const root = path.join(dir, 'data');
  const cgroupParent = `crimux-rkt-test-${tag}-${process.pid}`;
  const rootfs = new DirRootfsProvider(base, path.join(dir, 'snap'));
  const open = (opts: { cleanup?: boolean } = {}): Promise<Stage1PodManager> =>
    createStage1Manager({
      root,
      cgroupParent,
      nspawnPath: 'systemd-nspawn',
      conmonPath: 'conmon',
      readyTimeoutMs: 20_000,
      rootfs,
      images: TEST_IMAGES,
      log: testLogger(),
      cleanup: opts.cleanup,
    });
  return {
    dir,
    root,
    base,
    cgroupParent,
    rootfs,
    open,
    cleanup: async () => {
      const pm = await open();
      for (const p of await pm.list()) await pm.rm(p.name).catch(() => undefined);
      await removeParent(cgroupParent);
      await unmountAll(dir).catch(() => undefined);
      if ((await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** The test's cgroup parent in every hierarchy (it is relative: below this process's own cgroup). */
export async function parentSet(parent: string): Promise<CgroupSet> {
  const out: Record<string, string> = {};
  for (const h of await detectHierarchies()) out[h.mount] = path.posix.join(h.own, parent);
  return out;
}

/** Removes the test's cgroup parent (and anything left below it) from every hierarchy. */
export async function removeParent(parent: string): Promise<void> {
  const set = await parentSet(parent);
  await killCgroup(set);
  await removeCgroup(set);
}

/** Cgroups still below the parent (a leak check). */
export async function cgroupLeftovers(parent: string): Promise<string[]> {
  const out: string[] = [];
  for (const [mount, p] of Object.entries(await parentSet(parent))) {
    const d = path.join(mount, p);
    const entries = await fs.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) out.push(path.join(d, e.name));
  }
  return out;
}
