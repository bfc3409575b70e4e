/**
 * Docker container state → CRI container state, status and list entries. Pure.
 *
 *   Docker status          CRI state            reason
 *   created (never ran)    CONTAINER_CREATED
 *   created + start error  CONTAINER_EXITED     StartError (Docker keeps "created" when the runtime failed)
 *   running/paused/restarting  CONTAINER_RUNNING
 *   exited/dead            CONTAINER_EXITED     OOMKilled | Completed (exit 0) | Error
 *   removing               CONTAINER_EXITED once it has finished, else CONTAINER_UNKNOWN
 *   anything else          CONTAINER_UNKNOWN
 */
import type * as cri from '../../cri/types';
import type { ContainerInspect, ContainerState, ContainerSummary } from './engine-types';
import { readContainer, type ContainerIdentity, type ContainerRecord } from './records';
import { dockerTimeToNs } from './timestamps';
import { fromHostConfig } from './convert-resources';

export interface CriState {
  readonly state: cri.ContainerState;
  readonly reason: string;
  readonly message: string;
  readonly exitCode: number;
  readonly startedAt: string;
  readonly finishedAt: string;
}

function exitReason(s: ContainerState): string {
  if (s.OOMKilled) return 'OOMKilled';
  return s.ExitCode === 0 ? 'Completed' : 'Error';
}

export function criState(s: ContainerState): CriState {
  const startedAt = dockerTimeToNs(s.StartedAt);
  const finishedAt = dockerTimeToNs(s.FinishedAt);
  const base = { message: s.Error ?? '', exitCode: s.ExitCode, startedAt, finishedAt };
  switch (s.Status) {
    case 'created':
      if (s.Error || s.ExitCode !== 0) return { ...base, state: 'CONTAINER_EXITED', reason: 'StartError' };
      return { ...base, state: 'CONTAINER_CREATED', reason: '' };
    case 'running':
    case 'paused':
    case 'restarting':
      return { ...base, state: 'CONTAINER_RUNNING', reason: '', exitCode: 0, finishedAt: '0' };
    case 'exited':
    case 'dead':
      return { ...base, state: 'CONTAINER_EXITED', reason: exitReason(s) };
    case 'removing':
      if (finishedAt !== '0') return { ...base, state: 'CONTAINER_EXITED', reason: exitReason(s) };
      return { ...base, state: 'CONTAINER_UNKNOWN', reason: '' };
    default:
      return { ...base, state: 'CONTAINER_UNKNOWN', reason: '' };
  }
}

/** State of a `docker ps` entry; "created" may hide a start error, which only inspect shows (see criState). */
export function summaryState(state: string): cri.ContainerState {
  switch (state) {
    case 'created':
      return 'CONTAINER_CREATED';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'CONTAINER_RUNNING';
    case 'exited':
    case 'dead':
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

function listBase(rec: ContainerRecord, imageId: string): cri.Container {
  return {
    id: rec.id,
    pod_sandbox_id: rec.sandboxId,
    metadata: rec.metadata,
    image: { image: rec.image },
    image_ref: rec.imageRef,
    image_id: imageId,
    created_at: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
  };
}

export function toContainer(s: ContainerSummary): cri.Container | undefined {
  const rec = readContainer(s.Labels);
  return rec ? { ...listBase(rec, s.ImageID), state: summaryState(s.State) } : undefined;
}

/**
 * uid/gid of a numeric Docker user ("1000" or "1000:1000"): only for containers without a recorded identity
 * (created before it was recorded, or from an image only Docker holds, see identity.ts).
 */
function numericUser(user: string): cri.ContainerStatus['user'] {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) return undefined;
  return { linux: { uid: m[1], gid: m[2] ?? m[1], supplemental_groups: [] } };
}

/** The identity resolved at create, as the other backends report theirs (primary gid first among the groups). */
function recordedUser(u: ContainerIdentity): cri.ContainerStatus['user'] {
  return { linux: { uid: String(u.uid), gid: String(u.gid), supplemental_groups: u.groups.map(String) } };
}

export function toContainerStatus(c: ContainerInspect): cri.ContainerStatus | undefined {
  const rec = readContainer(c.Config.Labels);
  if (!rec) return undefined;
  const st = criState(c.State);
  const createdAt = rec.createdAt !== '0' ? rec.createdAt : dockerTimeToNs(c.Created);
  return {
    id: rec.id,
    metadata: rec.metadata,
    state: st.state,
    created_at: createdAt,
    // A container that never started has no start/finish; a failed start is reported at its creation time.
    started_at: st.reason === 'StartError' ? createdAt : st.startedAt,
    finished_at: st.reason === 'StartError' ? createdAt : st.finishedAt,
    exit_code: st.exitCode,
    image: { image: rec.image },
    image_ref: rec.imageRef,
    image_id: c.Image,
    reason: st.reason,
    message: st.message,
    labels: rec.labels,
    annotations: rec.annotations,
    mounts: rec.mounts,
    log_path: rec.logPath,
    resources: fromHostConfig(c.HostConfig),
    user: rec.user ? recordedUser(rec.user) : numericUser(c.Config.User),
  };
}
