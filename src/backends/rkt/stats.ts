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

function need(s: RktShared): NonNullable<RktShared['stage1']> {
  if (!s.stage1) throw new UnimplementedError('stats: not reported by a real rkt (the kubelet falls back to cAdvisor)');
  return s.stage1;
}

async function appStats(s: RktShared, id: string, uuid: string, app: v1.App): Promise<cri.ContainerStats> {
  const h = await need(s).appHandle(uuid, app.name);
  const ts = s.host.clock.nowNs();
  const st = await readCgroupStats(need(s).ctx.hierarchies, h.stored.cgroup);
  const layer = s.rootfs ? await s.rootfs.usage(rootfsKey(uuid, app.name)).catch(() => undefined) : undefined;
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

export async function containerStats(s: RktShared, ctx: CallContext, id: string): Promise<cri.ContainerStats> {
  need(s);
  const rec = await findContainer(s, id, ctx.signal);
  if (!rec) throw new NotFoundError(`container stats ${id}: container not found`);
  return appStats(s, id, rec.uuid, await s.pm.appStatus(rec.uuid, rec.app, ctx.signal));
}

export async function listContainerStats(s: RktShared, ctx: CallContext): Promise<cri.ContainerStats[]> {
  need(s);
  const out: cri.ContainerStats[] = [];
  for (const { pod } of crimuxPods(await s.pm.list(ctx.signal))) {
    for (const app of pod.apps ?? []) {
      const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
      if (cid && app.state === 'running') out.push(await appStats(s, cid, pod.name, app));
    }
  }
  return out;
}

async function podStats(s: RktShared, id: string, pod: v1.Pod): Promise<cri.PodSandboxStats> {
  const { cgroup } = await need(s).podHandle(pod.name);
  const ts = s.host.clock.nowNs();
  const st = await readCgroupStats(need(s).ctx.hierarchies, cgroup);
  const containers: cri.ContainerStats[] = [];
  for (const app of pod.apps ?? []) {
    const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
    if (cid && app.state === 'running') containers.push(await appStats(s, cid, pod.name, app));
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

export async function podSandboxStats(s: RktShared, ctx: CallContext, id: string): Promise<cri.PodSandboxStats> {
  need(s);
  const rec = await findSandbox(s, id, ctx.signal);
  if (!rec?.uuid) throw new NotFoundError(`pod sandbox stats ${id}: not found`);
  return podStats(s, id, await s.pm.status(rec.uuid, ctx.signal));
}

export async function listPodSandboxStats(s: RktShared, ctx: CallContext): Promise<cri.PodSandboxStats[]> {
  need(s);
  const out: cri.PodSandboxStats[] = [];
  for (const { id, pod } of crimuxPods(await s.pm.list(ctx.signal)))
    if (pod.state === 'running') out.push(await podStats(s, id, pod));
  return out;
}
