/**
 * `rkt app add` for the built-in stage1: the app's root (an image snapshot) bound under opt/stage2/<app>/rootfs on
 * the host — which propagates into the running pod through its shared root — with volumes bound below it, then the
 * in-pod mounts (proc, dev, sys, etc files, read-only and masked paths), the app cgroup with its limits, and the
 * records: app.json, rkt/env/<app>, <app>-created, the manifest entry. Like rkt, add never pulls an image.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from '../../../errors';
import { runCommand } from '../../../host/process';
import type { AppSpec } from '../pod-manager';
import { restrictDevices } from './cgroup-devices';
import { applyLimits } from './cgroup-limits';
import { childSet, createCgroup, killCgroup, removeCgroup, type CgroupSet } from './cgroups';
import { pollUntil } from '../../../host/wait';
import { legacyRootfsKey, POD_HELPER, rootfsKey, type Stage1Context } from './context';
import { touchNew, writeAtomic } from './files';
import { APP_NAME } from './layout';
import { readManifest, withPodLock, writeManifest } from './manifest';
import { unmountAll } from './mounts';
import { envFileContent, podSideSetupScript } from './scripts';
import { renderSeccomp } from './seccomp';
import { findPod, podPid1, type StoredApp } from './state';

const ETC_FILES = ['hosts', 'resolv.conf', 'hostname'];

export async function addApp(ctx: Stage1Context, uuid: string, spec: AppSpec, signal?: AbortSignal): Promise<void> {
  if (!APP_NAME.test(spec.name))
    throw new InvalidArgumentError(`app add: "${spec.name}" is not a valid app name (ACName)`);
  const pod = await findPod(ctx, uuid);
  if (!pod) throw new NotFoundError(`app add: no matches found for "${uuid}"`);
  const pid1 = await podPid1(pod);
  if (pid1 === undefined) throw new FailedPreconditionError(`app add: pod "${uuid}" isn't currently running`);
  const log = ctx.log.child({ pod: uuid, app: spec.name });
  const ap = ctx.layout.app(pod.paths, spec.name);
  const envFile = envFileContent(spec.environment);
  await withPodLock(pod.paths.lockFile, async () => {
    const m = await readManifest(pod.paths.manifest);
    if (!m) throw new InternalError(`app add: pod "${uuid}" has no manifest`);
    if (
      m.apps.some((a) => a.name === spec.name) ||
      (await fs.stat(ap.info).then(
        () => true,
        () => false,
      ))
    ) {
      throw new AlreadyExistsError(`app add: multiple apps with name "${spec.name}"`);
    }
    log.info('add app', { image: spec.image });
    const key = rootfsKey(uuid, spec.name);
    const cgroup = childSet(m.crimux.cgroup, `app-${spec.name}`);
    try {
      await fs.mkdir(ap.info, { recursive: true });
      const prepared = await ctx.rootfs.prepare(key, spec.image, signal);
      await fs.mkdir(ap.rootfs, { recursive: true });
      // nodev: a device node in the image (or made by a root app with CAP_MKNOD) never opens a host device.
      await helperMount(ctx, ['bind', '--nodev', '--', ap.rootfs, '/', prepared.rootfs], 'bind the app root', signal);
      await prepareTargets(ctx, ap.rootfs, spec, signal);
      await runInPod(
        pid1,
        podSideSetupScript({
          helper: POD_HELPER,
          root: ap.podRootfs,
          etcFiles: ETC_FILES.map((f) => ({ src: `/rkt/etc/${f}`, dst: `/etc/${f}` })),
          maskedPaths: spec.maskedPaths,
          readonlyPaths: spec.readonlyPaths,
          readOnlyRootfs: spec.readOnlyRootfs,
        }),
        signal,
      );
      await createCgroup(ctx.hierarchies, cgroup);
      if (!(await restrictDevices(ctx.hierarchies, cgroup)))
        log.warn('no cgroup v1 devices hierarchy: the app keeps the host device policy');
      await applyLimits(ctx.hierarchies, cgroup, spec.resources);
      const logPath = spec.logPath && m.crimux.logDirectory ? path.resolve(m.crimux.logDirectory, spec.logPath) : '';
      const stored: StoredApp = { spec, imageId: prepared.imageId, rootfsKey: key, cgroup, logPath };
      await writeAtomic(ap.spec, `${JSON.stringify(stored, null, 2)}\n`);
      await writeAtomic(ap.env, envFile, 0o600);
      if (spec.seccomp) await writeAtomic(ap.seccomp, renderSeccomp(spec.seccomp), 0o600);
      await touchNew(ap.created);
      m.apps.push({ name: spec.name, image: { name: spec.image, id: prepared.imageId } });
      await writeManifest(pod.paths.manifest, m);
    } catch (err) {
      log.warn('add app failed, undoing', { error: err });
      await undoAdd(ctx, pid1, uuid, spec.name, cgroup).catch((e: unknown) =>
        log.warn('undo app add failed', { error: e }),
      );
      throw err;
    }
    log.info('added app');
  });
}

/**
 * The working dir and the volumes, on the host side (they propagate into the pod through its shared root): each
 * target is created and mounted by crimux-stage1 inside the app root, through an fd resolved there, so neither an
 * image symlink nor a container swapping a path component (another app sharing a volume) can point a volume at a
 * host directory; a read-only volume is read-only before it is attached, in the host and the pod alike.
 */
