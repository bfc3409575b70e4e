/**
 * Stop, remove, status and list of runc pod sandboxes (RunPodSandbox is in sandbox-run.ts).
 *
 * CRI semantics honoured here (containerd's sandbox_stop.go / sandbox_remove.go):
 *  - StopPodSandbox kills every container of the pod, then the pause container, then tears down the network
 *    (CNI DEL, netns) and the shared /dev/shm; it is idempotent.
 *  - RemovePodSandbox removes every container first, then everything the sandbox made; an unknown ID is success,
 *    and leftovers of a create that crashed before its record was complete are still found and cleaned.
 *  - PodSandboxStatus of an unknown ID is NotFound.
 */
import { podCgroupParent } from './cgroup-driver';
import type { CallContext, PodNamespaceModes, SandboxFacts, SandboxStatusResult } from '../backend';
import { NotFoundError } from '../../errors';
import type { RuncShared } from './context';
import { removeContainer, stopContainer } from './containers';
import { ID_PATTERN } from './layout';
import { unmountShm } from './pod-files';
import type { SandboxRecord } from './records';

/**
 * Teardown steps run on their own deadline, not the caller's: a slow container stop that used up the kubelet's
 * deadline must not leave the network (CNI DEL, netns) and shm behind. The kubelet retries StopPodSandbox anyway.
 */
const TEARDOWN_STEP_TIMEOUT_MS = 30_000;

export async function stopSandbox(s: RuncShared, ctx: CallContext, id: string): Promise<void> {
  const rec = s.records.sandbox(id);
  if (!rec) return; // CRI: stopping an unknown sandbox succeeds.
  ctx.log.info('stop pod sandbox');
  const step = (): CallContext => ({ signal: AbortSignal.timeout(TEARDOWN_STEP_TIMEOUT_MS), log: ctx.log });
  const containers = settleAll(
    s.records.containersOf(id).map((c) =>
      stopContainer(s, { signal: step().signal, log: ctx.log.child({ container: c.id }) }, c.id, 0, {
        evenIfNotStarted: true,
      }),
    ),
  );
  const pause = containers
    .catch(() => undefined)
    .then(() =>
      s.engine.stop({
        handler: rec.handler,
        id,
        dir: s.layout.pauseDir(id),
        signal: 'SIGKILL',
        timeoutSeconds: 0,
        initOwnsPidNs: !rec.hostPid,
        log: ctx.log,
        abort: step().signal,
      }),
    );
  const rest = pause
    .catch(() => undefined)
    .then(() =>
      settleAll([
        rec.networkDown ? Promise.resolve() : teardownNetwork(s, step(), id, rec),
        rec.shmPath ? unmountShm(rec.shmPath, step().signal) : Promise.resolve(),
      ]),
    );
  // Every step ran (each bounded); the first failure is still reported so the kubelet retries.
  await settleAll([containers, pause, rest]);
  if (rec.phase !== 'notready' || !rec.networkDown)
    await s.records.updateSandbox(id, { phase: 'notready', networkDown: true });
  ctx.log.info('stopped pod sandbox');
}

async function teardownNetwork(
  s: RuncShared,
  ctx: CallContext,
  id: string,
  rec: SandboxRecord | undefined,
): Promise<void> {
  if (rec?.hostNetwork) return;
  await s.network.tearDown(id, rec?.metadata, ctx.signal);
}

/** Waits for every promise, then throws the first failure: no step is abandoned half-way. */
async function settleAll(ps: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(ps)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Removes the pod's containers, tears the network down if StopPodSandbox did not, then hands the rest (pause
 * runtime state, root snapshot, shm, owned cgroup parent, files) to the reaper, which finishes in the background.
 */
