/**
 * `rkt stop` and `rkt rm` for the built-in stage1.
 *
 * stop: without --force, each running app gets its stop signal and up to POD_STOP_GRACE_S to exit (rkt's stop
 * without --force was a clean systemd poweroff); then nspawn gets SIGTERM, which it turns into SIGKILL for the
 * pod's PID 1 (--kill-signal), so the PID namespace and every app in it die at once and the pod lock is released.
 * rm: stop if needed, unmount everything below the pod (the pod's mount namespace went away with nspawn), move the
 * pod to exited-garbage (rkt gc's crash-safe first step), drop snapshots and cgroups, delete the directory — the
 * delete only runs once no mount is left below it, so a volume's host files can never be deleted through a bind.
 */
import { promises as fs } from 'node:fs';
import { InternalError, NotFoundError } from '../../../errors';
import { pollUntil } from '../../../host/wait';
import { killCgroup, removeCgroup, type CgroupSet } from './cgroups';
import { legacyRootfsKey, podKeyPrefix, rootfsKey, type Stage1Context } from './context';
import { listDir, readOptional } from './files';
import { exists } from '../../../util/fs';
import { lockHolder } from './liveness';
import { mountsUnder, unmountAll } from './mounts';
import { stopApp } from './app-run';
import { appStatus, findPod, type LoadedPod } from './state';

export const POD_STOP_GRACE_S = 10;

export async function stopPod(ctx: Stage1Context, uuid: string, force: boolean, signal?: AbortSignal): Promise<void> {
  const pod = await findPod(ctx, uuid);
  // Unknown or already stopped: success, as rktlet treated "no matches" and "is already stopped".
  if (!pod || pod.nspawnPid === undefined) return;
  const log = ctx.log.child({ pod: uuid });
  log.info('stop pod', { force });
  const apps = pod.manifest?.apps.map((a) => a.name) ?? [];
  if (!force) {
    await Promise.allSettled(apps.map((a) => stopApp(ctx, uuid, a, POD_STOP_GRACE_S, signal)));
  }
  const nspawn = pod.nspawnPid;
  try {
    process.kill(nspawn, 'SIGTERM');
  } catch {
    // Gone between the lock check and now.
  }
  const released = async (): Promise<true | undefined> =>
    (await lockHolder(pod.paths.dir)) === undefined ? true : undefined;
  if (!(await pollUntil(released, { timeoutMs: 10_000, signal, maxIntervalMs: 50 }))) {
    log.warn('nspawn ignored SIGTERM: killing the pod cgroup');
    if (pod.manifest) await killCgroup(pod.manifest.crimux.cgroup);
    await pollUntil(released, { timeoutMs: 10_000, signal, maxIntervalMs: 50 });
  }
  await waitForExitCodes(ctx, pod, apps, signal);
  log.info('stopped pod');
}

/** conmon records each app's exit right after the PID namespace dies; wait (bounded) so statuses read final. */
async function waitForExitCodes(
  ctx: Stage1Context,
  pod: LoadedPod,
  apps: string[],
  signal?: AbortSignal,
): Promise<void> {
  for (const app of apps) {
    const ap = ctx.layout.app(pod.paths, app);
    if (!(await exists(ap.started))) continue;
    await pollUntil(
      async () => ((await appStatus(ctx, { ...pod, nspawnPid: undefined }, app)).state === 'exited' ? true : undefined),
      { timeoutMs: 5000, signal, maxIntervalMs: 50 },
    );
  }
}

export async function removePod(ctx: Stage1Context, uuid: string, signal?: AbortSignal): Promise<void> {
  let pod = await findPod(ctx, uuid);
  if (!pod) throw new NotFoundError(`rm: no matches found for "${uuid}"`);
  const log = ctx.log.child({ pod: uuid });
  log.info('remove pod');
  if (pod.nspawnPid !== undefined) await stopPod(ctx, uuid, true, signal);
  await unmountAll(pod.paths.dir, signal);
  if (pod.dirState !== 'exited-garbage') {
    const garbage = ctx.layout.pod(uuid, 'exited-garbage');
    await fs.mkdir(ctx.layout.podsDir('exited-garbage'), { recursive: true });
    await fs.rename(pod.paths.dir, garbage.dir);
    pod = { ...pod, paths: garbage, dirState: 'exited-garbage' };
  }
  await collectGarbage(ctx, pod, signal);
  log.info('removed pod');
}

/** The last, repeatable part of rm: snapshots (every key of the pod's, recorded or not), cgroups, the directory. */
export async function collectGarbage(ctx: Stage1Context, pod: LoadedPod, signal?: AbortSignal): Promise<void> {
  await unmountAll(pod.paths.dir, signal);
  for (const app of await listDir(pod.paths.appsinfo)) {
    await ctx.rootfs.remove(rootfsKey(pod.uuid, app), signal);
    const legacy = legacyRootfsKey(pod.uuid, app);
    if (legacy) await ctx.rootfs.remove(legacy, signal);
  }
  // Roots of apps with no record here (a create killed after preparing the root, before app add wrote appsinfo).
  const prefix = podKeyPrefix(pod.uuid);
  for (const key of (await ctx.rootfs.keys?.()) ?? []) if (key.startsWith(prefix)) await ctx.rootfs.remove(key, signal);
  const cgroup = pod.manifest?.crimux.cgroup ?? parseSet(await readOptional(pod.paths.subcgroup));
  if (cgroup) {
    const gone = async (): Promise<true | undefined> => ((await removeCgroup(cgroup)) ? true : undefined);
    if (!(await gone())) {
      await killCgroup(cgroup);
      if (!(await pollUntil(gone, { timeoutMs: 10_000, signal, maxIntervalMs: 50 }))) {
        throw new InternalError(`rm ${pod.uuid}: cgroup ${Object.values(cgroup)[0] ?? ''} still has processes`);
      }
    }
  }
  const left = await mountsUnder(pod.paths.dir);
  if (left.length > 0)
    throw new InternalError(`rm ${pod.uuid}: refusing to delete with mounts left: ${left.join(', ')}`);
  // A conmon that was just killed may still be unlinking its files: retry instead of failing rm on ENOTEMPTY.
  await fs.rm(pod.paths.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

/** The subcgroup file (written before the manifest is of any use): the pod's CgroupSet as JSON. */
function parseSet(text: string | undefined): CgroupSet | undefined {
  try {
    return text ? (JSON.parse(text) as CgroupSet) : undefined;
  } catch {
    return undefined;
  }
}
