/**
 * ContainerStatus and ListContainers, derived from the record plus live state (engine.state): the exit code and
 * finish time come from conmon's exit file, OOM from its oom file, so an exit that happened while crimux was
 * down is reported exactly as if crimux had watched it.
 *
 * Reasons as containerd: "Completed" for exit code 0, "Error" otherwise, "OOMKilled" when the memory cgroup
 * killed it.
 */
import type { CallContext, ContainerStatusResult } from '../backend';
import type * as cri from '../../cri/types';
import { oomKilled, readExitFile } from '../../host/conmon';
import type { RuncShared } from './context';
import { mustRecord, recordOom } from './containers';
import type { LiveState } from './engine';
import type { ContainerRecord } from './records';

function criState(rec: ContainerRecord, live: LiveState): cri.ContainerState {
  if (rec.startError) return 'CONTAINER_EXITED';
  switch (live.kind) {
    case 'created':
      return 'CONTAINER_CREATED';
    case 'running':
      return rec.startedAt ? 'CONTAINER_RUNNING' : 'CONTAINER_CREATED';
    case 'exited':
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

/**
 * Until StartContainer succeeded a container is CREATED for the CRI, whatever its background launch is doing;
 * only an exit file (StopPodSandbox killed it) makes it EXITED.
 */
async function liveOf(s: RuncShared, rec: ContainerRecord): Promise<LiveState> {
  const sandbox = s.records.sandbox(rec.sandboxId);
  if (!sandbox) return { kind: 'unknown' };
  const dir = s.layout.containerDir(rec.id);
  if (!rec.startedAt) {
    const exit = await readExitFile(dir);
    return exit ? { kind: 'exited', code: exit.code, finishedAtNs: exit.finishedAtNs } : { kind: 'created', pid: 0 };
  }
  return s.engine.state(sandbox.handler, rec.id, dir, true);
}

/** The parts of a status that come from the record alone. */
function base(rec: ContainerRecord): cri.ContainerStatus {
  return {
    id: rec.id,
    metadata: rec.metadata,
    created_at: rec.createdAt,
    started_at: rec.startedAt ?? '0',
    finished_at: '0',
    image: rec.image,
    image_ref: rec.imageRef,
    image_id: rec.imageId,
    labels: rec.labels,
    annotations: rec.annotations,
    // Stored as the CRI sent them (propagation as its enum name), so they convert back verbatim.
    mounts: rec.mounts as cri.ContainerStatus['mounts'],
    log_path: rec.logPath,
    resources: rec.resources ? { linux: rec.resources } : null,
    user: {
      linux: {
        uid: String(rec.user.uid),
        gid: String(rec.user.gid),
        supplemental_groups: rec.user.additionalGids.map(String),
      },
    },
  };
}

export async function containerStatus(
  s: RuncShared,
  _ctx: CallContext,
  id: string,
  verbose: boolean,
): Promise<ContainerStatusResult> {
  const rec = mustRecord(s, id);
  const live = await liveOf(s, rec);
  const state = criState(rec, live);
  let exitCode = 0;
  let reason = '';
  let message = '';
  let finishedAt = '0';
  if (rec.startError) {
    // StartContainer failed: containerd reports such a container as exited with reason StartError.
    return {
      status: {
        ...base(rec),
        state: 'CONTAINER_EXITED',
        finished_at: rec.startError.at,
        exit_code: 128,
        reason: 'StartError',
        message: rec.startError.message,
      },
      info: {},
    };
  }
  if (live.kind === 'exited') {
    exitCode = live.code;
    // The exit file's mtime comes from the kernel's coarse clock (a tick behind): a process that exits at once
    // could seem to finish before it started. It cannot have.
    const started = BigInt(rec.startedAt ?? '0');
    const finished = live.finishedAtNs ?? 0n;
    finishedAt = (finished > 0n && finished < started ? started : finished).toString();
    reason = (await oomKilledAfterExit(s, id, rec, exitCode)) ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    if (live.unknownCode) message = 'conmon exited without recording the exit code';
  }
  const status: cri.ContainerStatus = {
    ...base(rec),
    state,
    finished_at: finishedAt,
    exit_code: exitCode,
    reason,
    message,
  };
  const info: Record<string, string> = {};
  if (verbose) {
    info.info = JSON.stringify({
      sandboxID: rec.sandboxId,
      pid: live.kind === 'running' || live.kind === 'created' ? live.pid : 0,
      runtimeHandler: s.records.sandbox(rec.sandboxId)?.handler ?? '',
      cgroupsPath: rec.cgroupsPath,
      bundle: s.layout.containerDir(id),
      stopSignal: rec.stopSignal,
    });
  }
  return { status, info };
}

export async function listContainers(s: RuncShared, _ctx: CallContext): Promise<cri.Container[]> {
  const recs = s.records.allContainers();
  const states = await Promise.all(recs.map((r) => liveOf(s, r)));
  return recs.map((rec, i) => ({
    id: rec.id,
    pod_sandbox_id: rec.sandboxId,
    metadata: rec.metadata,
    image: rec.image,
    image_ref: rec.imageRef,
    image_id: rec.imageId,
    state: criState(rec, states[i]!),
    created_at: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
  }));
}

/**
 * Whether an exited container was OOM-killed, cheapest evidence first: conmon's oom file; the cgroup's own OOM
 * kill counter (v2 memory.events, v1 memory.oom_control) while the cgroup still exists, since conmon misses kills
 * it was not watching for (e.g. after a crimux restart); and on v2, when the cgroup is already gone (a systemd
 * scope), a SIGKILL death that the pod cgroup's hierarchical counter explains (oom-watch.ts) — recorded in the
 * oom file so the answer stays.
 */
async function oomKilledAfterExit(s: RuncShared, id: string, rec: ContainerRecord, exitCode: number): Promise<boolean> {
  if (await oomKilled(s.layout.containerDir(id))) return true;
  const ownKills = await s.cgroups.oomKills(rec.cgroupsPath);
  if (ownKills !== undefined) return ownKills > 0;
  if (exitCode !== 137 || !s.oomWatch.claimParentKill(id)) return false;
  await recordOom(s, id);
  return true;
}