export async function removeSandbox(
  s: RuncShared,
  ctx: CallContext,
  id: string,
  opts: { leftoverScan?: boolean } = {},
): Promise<void> {
  if (!ID_PATTERN.test(id)) return;
  const rec = s.records.sandbox(id);
  const dir = s.layout.sandboxDir(id);
  if (!rec && !(await s.host.files.exists(dir))) {
    // A netns or snapshot without the directory cannot come from an interrupted RunPodSandbox (the directory is
    // made first): scanned for only when an outside caller asks (RemovePodSandbox), not before a create.
    if (opts.leftoverScan === false) return;
    if (!(await s.network.netns.exists(id)) && !(await s.images.keys()).includes(id)) return;
  }
  ctx.log.info('remove pod sandbox', { known: rec !== undefined });
  await settleAll(
    s.records
      .containersOf(id)
      .map((c) => removeContainer(s, { signal: ctx.signal, log: ctx.log.child({ container: c.id }) }, c.id)),
  );
  if (rec?.phase === 'ready') {
    // Removing a pod that was not stopped: its processes die now, not in the background.
    await s.engine.stop({
      handler: rec.handler,
      id,
      dir: s.layout.pauseDir(id),
      signal: 'SIGKILL',
      timeoutSeconds: 0,
      initOwnsPidNs: !rec.hostPid,
      log: ctx.log,
      abort: ctx.signal,
    });
  }
  if (!rec?.networkDown) await teardownNetwork(s, ctx, id, rec);
  const ownsParent = rec ? rec.ownsCgroupParent : true;
  await s.reaper.schedule(
    {
      kind: 'sandbox',
      id,
      handler: rec?.handler,
      shmPath: rec ? rec.shmPath : s.layout.shmDir(id),
      cgroupParent: ownsParent
        ? (rec?.cgroupParent ?? podCgroupParent(s.runc.cgroupDriver, s.runc.cgroupParent, id, '').parent)
        : undefined,
    },
    dir,
  );
  s.engine.forget(s.layout.pauseDir(id));
  s.records.dropSandbox(id);
  ctx.log.info('removed pod sandbox');
}

function namespaceModes(rec: SandboxRecord): PodNamespaceModes {
  return {
    network: rec.hostNetwork ? 'NODE' : 'POD',
    pid: rec.hostPid ? 'NODE' : rec.sharedPid ? 'POD' : 'CONTAINER',
    ipc: rec.hostIpc ? 'NODE' : 'POD',
  };
}

async function sandboxLive(s: RuncShared, rec: SandboxRecord): Promise<{ ready: boolean; pid: number }> {
  if (rec.phase !== 'ready') return { ready: false, pid: 0 };
  const live = await s.engine.state(rec.handler, rec.id, s.layout.pauseDir(rec.id));
  return live.kind === 'running' ? { ready: true, pid: live.pid } : { ready: false, pid: 0 };
}

function facts(rec: SandboxRecord, ready: boolean): SandboxFacts {
  return {
    id: rec.id,
    metadata: rec.metadata,
    ready,
    createdAtNs: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
    handler: rec.handler,
  };
}

export async function sandboxStatus(
  s: RuncShared,
  _ctx: CallContext,
  id: string,
  verbose: boolean,
): Promise<SandboxStatusResult> {
  const rec = s.records.sandbox(id);
  if (!rec) throw new NotFoundError(`find pod sandbox ${id}: not found`, { context: { sandbox: id } });
  const { ready, pid } = await sandboxLive(s, rec);
  const info: Record<string, string> = {};
  if (verbose) {
    info.info = JSON.stringify({
      pid,
      runtimeHandler: rec.handler,
      runtimeRoot: s.engine.options(rec.handler).runtimeRoot,
      netns: rec.netnsPath ?? '',
      cgroupParent: rec.cgroupParent,
      image: rec.pauseImage,
      phase: rec.phase,
      config: rec.config,
    });
  }
  return { facts: { ...facts(rec, ready), ips: rec.ips, namespaces: namespaceModes(rec) }, info };
}

export async function listSandboxes(s: RuncShared, _ctx: CallContext): Promise<SandboxFacts[]> {
  const recs = s.records.allSandboxes();
  // As for containers: the pause container's state is mostly known at once (engine.known).
  const ready = recs.map((r) => {
    if (r.phase !== 'ready') return false;
    const known = s.engine.known(s.layout.pauseDir(r.id));
    return known ? known.kind === 'running' : undefined;
  });
  const reads: Promise<void>[] = [];
  ready.forEach((known, i) => {
    if (known === undefined) reads.push(sandboxLive(s, recs[i]!).then((l) => void (ready[i] = l.ready)));
  });
  await Promise.all(reads);
  return recs.map((rec, i) => facts(rec, ready[i]!));
}
