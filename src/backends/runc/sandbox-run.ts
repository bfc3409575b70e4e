/**
 * RunPodSandbox for the runc backend, step by step, each step registering its undo (containerd's sandbox_run.go):
 *   record (phase creating) → netns → CNI ADD → /etc/hosts
 *                           → { netns, pause image snapshot, /dev/shm, pod cgroup, hostname + resolv.conf }
 *                              → pause container under conmon → start
 *   → record (phase ready, pod IPs)
 * (each step starts as soon as what it needs is there).
 * A failure undoes the steps done so far, newest first, each on its own timeout; nothing half-made is left.
 */
import { promises as fs } from 'node:fs';
import type { CallContext, RunSandboxRequest } from '../backend';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { podNetworkFromCri } from '../../network';
import type { ResolvedImage } from '../../images/types';
import type { RuncShared } from './context';
import { ID_PATTERN } from './layout';
import { applyPodCgroup } from './pod-cgroup';
import { podCgroupParent, removePodCgroup } from './cgroup-driver';
import { mountShm, unmountShm, writeHosts, writePodFiles } from './pod-files';
import { podHostname } from '../../host/pod-etc';
import type { SandboxRecord } from './records';
import { RECORD_VERSION } from './records';
import { checkNamespaceOptions } from './spec-security';
import { buildSandboxSpec } from './spec-sandbox';

