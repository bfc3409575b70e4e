/** Pure shaping of vm records into CRI status, list and stats replies. */
import type * as cri from '../../cri/types';
import type { ContainerStatsReply, StatsReply } from './protocol';
import type { ContainerRecord, PodRecord } from './records';
import type { BackendClock } from '../host';

const STATE: Record<ContainerRecord['state'], cri.ContainerState> = {
  created: 'CONTAINER_CREATED',
  running: 'CONTAINER_RUNNING',
  exited: 'CONTAINER_EXITED',
};

export function sandboxStatus(pod: PodRecord, ready: boolean): cri.PodSandboxStatus {
  const ns = pod.config.linux?.security_context?.namespace_options;
  return {
    id: pod.id,
    metadata: pod.config.metadata,
    state: ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    created_at: pod.createdAt,
    network: { ip: pod.net?.ip ?? '', additional_ips: (pod.net?.ips ?? []).slice(1).map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: ns?.network ?? 'POD', pid: ns?.pid ?? 'POD', ipc: ns?.ipc ?? 'POD' } } },
    labels: pod.config.labels,
    annotations: pod.config.annotations,
    runtime_handler: pod.handler,
  };
}

export function sandboxInfo(pod: PodRecord): Record<string, string> {
  return {
    info: JSON.stringify({ vm: pod.vm, network: pod.net, containers: Object.keys(pod.containers) }),
  };
}

export function sandboxListEntry(pod: PodRecord, ready: boolean): cri.PodSandbox {
  return {
    id: pod.id,
    metadata: pod.config.metadata,
    state: ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    created_at: pod.createdAt,
    labels: pod.config.labels,
    annotations: pod.config.annotations,
    runtime_handler: pod.handler,
  };
}

export function containerStatus(c: ContainerRecord): cri.ContainerStatus {
  return {
    id: c.id,
    metadata: c.config.metadata,
    state: STATE[c.state],
    created_at: c.createdAt,
    started_at: c.startedAt ?? '0',
    finished_at: c.finishedAt ?? '0',
    exit_code: c.exitCode ?? 0,
    image: { image: c.config.image?.image ?? c.imageRef },
    image_ref: c.digestRef ?? c.imageId,
    image_id: c.imageId,
    reason: c.state === 'exited' ? (c.reason ?? '') : '',
    message: c.message ?? '',
    labels: c.config.labels,
    annotations: c.config.annotations,
    // As the CRI sent them (the guest holds a copy of each source, see spec.ts mountFiles).
    mounts: c.config.mounts,
    log_path: c.logPath,
    ...(c.user
      ? {
          user: {
            linux: {
              uid: String(c.user.uid),
              gid: String(c.user.gid),
              supplemental_groups: c.user.additionalGids.map(String),
            },
          },
        }
      : {}),
  };
}

export function containerListEntry(c: ContainerRecord): cri.Container {
  return {
    id: c.id,
    pod_sandbox_id: c.podId,
    metadata: c.config.metadata,
    image: { image: c.config.image?.image ?? c.imageRef },
    image_ref: c.digestRef ?? c.imageId,
    image_id: c.imageId,
    state: STATE[c.state],
    created_at: c.createdAt,
    labels: c.config.labels,
    annotations: c.config.annotations,
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