async function prepareTargets(ctx: Stage1Context, root: string, spec: AppSpec, signal?: AbortSignal): Promise<void> {
  if (spec.workingDir) await helperMount(ctx, ['mkdir', '--', root, spec.workingDir], 'create the working dir', signal);
  for (const m of spec.mounts) {
    if (!path.isAbsolute(m.containerPath)) {
      throw new InvalidArgumentError(`app add: mount target "${m.containerPath}" must be absolute`);
    }
    if (!path.isAbsolute(m.hostPath))
      throw new InvalidArgumentError(`app add: mount source "${m.hostPath}" must be absolute`);
    let isDir = true;
    try {
      isDir = (await fs.stat(m.hostPath)).isDirectory();
    } catch {
      // containerd creates a missing host path as a directory; so does crimux.
      await fs.mkdir(m.hostPath, { recursive: true });
    }
    const opts = ['--recursive', `--create=${isDir ? 'dir' : 'file'}`, ...(m.readOnly ? ['--readonly'] : [])];
    await helperMount(ctx, ['bind', ...opts, '--', root, m.containerPath, m.hostPath], `bind ${m.hostPath}`, signal);
  }
}

/** Runs crimux-stage1 on the host; args are fixed options, then "--", then paths. */
async function helperMount(
  ctx: Stage1Context,
  args: readonly string[],
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const res = await runCommand(ctx.helperPath, [...args], { timeoutMs: 30_000, signal });
  if (res.code !== 0) throw new InternalError(`app add: ${what}: ${res.stderr.trim() || `exit ${res.code}`}`);
}

/** Runs a /bin/sh script in the pod's mount and PID namespaces (PID for a /proc of the pod). */
export async function runInPod(pid1: number, script: string, signal?: AbortSignal): Promise<void> {
  const res = await runCommand('nsenter', ['-t', String(pid1), '-m', '-p', '--', '/bin/sh', '-c', script], {
    timeoutMs: 30_000,
    signal,
  });
  if (res.code !== 0) throw new InternalError(`set up app mounts in pod: ${res.stderr.trim() || `exit ${res.code}`}`);
}

/** Removes what an app add made (idempotent): in-pod mounts, host mounts, cgroup, snapshot, files. */
export async function undoAdd(
  ctx: Stage1Context,
  pid1: number | undefined,
  uuid: string,
  app: string,
  cgroup: CgroupSet | undefined,
): Promise<void> {
  const pod = await findPod(ctx, uuid);
  if (!pod) return;
  const ap = ctx.layout.app(pod.paths, app);
  if (pid1 !== undefined) {
    // One lazy unmount of the app root detaches everything below it: `umount -R` would name each submount by a path
    // inside the app root, where a container may have swapped a component for a symlink to a pod mount.
    await runCommand(
      'nsenter',
      ['-t', String(pid1), '-m', '--', 'umount', '--lazy', '--no-canonicalize', '--', ap.podRootfs],
      {
        timeoutMs: 30_000,
      },
    );
  }
  await unmountAll(ap.rootfs);
  if (cgroup) {
    await killCgroup(cgroup);
    await pollUntil(async () => ((await removeCgroup(cgroup)) ? true : undefined), { timeoutMs: 10_000 });
  }
  await ctx.rootfs.remove(rootfsKey(uuid, app));
  const legacy = legacyRootfsKey(uuid, app);
  if (legacy) await ctx.rootfs.remove(legacy);
  await fs.rm(path.dirname(ap.rootfs), { recursive: true, force: true });
  for (const f of [ap.created, ap.started, ap.status, `${ap.status}-nsready`, ap.env, ap.seccomp])
    await fs.rm(f, { force: true });
  // A status read that checked <app>-started just before it went may still record "monitor lost" in here, and a
  // conmon that outlived its app may still write its exit files: retry instead of failing on ENOTEMPTY.
  await fs.rm(ap.info, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}
