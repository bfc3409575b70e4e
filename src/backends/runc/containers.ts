/**
 * Container lifecycle of the runc backend. CRI semantics honoured here (as CRI-O's container_*.go):
 *  - CreateContainer with an ID that has leftovers (a create cut short by a crash) removes them first;
 *  - StartContainer of a container that is not in the created state is FailedPrecondition;
 *  - StopContainer and RemoveContainer of an unknown ID succeed (the kubelet retries them after restarts);
 *  - RemoveContainer of a running container kills it first.
 */
import { promises as fs } from 'node:fs';
import type { CallContext, CreateContainerRequest } from '../backend';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../errors';
import { conmonPaths } from '../../host/conmon';
import type { RuncShared } from './context';
import { ID_PATTERN } from './layout';
import { RECORD_VERSION, type ContainerRecord } from './records';
import { ensureLaunched, prelaunch } from './container-launch';
import { buildContainerSpec } from './spec-container';
import { layersSource } from '../../host/passwd';
import { statusMounts } from './spec-mounts';

export async function createContainer(s: RuncShared, ctx: CallContext, req: CreateContainerRequest): Promise<void> {
  const { id, config } = req;
  if (!ID_PATTERN.test(id)) throw new InvalidArgumentError(`create container: id "${id}" is not a valid ID`);
  const sandbox = s.records.sandbox(req.sandboxId);
  if (!sandbox) throw new NotFoundError(`create container: sandbox ${req.sandboxId} not found`);
  if (sandbox.phase !== 'ready')
    throw new FailedPreconditionError(`create container: sandbox ${sandbox.id} is not ready`);
  const pause = await s.engine.state(sandbox.handler, sandbox.id, s.layout.pauseDir(sandbox.id));
  if (pause.kind !== 'running')
    throw new FailedPreconditionError(`create container: the pause container of sandbox ${sandbox.id} is not running`);
  const md = config.metadata;
  if (!md) throw new InvalidArgumentError('create container: config.metadata: required');
  const imageName = config.image?.image ?? '';
  if (!imageName) throw new InvalidArgumentError('create container: config.image.image: required');
  const logPath = req.logPath;
  const log = ctx.log;

  const image = await s.images.resolve(ctx, imageName);
  const dir = s.layout.containerDir(id);
  await s.host.withUndo(log, async (undo) => {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    undo.push('remove container dir', () => fs.rm(dir, { recursive: true, force: true }));

    // The root is mounted in the background while the spec is built and the record written, and StartContainer
    // waits for it: creation answers without the mount's cost, as containerd's does. Always writable: a read-only
    // root is the spec's root.readonly, applied by runc after it made the mount points the image may lack.
    const mounting = s.images.prepare(ctx, id, image.id, { readonly: false });
    mounting.catch(() => undefined); // awaited by StartContainer or removal; never an unhandled rejection
    s.mounting.set(id, mounting);
    void mounting.finally(() => s.mounting.get(id) === mounting && s.mounting.delete(id)).catch(() => undefined);
    undo.push('remove snapshot', async (signal) => {
      await mounting.catch(() => undefined);
      await s.images.removeSnapshot({ signal, log }, id);
    });

    const built = await buildContainerSpec({
      id,
      config,
      sandbox,
      pausePid: pause.pid,
      image,
      files: layersSource(image.layerDirs),
      layout: s.layout,
      runtimeDefaultSeccomp: s.seccompProfile,
      oomScoreAdjFloor: s.oomScoreAdjFloor,
      cgroupVersion: s.cgroups.version,
      log,
    });
    const rec: ContainerRecord = {
      version: RECORD_VERSION,
      id,
      sandboxId: sandbox.id,
      metadata: md,
      labels: config.labels,
      annotations: config.annotations,
      createdAt: s.host.clock.nowNs().toString(),
      image: {
        image: imageName,
        annotations: config.image?.annotations ?? {},
        user_specified_image: config.image?.user_specified_image || imageName,
      },
      imageRef: image.digestRef ?? image.id,
      imageId: image.id,
      logPath,
      mounts: statusMounts(config.mounts),
      stopSignal: built.stopSignal,
      cgroupsPath: built.cgroupsPath,
      tty: config.tty,
      stdin: config.stdin,
      stdinOnce: config.stdin_once,
      ownPidNs: built.ownPidNs,
      resources: config.linux?.resources ?? null,
      user: { uid: built.user.uid, gid: built.user.gid, additionalGids: built.user.additionalGids },
    };
    await Promise.all([s.engine.writeBundle(dir, built.spec), s.records.putContainer(rec)]);
    undo.push('forget container record', async () => s.records.dropContainer(id));
    log.info('created container', { image: image.ref, logPath: logPath || '(none)', cgroup: built.cgroupsPath });
    prelaunch(s, rec, sandbox.handler);
  });
}

/**
 * StartContainer: waits for (or does) the launch (container-launch.ts), then `runtime start`. A failure leaves the
 * container exited with reason StartError (the kubelet then makes a new one), and nothing running.
 */
