/**
 * A container's facts (ContainerStatus and ListContainers, shaped by the router) from the record plus live state
 * (engine.state): the exit code and finish time come from conmon's exit file, OOM from its oom file or cgroup
 * counters, so an exit that happened while crimux was down is reported exactly as if crimux had watched it.
 */
import type { CallContext, ContainerFacts, ContainerPhase, ContainerStatusResult } from '../backend';
import { oomKilled, readExitFile } from '../../host/conmon';
import type { RuncShared } from './context';
import { mustRecord, recordOom } from './containers';
import type { LiveState } from './engine';
import type { ContainerRecord } from './records';

function phaseOf(rec: ContainerRecord, live: LiveState): ContainerPhase {
  switch (live.kind) {
    case 'created':
      return 'created';
    case 'running':
      return rec.startedAt ? 'running' : 'created';
    case 'exited':
      return 'exited';
    default:
      return 'unknown';
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

/** What the record alone says (all a list entry needs). */
function recorded(rec: ContainerRecord, live: LiveState): ContainerFacts {
  return {
    id: rec.id,
    sandboxId: rec.sandboxId,
    metadata: rec.metadata,
    image: rec.image,
    imageRef: rec.imageRef,
    imageId: rec.imageId,
    labels: rec.labels,
    annotations: rec.annotations,
    createdAtNs: rec.createdAt,
    phase: phaseOf(rec, live),
    startedAtNs: rec.startedAt,
    ...(rec.startError ? { startError: { message: rec.startError.message, atNs: rec.startError.at } } : {}),
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
  const facts: ContainerFacts = {
    ...recorded(rec, live),
    // Stored as the CRI sent them (propagation as its enum name), so they convert back verbatim.
    mounts: rec.mounts as ContainerFacts['mounts'],
    logPath: rec.logPath,
    resources: rec.resources ? { linux: rec.resources } : null,
    user: { uid: rec.user.uid, gid: rec.user.gid, groups: rec.user.additionalGids },
    ...(live.kind === 'exited' && !rec.startError
      ? {
          exitCode: live.code,
          finishedAtNs: (live.finishedAtNs ?? 0n).toString(),
          oomKilled: await oomKilledAfterExit(s, id, rec, live.code),
          ...(live.unknownCode ? { message: 'conmon exited without recording the exit code' } : {}),
        }
      : {}),
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
  return { facts, info };
}

export async function listContainers(s: RuncShared, _ctx: CallContext): Promise<ContainerFacts[]> {
  const recs = s.records.allContainers();
  // Most containers' state is known at once (engine.known); only the rest wait for file reads.
  const states: (LiveState | undefined)[] = recs.map((r) =>
    r.startedAt && s.records.sandbox(r.sandboxId) ? s.engine.known(s.layout.containerDir(r.id)) : undefined,
  );
  const reads: Promise<void>[] = [];
  states.forEach((known, i) => {
    if (!known) reads.push(liveOf(s, recs[i]!).then((st) => void (states[i] = st)));
  });
  await Promise.all(reads);
  return recs.map((rec, i) => recorded(rec, states[i]!));
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
