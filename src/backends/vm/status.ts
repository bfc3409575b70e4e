/** Pure mapping of vm records and guest reports into sandbox and container facts and usage samples. */
import type { ContainerStatsReply, StatsReply } from './protocol';
import type { ContainerRecord, PodRecord } from './records';
import type { BackendClock } from '../host';
import type { ContainerFacts, ContainerUsage, SandboxFacts, SandboxUsage } from '../backend';

/** A pod's facts from its record; `ready` is whether its VM still runs. */
export function sandboxFacts(pod: PodRecord, ready: boolean): SandboxFacts {
  const ns = pod.config.linux?.security_context?.namespace_options;
  return {
    id: pod.id,
    metadata: pod.config.metadata,
    ready,
    createdAtNs: pod.createdAt,
    labels: pod.config.labels,
    annotations: pod.config.annotations,
    handler: pod.handler,
    ips: pod.net?.ips ?? [],
    namespaces: { network: ns?.network ?? 'POD', pid: ns?.pid ?? 'POD', ipc: ns?.ipc ?? 'POD' },
  };
}

export function sandboxInfo(pod: PodRecord): Record<string, string> {
  return {
    info: JSON.stringify({ vm: pod.vm, network: pod.net, containers: Object.keys(pod.containers) }),
  };
}

/** A container's facts from its record (the guest agent's reports are written there as they come). */
export function containerFacts(c: ContainerRecord): ContainerFacts {
  return {
    id: c.id,
    sandboxId: c.podId,
    metadata: c.config.metadata,
    image: { image: c.config.image?.image ?? c.imageRef },
    imageRef: c.digestRef ?? c.imageId,
    imageId: c.imageId,
    labels: c.config.labels,
    annotations: c.config.annotations,
    createdAtNs: c.createdAt,
    phase: c.state,
    startedAtNs: c.startedAt,
    finishedAtNs: c.finishedAt,
    exitCode: c.exitCode,
    oomKilled: c.reason === 'OOMKilled',
    message: c.message,
    // As the CRI sent them (the guest holds a copy of each source, see spec.ts mountFiles).
    mounts: c.config.mounts,
    logPath: c.logPath,
    ...(c.user ? { user: { uid: c.user.uid, gid: c.user.gid, groups: c.user.additionalGids } } : {}),
  };
}

export function containerUsage(
  c: ContainerRecord,
  s: ContainerStatsReply | undefined,
  fsId: string,
  clock: BackendClock,
): ContainerUsage {
  return {
    id: c.id,
    atNs: clock.nowNs(),
    cpuNs: s?.cpuNs ?? 0,
    memory: { workingSetBytes: s?.workingSetBytes ?? 0, usageBytes: s?.memoryBytes ?? 0 },
    writableLayer: { mountpoint: fsId, usedBytes: s?.fsUsedBytes ?? 0, inodesUsed: s?.fsInodesUsed ?? 0 },
  };
}

/**
 * Pod usage: the guest's own numbers (cgroup root CPU, memory in use) plus the qemu process — its RSS is the
 * pod's memory on the host, which includes guest RAM it touched, the TCG cache and qemu itself (the overhead).
 */
export function podUsage(
  pod: PodRecord,
  s: StatsReply | undefined,
  qemu: { rssBytes: number; cpuNs: number },
  containers: ContainerUsage[],
  clock: BackendClock,
): SandboxUsage {
  return {
    id: pod.id,
    atNs: clock.nowNs(),
    cpuNs: Math.max(qemu.cpuNs, s?.cpuNs ?? 0),
    memory: {
      workingSetBytes: qemu.rssBytes,
      usageBytes: qemu.rssBytes,
      availableBytes: s?.memAvailableBytes ?? 0,
      rssBytes: s ? s.memTotalBytes - s.memAvailableBytes : 0,
    },
    containers,
  };
}
