/**
 * Container operations: a container is a qcow2 overlay hot-plugged into the pod's VM plus a process the guest
 * agent runs in its own namespaces. Stop/remove are idempotent (CRI): an unknown or already exited container is
 * success; a dead VM means its containers are already exited.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DeadlineExceededError, FailedPreconditionError, NotFoundError } from '../../errors';
import type { CallContext, CreateContainerRequest, ExecSyncResult } from '../backend';
import type * as cri from '../../cri/types';
import type { VmShared } from './context';
import type { ContainerState, ExecReply } from './protocol';
import { processUser, securityPlan } from '../../host/container-policy';
import { layersSource } from '../../host/passwd';
import { shippedRuntimeDefaultProfile } from '../../host/seccomp';
import { processArgs, processCwd, processEnv } from '../../host/container-process';
import { podHostname } from '../../host/pod-etc';
import { guestDeviceRequests, guestOciSpec, mountFiles, podFiles, validateContainer } from './spec';
import type { ContainerRecord, PodRecord } from './records';
import { msToNsString } from '../../util/clock';
import { criResourceNumbers } from '../../host/cri-resources';

export async function createContainer(s: VmShared, ctx: CallContext, req: CreateContainerRequest): Promise<void> {
  const pod = s.rt.pods.get(req.sandboxId);
  if (!pod) throw new NotFoundError(`create container: sandbox ${req.sandboxId} not found`);
  validateContainer(req.config);
  const ref = req.config.image?.image ?? '';
  const image = await s.images.resolve(ctx, ref);
  // The policy of the runc backend, computed here on the host, enforced by runc in the guest.
  const sc = req.config.linux?.security_context ?? null;
  const sec = await securityPlan(sc, {
    runtimeDefaultSeccomp: s.cfg.seccompProfile || shippedRuntimeDefaultProfile(),
    sandboxPrivileged: pod.config.linux?.security_context?.privileged ?? false,
  });
  const user = await processUser(sc, image.config, layersSource(image.layerDirs));
  const devices = await guestDeviceRequests(req.config);
  await s.rt.withLock(pod.id, async () => {
    if (pod.containers[req.id]) return; // a retried create: keep the result
    if (!s.rt.checkAlive(pod)) throw new FailedPreconditionError(`create container: sandbox ${pod.id} is not ready`);
    ctx.log.info('vm: create container', { image: ref });
    const mounts = mountFiles(req.config.mounts);
    if (mounts.skipped.length > 0) ctx.log.warn('vm: mounts not copied into the VM', { skipped: mounts.skipped });
    const base = await s.disks.base(ctx, image.id, image.ref);
    const overlay = path.join(s.rt.store.podDir(pod.id), `ctr-${req.id.slice(0, 16)}.qcow2`);
    await s.disks.overlay(base, overlay);
    const vm = s.rt.vmFor(pod);
    const lun = pod.nextLun++;
    const serial = `ctr-${req.id.slice(0, 16)}`;
    try {
      await vm.hotplug(lun, overlay, serial);
      const hostname = podHostname(pod.config, false);
      const res = criResourceNumbers(req.config.linux?.resources, 'config.linux.resources');
      await vm.request(
        {
          op: 'create',
          spec: {
            cid: req.id,
            serial,
            readonlyRootfs: sec.readonlyRootfs,
            oci: guestOciSpec({
              args: processArgs(req.config, image.config),
              env: processEnv(req.config, image.config, { hostname }),
              cwd: processCwd(req.config, image.config),
              hostname,
              user,
              sec,
            }),
            ...(devices.length > 0 ? { devices } : {}),
            podPid: sc?.namespace_options?.pid === 'POD',
            files: [...(podFiles(pod.config, hostname, pod.net?.ip) ?? []), ...mounts.files],
            memoryLimit: res.memoryLimitBytes,
            cpuQuota: res.cpuQuota,
            cpuPeriod: res.cpuPeriod,
            stdin: req.config.stdin,
          },
        },
        60_000,
      );
    } catch (err) {
      await vm.unplug(lun).catch(() => undefined);
      fs.rmSync(overlay, { force: true });
      throw err;
    }
    const c: ContainerRecord = {
      id: req.id,
      podId: pod.id,
      config: req.config,
      imageId: image.id,
      imageRef: image.ref,
      digestRef: image.digestRef,
      createdAt: s.rt.host.clock.nowNs().toString(),
      state: 'created',
      lun,
      serial,
      overlay,
      stopSignal: image.config.stopSignal || 'SIGTERM',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      logPath: req.logPath,
    };
    s.rt.addContainer(pod, c);
    s.rt.store.save(pod);
    ctx.log.info('vm: container created', { lun });
  });
}

function find(s: VmShared, id: string): { pod: PodRecord; c: ContainerRecord } {
  const pod = s.rt.podOfContainer(id);
  const c = pod?.containers[id];
  if (!pod || !c) throw new NotFoundError(`container ${id} not found`);
  return { pod, c };
}

export async function startContainer(s: VmShared, ctx: CallContext, id: string): Promise<void> {
  const { pod, c } = find(s, id);
  await s.rt.withLock(pod.id, async () => {
    if (c.state !== 'created') throw new FailedPreconditionError(`start container ${id}: it is ${c.state}`);
    if (!s.rt.checkAlive(pod)) throw new FailedPreconditionError(`start container ${id}: the pod VM is not running`);
    ctx.log.info('vm: start container');
    const r = await s.rt.vmFor(pod).request({ op: 'start', cid: id }, 30_000);
    const st = r.state as ContainerState;
    c.startedAt = msToNsString(st.startedAt ?? Date.now());
    // A fast process may already have exited (its exit event came first): keep that.
    if (c.state === 'created') c.state = 'running';
    s.rt.store.save(pod);
    ctx.log.info('vm: container started', { pid: st.pid });
  });
}

export async function stopContainer(s: VmShared, ctx: CallContext, id: string, timeoutSeconds: number): Promise<void> {
  const pod = s.rt.podOfContainer(id);
  const c = pod?.containers[id];
  if (!pod || !c || c.state === 'exited') return; // CRI: stopping an unknown or stopped container succeeds
  if (!s.rt.checkAlive(pod)) return; // the VM is gone: markDead recorded the exit
  ctx.log.info('vm: stop container', { timeoutSeconds, signal: c.stopSignal });
  const timeoutMs = timeoutSeconds * 1000;
  const r = await s.rt.vmFor(pod).request({ op: 'stop', cid: id, signal: c.stopSignal, timeoutMs }, timeoutMs + 30_000);
  const st = r.state as ContainerState;
  // The exit event normally came first; re-read the state (it may have changed during the await).
  if ((c.state as ContainerRecord['state']) !== 'exited' && st.state === 'exited') {
    s.rt.onEvent(pod.id, {
      ev: 'exit',
      cid: id,
      exitCode: st.exitCode ?? 137,
      finishedAt: st.finishedAt ?? Date.now(),
    });
  }
  ctx.log.info('vm: container stopped', { exitCode: c.exitCode });
}

export async function removeContainer(s: VmShared, ctx: CallContext, id: string): Promise<void> {
  const pod = s.rt.podOfContainer(id);
  const c = pod?.containers[id];
  if (!pod || !c) return; // CRI: removing an unknown container succeeds
  await s.rt.withLock(pod.id, async () => {
    ctx.log.info('vm: remove container');
    if (s.rt.checkAlive(pod)) {
      const vm = s.rt.vmFor(pod);
      await vm.request({ op: 'remove', cid: id }, 30_000);
      await vm.unplug(c.lun);
    }
    fs.rmSync(c.overlay, { force: true });
    s.rt.dropContainer(pod, id);
    s.rt.store.save(pod);
    ctx.log.info('vm: container removed');
  });
  await gcImageDisks(s, ctx);
}

/** After removals: drop cached image disks of images that were removed from the store. */
export async function gcImageDisks(s: VmShared, ctx: CallContext): Promise<void> {
  const inUse = new Set([...s.rt.pods.values()].flatMap((p) => Object.values(p.containers).map((c) => c.imageId)));
  await s.disks
    .gc(ctx, inUse, s.images)
    .catch((err: unknown) => ctx.log.warn('vm: image disk gc failed', { error: err }));
}

