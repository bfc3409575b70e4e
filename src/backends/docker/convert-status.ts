/**
 * Docker container state → a container's facts (the router shapes CRI replies from them). Pure.
 *
 *   Docker status              phase
 *   created (never ran)        created
 *   created + start error      created, with startError (Docker keeps "created" when the runtime failed)
 *   running/paused/restarting  running
 *   exited/dead                exited (Docker's OOMKilled flag says whether the kernel killed it)
 *   removing                   exited once it has finished, else unknown
 *   anything else              unknown
 */
import type { ContainerFacts, ContainerPhase } from '../backend';
import type { ContainerInspect, ContainerState, ContainerSummary } from './engine-types';
import { readContainer, type ContainerIdentity, type ContainerRecord } from './records';
import { dockerTimeToNs } from './timestamps';
import { fromHostConfig } from './convert-resources';

function phaseOf(status: string, finished: boolean): ContainerPhase {
  switch (status) {
    case 'created':
      return 'created';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running';
    case 'exited':
    case 'dead':
      return 'exited';
    case 'removing':
      return finished ? 'exited' : 'unknown';
    default:
      return 'unknown';
  }
}

/** Docker keeps a container whose runtime failed to start it as "created", with the error and a code. */
function failedStart(s: ContainerState): boolean {
  return s.Status === 'created' && (!!s.Error || s.ExitCode !== 0);
}

function recorded(rec: ContainerRecord, imageId: string, phase: ContainerPhase): ContainerFacts {
  return {
    id: rec.id,
    sandboxId: rec.sandboxId,
    metadata: rec.metadata,
    image: { image: rec.image },
    imageRef: rec.imageRef,
    imageId,
    createdAtNs: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
    phase,
  };
}

/** A list entry's facts, from `docker ps` alone: "created" may hide a start error, which only inspect shows. */
export function toListFacts(s: ContainerSummary): ContainerFacts | undefined {
  const rec = readContainer(s.Labels);
  return rec ? recorded(rec, s.ImageID, phaseOf(s.State, false)) : undefined;
}

/**
 * uid/gid of a numeric Docker user ("1000" or "1000:1000"): only for containers without a recorded identity
 * (created before it was recorded, or from an image only Docker holds, see identity.ts).
 */
function numericUser(user: string): ContainerFacts['user'] {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) return undefined;
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]), groups: [] };
}

/** The identity resolved at create, as the other backends report theirs (primary gid first among the groups). */
function recordedUser(u: ContainerIdentity): ContainerFacts['user'] {
  return { uid: u.uid, gid: u.gid, groups: u.groups };
}

export function toContainerFacts(c: ContainerInspect): ContainerFacts | undefined {
  const rec = readContainer(c.Config.Labels);
  if (!rec) return undefined;
  const st = c.State;
  const createdAtNs = rec.createdAt !== '0' ? rec.createdAt : dockerTimeToNs(c.Created);
  return {
    ...recorded(rec, c.Image, phaseOf(st.Status, dockerTimeToNs(st.FinishedAt) !== '0')),
    createdAtNs,
    startedAtNs: dockerTimeToNs(st.StartedAt),
    finishedAtNs: dockerTimeToNs(st.FinishedAt),
    exitCode: st.ExitCode,
    oomKilled: st.OOMKilled,
    message: st.Error ?? '',
    // Docker records no time for a failed start: it is reported at the container's creation.
    ...(failedStart(st) ? { startError: { message: st.Error ?? '', atNs: createdAtNs } } : {}),
    mounts: rec.mounts,
    logPath: rec.logPath,
    resources: fromHostConfig(c.HostConfig),
    user: rec.user ? recordedUser(rec.user) : numericUser(c.Config.User),
  };
}
