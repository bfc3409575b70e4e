/** Pure shaping of vm records into sandbox statuses, container facts and stats. */
import type * as cri from '../../cri/types';
import type { ContainerStatsReply, StatsReply } from './protocol';
import type { ContainerRecord, PodRecord } from './records';
import type { BackendClock } from '../host';
import type { ContainerFacts, SandboxFacts } from '../backend';

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

export function containerStats(
  c: ContainerRecord,
  s: ContainerStatsReply | undefined,
  fsId: string,
  clock: BackendClock,
): cri.ContainerStats {
  const ts = clock.nowNs().toString();
  return {
    attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels, annotations: c.config.annotations },
    cpu: { timestamp: ts, usage_core_nano_seconds: { value: String(s?.cpuNs ?? 0) } },
    memory: {
      timestamp: ts,
      working_set_bytes: { value: String(s?.workingSetBytes ?? 0) },
      usage_bytes: { value: String(s?.memoryBytes ?? 0) },
    },
    writable_layer: {
      timestamp: ts,
      fs_id: { mountpoint: fsId },
      used_bytes: { value: String(s?.fsUsedBytes ?? 0) },
      inodes_used: { value: String(s?.fsInodesUsed ?? 0) },
    },
  };
}

/**
 * Pod stats: the guest's own numbers (cgroup root CPU, memory in use) plus the qemu process — its RSS is the
 * pod's memory on the host, which includes guest RAM it touched, the TCG cache and qemu itself (the overhead).
 */
export function podStats(
  pod: PodRecord,
  s: StatsReply | undefined,
  qemu: { rssBytes: number; cpuNs: number },
  containers: cri.ContainerStats[],
  clock: BackendClock,
): cri.PodSandboxStats {
  const ts = clock.nowNs().toString();
  const guestUsed = s ? s.memTotalBytes - s.memAvailableBytes : 0;
  return {
    attributes: {
      id: pod.id,
      metadata: pod.config.metadata,
      labels: pod.config.labels,
      annotations: pod.config.annotations,
    },
    linux: {
      cpu: { timestamp: ts, usage_core_nano_seconds: { value: String(Math.max(qemu.cpuNs, s?.cpuNs ?? 0)) } },
      memory: {
        timestamp: ts,
        working_set_bytes: { value: String(qemu.rssBytes) },
        usage_bytes: { value: String(qemu.rssBytes) },
        available_bytes: { value: String(s?.memAvailableBytes ?? 0) },
        rss_bytes: { value: String(guestUsed) },
      },
      containers,
    },
  };
}