/** Awaits every step, then throws the first failure (so every finished step has registered its undo first). */
async function settled<T extends readonly unknown[]>(steps: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** Pulls the pause image when the store lacks it (the kubelet never pulls it itself), then resolves it. */
async function sandboxImage(s: RuncShared, ctx: CallContext): Promise<ResolvedImage> {
  const ref = s.config.images.sandboxImage;
  try {
    return await s.images.resolve(ctx, ref);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    ctx.log.info('pull sandbox image', { image: ref });
    await s.images.pull(ctx, { image: ref });
    return s.images.resolve(ctx, ref);
  }
}

export async function runSandbox(s: RuncShared, ctx: CallContext, req: RunSandboxRequest): Promise<void> {
  const { id, config } = req;
  if (!ID_PATTERN.test(id)) throw new InvalidArgumentError(`run pod sandbox: id "${id}" is not a valid ID`);
  const handler = req.handler.name;
  s.engine.options(handler); // InvalidArgument for a handler this backend does not serve
  const md = config.metadata;
  if (!md) throw new InvalidArgumentError('run pod sandbox: config.metadata: required');
  const nsOpts = config.linux?.security_context?.namespace_options ?? null;
  checkNamespaceOptions(nsOpts, 'config.linux.security_context.namespace_options');
  const hostNetwork = nsOpts?.network === 'NODE';
  const hostPid = nsOpts?.pid === 'NODE';
  const hostIpc = nsOpts?.ipc === 'NODE';
  const hostname = podHostname(config, hostNetwork);
  const { parent, owned } = podCgroupParent(
    s.runc.cgroupDriver,
    s.runc.cgroupParent,
    id,
    config.linux?.cgroup_parent ?? '',
  );
  const log = ctx.log;

  await s.host.withUndo(log, async (undo) => {
    const dir = s.layout.sandboxDir(id);
    await fs.mkdir(dir, { recursive: true, mode: 0o711 });
    undo.push('remove sandbox dir', () => fs.rm(dir, { recursive: true, force: true }));

    const image = await sandboxImage(s, ctx);
    let rec: SandboxRecord = {
      version: RECORD_VERSION,
      id,
      handler,
      phase: 'creating',
      metadata: md,
      labels: config.labels,
      annotations: config.annotations,
      createdAt: s.host.clock.nowNs().toString(),
      config,
      hostNetwork,
      hostPid,
      hostIpc,
      // NamespaceMode POD is the proto default: an unset pid mode means a pod-shared PID namespace, as in containerd.
      sharedPid: !hostPid && (nsOpts?.pid ?? 'POD') === 'POD',
      netnsPath: hostNetwork ? undefined : s.network.netnsPath(id),
      ips: [],
      cgroupParent: parent,
      ownsCgroupParent: owned,
      shmPath: hostIpc ? undefined : s.layout.shmDir(id),
      pauseImage: image.ref,
      hostname,
    };
    await s.records.putSandbox(rec);
    undo.push('forget sandbox record', async () => s.records.dropSandbox(id));

    // A small dependency graph instead of a sequence: every step starts as soon as what it needs exists. CNI ADD
    // needs only the netns; the pause container needs the netns to exist (not to be wired), its root, the shm
    // and the pod files. All are awaited with allSettled semantics, so every step that succeeded has registered
    // its undo before a failure elsewhere starts the rollback.
    const netnsP = (async () => {
      if (hostNetwork) return undefined;
      const netns = await s.network.createNetns(id, ctx.signal);
      undo.push('remove netns', (signal) => s.network.netns.remove(netns, { signal }));
      return netns;
    })();
    const cniP = netnsP.then(async (netns): Promise<string[]> => {
      if (!netns) {
        await writeHosts(s.layout, id, { hostname, hostNetwork, ips: [] });
        return [];
      }
      undo.push('cni del', (signal) => s.network.cni.del(podNetworkFromCri(id, config, netns), { signal }));
      const added = [...(await s.network.attach(id, config, netns, ctx.signal)).ips];
      await writeHosts(s.layout, id, { hostname, hostNetwork, ips: added });
      return added;
    });
    const snapP = (async () => {
      // Writable, with the spec's root.readonly instead: runc must create mount points (/proc, /dev, …) the
      // pause image does not have before it remounts the root read-only.
      const snap = await s.images.prepare(ctx, id, image.ref, { readonly: false });
      undo.push('remove pause snapshot', (signal) => s.images.removeSnapshot({ signal, log }, id));
      return snap;
    })();
    const shmP = (async () => {
      if (!rec.shmPath) return;
      const shm = rec.shmPath;
      undo.push('unmount pod shm', (signal) => unmountShm(shm, signal));
      await mountShm(shm, ctx.signal);
    })();
    const cgroupP = (async () => {
      if (!owned) return;
      undo.push('remove pod cgroup', async () => void (await removePodCgroup(s.cgroups, parent)));
      await applyPodCgroup(s.cgroups, parent, config.linux?.overhead ?? null, config.linux?.resources ?? null, log);
    })();
    const filesP = writePodFiles(s.layout, id, config, { hostname, hostNetwork });
    const pauseP = (async () => {
      const [snap] = await settled([snapP, netnsP, shmP, cgroupP, filesP] as const);
      const spec = await buildSandboxSpec({
        id,
        config,
        image,
        rootfs: snap.rootfs,
        hostname,
        netnsPath: rec.netnsPath,
        hostNetwork,
        hostIpc,
        hostPid,
        shmPath: rec.shmPath,
        cgroupParent: parent,
        layout: s.layout,
        runtimeDefaultSeccomp: s.seccompProfile,
        oomScoreAdjFloor: s.oomScoreAdjFloor,
        log,
      });
      const pauseDir = s.layout.pauseDir(id);
      undo.push('destroy pause container', (signal) => s.engine.destroy(handler, id, pauseDir, log, signal));
      log.info('create pause container', { image: image.ref, cgroupParent: parent, netns: rec.netnsPath ?? 'host' });
      await s.engine.writeBundle(pauseDir, spec);
      const pid = await s.engine.launch({ handler, id, dir: pauseDir, signal: ctx.signal });
      await s.engine.start(handler, id, ctx.signal);
      return pid;
    })();
    const [ips, pid] = await settled([cniP, pauseP, netnsP, snapP, shmP, cgroupP, filesP] as const);
    rec = await s.records.updateSandbox(id, { phase: 'ready', ips });
    log.info('pause container running', { pid, ip: rec.ips[0] ?? '' });
  });
}