export async function startContainer(s: RuncShared, ctx: CallContext, id: string): Promise<void> {
  const rec = mustRecord(s, id);
  const sandbox = s.records.sandbox(rec.sandboxId);
  if (!sandbox) throw new NotFoundError(`start container ${id}: its sandbox ${rec.sandboxId} is gone`);
  if (rec.startError || rec.startedAt) {
    throw new FailedPreconditionError(
      `start container ${id}: not in the created state (${rec.startError ? 'start failed' : 'started'})`,
    );
  }
  const dir = s.layout.containerDir(id);
  ctx.log.info('start container');
  try {
    await s.host.withUndo(ctx.log, async (undo) => {
      undo.push('destroy container', (signal) => s.engine.destroy(sandbox.handler, id, dir, ctx.log, signal));
      const pid = await ensureLaunched(s, ctx, rec, sandbox.handler);
      // Created, not started: its cgroup exists and nothing in it has run yet.
      watchOom(s, id, rec.cgroupsPath);
      // Taken before `runtime start`: a process that exits at once must not finish before it "started".
      const startedAt = s.host.clock.nowNs().toString();
      await s.engine.start(sandbox.handler, id, ctx.signal);
      await s.records.updateContainer(id, { startedAt });
      ctx.log.info('started container', { pid });
    });
  } catch (err) {
    if (err instanceof FailedPreconditionError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    await s.records.updateContainer(id, { startError: { at: s.host.clock.nowNs().toString(), message } });
    throw err;
  }
}

/** `evenIfNotStarted`: StopPodSandbox also kills containers that were launched but never started. */
export async function stopContainer(
  s: RuncShared,
  ctx: CallContext,
  id: string,
  timeoutSeconds: number,
  opts: { evenIfNotStarted?: boolean } = {},
): Promise<void> {
  const rec = s.records.container(id);
  if (!rec) return; // CRI: stopping an unknown container succeeds.
  const sandbox = s.records.sandbox(rec.sandboxId);
  if (!sandbox) return;
  const dir = s.layout.containerDir(id);
  if (!rec.startedAt && !opts.evenIfNotStarted) return; // never ran: nothing to stop (CRI: it stays created)
  await s.launching.get(id)?.catch(() => undefined);
  const live = await s.engine.state(sandbox.handler, id, dir, rec.startedAt !== undefined);
  if (live.kind === 'created' && live.pid === 0) return; // never launched
  if (live.kind === 'exited') return;
  ctx.log.info('stop container', { timeoutSeconds, signal: rec.stopSignal });
  await s.engine.stop({
    handler: sandbox.handler,
    id,
    dir,
    signal: rec.stopSignal,
    timeoutSeconds,
    initOwnsPidNs: rec.ownPidNs === true,
    log: ctx.log,
    abort: ctx.signal,
  });
  ctx.log.info('stopped container');
}

/**
 * Kills the container if it runs, then hands it to the reaper: the record and directory disappear now, the
 * runtime state, root snapshot and files right after (reaper.ts). Idempotent; unknown IDs clean leftovers.
 */
export async function removeContainer(
  s: RuncShared,
  ctx: CallContext,
  id: string,
  opts: { snapshotCheck?: boolean } = {},
): Promise<void> {
  if (!ID_PATTERN.test(id)) return;
  const rec = s.records.container(id);
  const sandbox = rec ? s.records.sandbox(rec.sandboxId) : undefined;
  const dir = s.layout.containerDir(id);
  if (!rec && !(await s.host.files.exists(dir)) && !s.mounting.has(id) && !s.launching.has(id)) {
    // A snapshot without a directory cannot come from an interrupted create (the directory is made first), only
    // from an outside caller's guess: checked when asked (RemoveContainer), skipped before a create.
    if (opts.snapshotCheck === false || !(await s.images.keys()).includes(id)) return;
  }
  ctx.log.info('remove container', { known: rec !== undefined });
  if (rec?.startedAt && sandbox) await stopContainer(s, ctx, id, 0);
  await s.reaper.schedule({ kind: 'container', id, handler: sandbox?.handler, sandboxId: rec?.sandboxId }, dir);
  s.engine.forget(dir);
  const launching = s.launching.get(id);
  if (launching)
    void launching.catch(() => undefined).finally(() => s.launching.get(id) === launching && s.launching.delete(id));
  s.records.dropContainer(id);
  s.oomWatch.forget(id);
  ctx.log.info('removed container');
}

/** cgroup v2: an OOM kill in the container's cgroup is recorded in conmon's oom file as it happens (oom-watch.ts). */
export function watchOom(s: RuncShared, id: string, cgroupsPath: string): void {
  if (s.cgroups.version !== 2) return;
  const dir = s.cgroups.dir(cgroupsPath);
  const watching = s.oomWatch.watch(id, dir, async () => {
    s.log.info('OOM kill in container cgroup', { container: id, cgroup: dir });
    await recordOom(s, id);
  });
  if (!watching) s.log.warn('cannot watch memory.events: OOM kills may be missed', { container: id, cgroup: dir });
}

/** Marks the container OOM-killed where conmon would have (its oom file), so every later status says so. */
export async function recordOom(s: RuncShared, id: string): Promise<void> {
  await fs.writeFile(conmonPaths(s.layout.containerDir(id)).oomFile, '');
}

export function mustRecord(s: RuncShared, id: string): ContainerRecord {
  const rec = s.records.container(id);
  if (!rec) throw new NotFoundError(`find container ${id}: not found`, { context: { container: id } });
  return rec;
}
