/**
 * Usage samples from the pod's cgroups (built-in stage1 only; rktlet answered "not implemented", and a real rkt
 * still does: UNIMPLEMENTED, so the kubelet falls back to cAdvisor). Each app has its own cgroup below the pod's,
 * so a container's numbers are its own and the pod's include the stage1 and the monitors. The router shapes them.
 */
import { UnimplementedError } from '../../errors';
import { readCgroupStats } from './stage1/cgroup-stats';
import type { CallContext, ContainerUsage, SandboxUsage } from '../backend';
import type * as v1 from './api';
import type { RktShared } from './context';
import { CONTAINER_ID_ANNOTATION } from './records';
import { crimuxPods, findContainer, findSandbox } from './lookup';
import { rootfsKey } from './stage1/context';
import { NotFoundError } from '../../errors';

function need(s: RktShared): NonNullable<RktShared['stage1']> {
  if (!s.stage1) throw new UnimplementedError('stats: not reported by a real rkt (the kubelet falls back to cAdvisor)');
  return s.stage1;
}

async function appUsage(s: RktShared, id: string, uuid: string, app: v1.App): Promise<ContainerUsage> {
  const h = await need(s).appHandle(uuid, app.name);
  const st = await readCgroupStats(need(s).ctx.hierarchies, h.stored.cgroup, () => s.host.clock.nowNs());
  const layer = s.rootfs ? await s.rootfs.usage(rootfsKey(uuid, app.name)).catch(() => undefined) : undefined;
  return {
    id,
    atNs: st.cpuReadAtNs,
    cpuNs: st.cpuUsageNs,
    memory: st.memory,
    ...(layer ? { writableLayer: { mountpoint: h.infoDir, usedBytes: layer.bytes, inodesUsed: layer.inodes } } : {}),
  };
}

export async function containerUsage(s: RktShared, ctx: CallContext, id: string): Promise<ContainerUsage> {
  need(s);
  const rec = await findContainer(s, id, ctx.signal);
  if (!rec) throw new NotFoundError(`container stats ${id}: container not found`);
  return appUsage(s, id, rec.uuid, await s.pm.appStatus(rec.uuid, rec.app, ctx.signal));
}

export async function listContainerUsage(s: RktShared, ctx: CallContext): Promise<ContainerUsage[]> {
  need(s);
  const out: ContainerUsage[] = [];
  for (const { pod } of crimuxPods(await s.pm.list(ctx.signal))) {
    for (const app of pod.apps ?? []) {
      const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
      if (cid && app.state === 'running') out.push(await appUsage(s, cid, pod.name, app));
    }
  }
  return out;
}

async function podUsage(s: RktShared, id: string, pod: v1.Pod): Promise<SandboxUsage> {
  const { cgroup } = await need(s).podHandle(pod.name);
  const st = await readCgroupStats(need(s).ctx.hierarchies, cgroup, () => s.host.clock.nowNs());
  const containers: ContainerUsage[] = [];
  for (const app of pod.apps ?? []) {
    const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
    if (cid && app.state === 'running') containers.push(await appUsage(s, cid, pod.name, app));
  }
  return { id, atNs: st.cpuReadAtNs, cpuNs: st.cpuUsageNs, memory: st.memory, processCount: st.pids, containers };
}

export async function podSandboxUsage(s: RktShared, ctx: CallContext, id: string): Promise<SandboxUsage> {
  need(s);
  const rec = await findSandbox(s, id, ctx.signal);
  if (!rec?.uuid) throw new NotFoundError(`pod sandbox stats ${id}: not found`);
  return podUsage(s, id, await s.pm.status(rec.uuid, ctx.signal));
}

export async function listPodSandboxUsage(s: RktShared, ctx: CallContext): Promise<SandboxUsage[]> {
  need(s);
  const out: SandboxUsage[] = [];
  for (const { id, pod } of crimuxPods(await s.pm.list(ctx.signal)))
    if (pod.state === 'running') out.push(await podUsage(s, id, pod));
  return out;
}