export async function execSync(
  s: VmShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  timeoutSeconds: number,
): Promise<ExecSyncResult> {
  const { pod, c } = find(s, id);
  if (c.state !== 'running' || !s.rt.checkAlive(pod))
    throw new FailedPreconditionError(`exec in container ${id}: not running`);
  const timeoutMs = timeoutSeconds > 0 ? timeoutSeconds * 1000 : 0;
  ctx.log.debug('vm: exec sync', { cmd: cmd[0], timeoutSeconds });
  // Without a timeout of its own, the caller's deadline (ctx.signal) still bounds the wait; the hour is a backstop.
  const r = (await s.rt
    .vmFor(pod)
    .request(
      { op: 'exec', cid: id, args: cmd, timeoutMs },
      timeoutMs ? timeoutMs + 30_000 : 3_600_000,
    )) as unknown as ExecReply;
  if (r.timedOut) throw new DeadlineExceededError(`exec in container ${id}: timed out after ${timeoutSeconds} s`);
  return { stdout: Buffer.from(r.stdout, 'base64'), stderr: Buffer.from(r.stderr, 'base64'), exitCode: r.exitCode };
}

/**
 * UpdateContainerResources: the memory limit goes to the container's guest cgroup. The VM's own size is fixed at
 * boot (microvm has no memory hot-plug), so a limit above the guest RAM only caps at the guest's size.
 */
export async function updateResources(
  s: VmShared,
  ctx: CallContext,
  id: string,
  resources: cri.ContainerResources,
): Promise<void> {
  const { pod, c } = find(s, id);
  if (c.state === 'exited' || !s.rt.checkAlive(pod))
    throw new FailedPreconditionError(`update container ${id}: not running`);
  const res = criResourceNumbers(resources.linux, 'linux');
  ctx.log.info('vm: update container resources', { memoryLimit: res.memoryLimitBytes });
  const { memoryLimitBytes: memoryLimit, cpuQuota, cpuPeriod } = res;
  await s.rt.vmFor(pod).request({ op: 'update', cid: id, memoryLimit, cpuQuota, cpuPeriod }, 15_000);
}

export function reopenLog(s: VmShared, id: string): void {
  const { c } = find(s, id);
  if (c.state !== 'running') throw new FailedPreconditionError(`reopen log of container ${id}: not running`);
  s.rt.logOf(id)?.reopen();
}

export { find as findContainer };
