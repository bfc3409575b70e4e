/**
 * The one place where a container's facts (what its backend reports, ContainerFacts) become CRI replies: the
 * ContainerStatus of ContainerStatus/PodSandboxStatus/events and the Container of ListContainers. Every backend's
 * containers follow the same rules, containerd's:
 *
 *   facts                            state               reason       exit code   started / finished
 *   startError                       CONTAINER_EXITED    StartError   128         0 / when it failed
 *   phase created                    CONTAINER_CREATED                0           0 (or its start) / 0
 *   phase running                    CONTAINER_RUNNING                0           its start / 0
 *   phase exited, OOM killed         CONTAINER_EXITED    OOMKilled    its code    its start / its end
 *   phase exited, code 0             CONTAINER_EXITED    Completed    0           its start / its end
 *   phase exited, other code         CONTAINER_EXITED    Error        its code    its start / its end
 *   phase unknown                    CONTAINER_UNKNOWN                0           its start / 0
 *
 * An end before the start is reported as the start: exit times from coarse kernel clocks (file mtimes) can be a
 * tick behind a start taken from a fine clock, and a process cannot finish before it started.
 */
import type { ContainerFacts } from '../backends/backend';
import type * as cri from '../cri/types';

/** containerd's errorStartExitCode: what a container whose StartContainer failed reports as its exit code. */
export const START_ERROR_EXIT_CODE = 128;

const STATE: Record<ContainerFacts['phase'], cri.ContainerState> = {
  created: 'CONTAINER_CREATED',
  running: 'CONTAINER_RUNNING',
  exited: 'CONTAINER_EXITED',
  unknown: 'CONTAINER_UNKNOWN',
};

export function containerState(f: ContainerFacts): cri.ContainerState {
  return f.startError ? 'CONTAINER_EXITED' : STATE[f.phase];
}

/** A ListContainers entry. */
export function containerEntry(f: ContainerFacts): cri.Container {
  return {
    id: f.id,
    pod_sandbox_id: f.sandboxId,
    metadata: f.metadata,
    image: f.image,
    image_ref: f.imageRef,
    image_id: f.imageId,
    state: containerState(f),
    created_at: f.createdAtNs,
    labels: { ...f.labels },
    annotations: { ...f.annotations },
  };
}

function exitReason(f: ContainerFacts): string {
  if (f.oomKilled) return 'OOMKilled';
  return (f.exitCode ?? 0) === 0 ? 'Completed' : 'Error';
}

function notBefore(end: string, start: string): string {
  const e = BigInt(end || '0');
  const s = BigInt(start || '0');
  return (e > 0n && e < s ? s : e).toString();
}

/** The status of one container (ContainerStatusResponse.status, and each of a pod's containers_statuses). */
export function containerStatus(f: ContainerFacts): cri.ContainerStatus {
  const base: cri.ContainerStatus = {
    id: f.id,
    metadata: f.metadata,
    created_at: f.createdAtNs,
    image: f.image,
    image_ref: f.imageRef,
    image_id: f.imageId,
    labels: { ...f.labels },
    annotations: { ...f.annotations },
    mounts: f.mounts ? [...f.mounts] : [],
    log_path: f.logPath ?? '',
    resources: f.resources ?? null,
    user: f.user
      ? {
          linux: {
            uid: String(f.user.uid),
            gid: String(f.user.gid),
            supplemental_groups: f.user.groups.map(String),
          },
        }
      : null,
  };
  if (f.startError) {
    return {
      ...base,
      state: 'CONTAINER_EXITED',
      started_at: '0',
      finished_at: f.startError.atNs,
      exit_code: START_ERROR_EXIT_CODE,
      reason: 'StartError',
      message: f.startError.message,
    };
  }
  const startedAt = f.startedAtNs || '0';
  if (f.phase !== 'exited') {
    return {
      ...base,
      state: STATE[f.phase],
      started_at: startedAt,
      finished_at: '0',
      exit_code: 0,
      reason: '',
      message: f.message ?? '',
    };
  }
  return {
    ...base,
    state: 'CONTAINER_EXITED',
    started_at: startedAt,
    finished_at: notBefore(f.finishedAtNs ?? '0', startedAt),
    exit_code: f.exitCode ?? 0,
    reason: exitReason(f),
    message: f.message ?? '',
  };
}
