/**
 * Stats from the pod's cgroups (built-in stage1 only; rktlet answered "not implemented", and a real rkt still
 * does: UNIMPLEMENTED, so the kubelet falls back to cAdvisor). Each app has its own cgroup below the pod's, so a
 * container's numbers are its own and the pod's include the stage1 and the monitors. cgroup v1 is read with the
 * shared src/host reader; usage_nano_cores comes from the previous sample (a rate, not state: a restart only
 * delays the first value).
 */
import { UnimplementedError } from '../../errors';
import { CpuRateTracker } from '../../host/cgroup-v1';
import { readCgroupStats, type CgroupStats } from './stage1/cgroup-stats';
import type { CallContext } from '../backend';
import type * as cri from '../../cri/types';
import type * as v1 from './api';
import type { RktShared } from './context';
import { containerMetadata, criAnnotations, sandboxMetadata } from './convert';
import { CONTAINER_ID_ANNOTATION } from './records';
import { crimuxPods, findContainer, findSandbox } from './lookup';
import { rootfsKey } from './stage1/context';
import { NotFoundError } from '../../errors';

const rates = new CpuRateTracker();
const u64 = (n: bigint | number | undefined): { value: string } | undefined =>
  n === undefined ? undefined : { value: String(n) };

function usage(
  key: string,
  st: CgroupStats,
  ts: bigint,
): { cpu: cri.ContainerStats['cpu']; memory: cri.ContainerStats['memory'] } {
  const rate = st.cpuUsageNs === undefined ? undefined : rates.rate(key, ts, st.cpuUsageNs);
  const m = st.memory;
  const available =
    m?.limitBytes !== undefined
      ? m.limitBytes > m.workingSetBytes
        ? m.limitBytes - m.workingSetBytes
        : 0n
      : undefined;
  return {
    cpu: { timestamp: ts.toString(), usage_core_nano_seconds: u64(st.cpuUsageNs), usage_nano_cores: u64(rate) },
    memory: m
      ? {
          timestamp: ts.toString(),
          working_set_bytes: u64(m.workingSetBytes),
          usage_bytes: u64(m.usageBytes),
          available_bytes: u64(available),
          rss_bytes: u64(m.rssBytes),
          page_faults: u64(m.pageFaults),
          major_page_faults: u64(m.majorPageFaults),
        }
      : null,
  };
}

function need(ctx: RktShared): NonNullable<RktShared['stage1']> {
  if (!ctx.stage1)
    throw new UnimplementedError('stats: not reported by a real rkt (the kubelet falls back to cAdvisor)');
  return ctx.stage1;
}

async function appStats(ctx: RktShared, id: string, uuid: string, app: v1.App): Promise<cri.ContainerStats> {
  const h = await need(ctx).appHandle(uuid, app.name);
  const ts = ctx.host.clock.nowNs();
  const st = await readCgroupStats(need(ctx).ctx.hierarchies, h.stored.cgroup);
  const layer = ctx.rootfs ? await ctx.rootfs.usage(rootfsKey(uuid, app.name)).catch(() => undefined) : undefined;
  return {
    attributes: {
      id,
      metadata: containerMetadata(app),
      labels: { ...(app.user_labels ?? {}) },
      annotations: criAnnotations(app.user_annotations),
    },
    ...usage(`c:${id}`, st, ts),
    writable_layer: layer
      ? {
          timestamp: ts.toString(),
          fs_id: { mountpoint: h.infoDir },
          used_bytes: u64(layer.bytes),
          inodes_used: u64(layer.inodes),
        }
      : null,
  };
}

export async function containerStats(ctx: RktShared, cc: CallContext, id: string): Promise<cri.ContainerStats> {
  need(ctx);
  const rec = await findContainer(ctx, id, cc.signal);
  if (!rec) throw new NotFoundError(`container stats ${id}: container not found`);
  return appStats(ctx, id, rec.uuid, await ctx.pm.appStatus(rec.uuid, rec.app, cc.signal));
}

export async function listContainerStats(ctx: RktShared, cc: CallContext): Promise<cri.ContainerStats[]> {
  need(ctx);
  const out: cri.ContainerStats[] = [];
  for (const { pod } of crimuxPods(await ctx.pm.list(cc.signal))) {
    for (const app of pod.apps ?? []) {
      const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
      if (cid && app.state === 'running') out.push(await appStats(ctx, cid, pod.name, app));
    }
  }
  return out;
}

async function podStats(ctx: RktShared, id: string, pod: v1.Pod): Promise<cri.PodSandboxStats> {
  const { cgroup } = await need(ctx).podHandle(pod.name);
  const ts = ctx.host.clock.nowNs();
  const st = await readCgroupStats(need(ctx).ctx.hierarchies, cgroup);
  const containers: cri.ContainerStats[] = [];
  for (const app of pod.apps ?? []) {
    const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
    if (cid && app.state === 'running') containers.push(await appStats(ctx, cid, pod.name, app));
  }
  return {
    attributes: {
      id,
      metadata: sandboxMetadata(pod),
      labels: { ...(pod.user_labels ?? {}) },
      annotations: criAnnotations(pod.user_annotations),
    },
    linux: {
      ...usage(`p:${id}`, st, ts),
      process: { timestamp: ts.toString(), process_count: u64(st.pids) },
      containers,
    },
  };
}

export async function podSandboxStats(ctx: RktShared, cc: CallContext, id: string): Promise<cri.PodSandboxStats> {
  need(ctx);
  const rec = await findSandbox(ctx, id, cc.signal);
  if (!rec?.uuid) throw new NotFoundError(`pod sandbox stats ${id}: not found`);
  return podStats(ctx, id, await ctx.pm.status(rec.uuid, cc.signal));
}

export async function listPodSandboxStats(ctx: RktShared, cc: CallContext): Promise<cri.PodSandboxStats[]> {
  need(ctx);
  const out: cri.PodSandboxStats[] = [];
  for (const { id, pod } of crimuxPods(await ctx.pm.list(cc.signal)))
    if (pod.state === 'running') out.push(await podStats(ctx, id, pod));
  return out;
}
