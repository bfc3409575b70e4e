/**
 * `rkt app rm` for the built-in stage1: stop the app if it runs, unmount its root inside the pod and then on the
 * host, drop its cgroup, snapshot and files, and rewrite the manifest. Also cleans an app whose add was cut short
 * by a crash (files but no manifest entry), so a retried remove always converges.
 */
import path from 'node:path';
import { NotFoundError } from '../../../errors';
import { childSet } from './cgroups';
import { exists } from '../../../util/fs';
import type { Stage1Context } from './context';
import { readManifest, withPodLock, writeManifest } from './manifest';
import { undoAdd } from './app-add';
import { stopApp } from './app-run';
import { findPod, podPid1, readStoredApp } from './state';

export async function removeApp(ctx: Stage1Context, uuid: string, app: string, signal?: AbortSignal): Promise<void> {
  const pod = await findPod(ctx, uuid);
  if (!pod) throw new NotFoundError(`app rm: no matches found for "${uuid}"`);
  const ap = ctx.layout.app(pod.paths, app);
  const m = await readManifest(pod.paths.manifest);
  const listed = m?.apps.some((a) => a.name === app) ?? false;
  if (!listed && !(await exists(ap.info)) && !(await exists(path.dirname(ap.rootfs)))) {
    throw new NotFoundError(`app rm: cannot find app "${app}" in the pod`);
  }
  const log = ctx.log.child({ pod: uuid, app });
  log.info('remove app');
  const stored = await readStoredApp(pod.paths, ctx, app);
  if (stored) await stopApp(ctx, uuid, app, 0, signal);
  await withPodLock(pod.paths.lockFile, async () => {
    const cgroup = stored?.cgroup ?? (m ? childSet(m.crimux.cgroup, `app-${app}`) : undefined);
    await undoAdd(ctx, await podPid1(pod), uuid, app, cgroup);
    const fresh = await readManifest(pod.paths.manifest);
    if (fresh && fresh.apps.some((a) => a.name === app)) {
      await writeManifest(pod.paths.manifest, { ...fresh, apps: fresh.apps.filter((a) => a.name !== app) });
    }
  });
  log.info('removed app');
}
