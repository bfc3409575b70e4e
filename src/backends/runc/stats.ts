/**
 * Usage samples from the host's cgroups (src/host/cgroup.ts, v1 or v2): cumulative CPU, memory working set / usage /
 * RSS / page faults and the limit, the writable layer from the snapshot store, and for pods the network counters of
 * the pod's netns (read through /proc/<pause pid>/net/dev, no namespace switch). The router shapes them.
 */
import * as path from 'node:path';
import type { CallContext, ContainerUsage, SandboxUsage } from '../backend';
import { NotFoundError } from '../../errors';
import { readNetDev } from '../../host/net-dev';
import type { RuncShared } from './context';
import { mustRecord } from './containers';

export async function containerUsage(s: RuncShared, _ctx: CallContext, id: string): Promise<ContainerUsage> {
  const rec = mustRecord(s, id);
  const st = await s.cgroups.stats(rec.cgroupsPath, () => s.host.clock.nowNs());
  const usage = await s.images.usage(id).catch(() => ({ bytes: 0, inodes: 0 }));
  return {
    id,
    atNs: st.cpuReadAtNs,
    cpuNs: st.cpuUsageNs,
    memory: st.memory,
    writableLayer: {
      mountpoint: path.join(s.config.stateDir, 'images'),
      usedBytes: usage.bytes,
      inodesUsed: usage.inodes,
    },
  };
}

export async function listContainerUsage(s: RuncShared, ctx: CallContext): Promise<ContainerUsage[]> {
  const recs = s.records.allContainers().filter((r) => r.startedAt !== undefined);
  const all = await Promise.allSettled(recs.map((r) => containerUsage(s, ctx, r.id)));
  return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}

export async function podSandboxUsage(s: RuncShared, ctx: CallContext, id: string): Promise<SandboxUsage> {
  const rec = s.records.sandbox(id);
  if (!rec) throw new NotFoundError(`find pod sandbox ${id}: not found`, { context: { sandbox: id } });
  const st = await s.cgroups.stats(rec.cgroupParent, () => s.host.clock.nowNs());
  const live = await s.engine.state(rec.handler, id, s.layout.pauseDir(id));
  const containers = await Promise.allSettled(
    s.records
      .containersOf(id)
      .filter((c) => c.startedAt !== undefined)
      .map((c) => containerUsage(s, ctx, c.id)),
  );
  return {
    id,
    atNs: st.cpuReadAtNs,
    cpuNs: st.cpuUsageNs,
    memory: st.memory,
    processCount: st.pids,
    ...(rec.hostNetwork ? {} : { interfaces: live.kind === 'running' ? await readNetDev(live.pid) : [] }),
    containers: containers.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
  };
}

export async function listPodSandboxUsage(s: RuncShared, ctx: CallContext): Promise<SandboxUsage[]> {
  const all = await Promise.allSettled(s.records.allSandboxes().map((r) => podSandboxUsage(s, ctx, r.id)));
  return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}
