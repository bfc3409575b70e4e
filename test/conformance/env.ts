/**
 * The daemon of one conformance test file (not a test file): ONE crimux serving every selected handler (and
 * `runc`, the default handler, always: the kubelet pulls without a runtime handler, so pulls land there), on the
 * file's own CNI slot (a copy of the shipped conflist), with the local registry standing in for registry.k8s.io,
 * gcr.io and docker.io. Cleanup releases what the backends leave on the host by design, even after a failure.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { removeParent } from '../rkt/helpers/stage1';
import * as re from '../runc/env';
import * as vmh from '../vm/helpers';
import { HANDLERS, unavailable, type Handler } from './handlers';

export interface ConformanceEnv {
  readonly daemon: DaemonHandle;
  /** A directory the specs may use for host paths (log directories, volumes); removed at cleanup. */
  readonly dir: string;
  /** The runc backend's cgroup parent (so a spec can find a container's cgroup). */
  readonly runcCgroupParent: string;
  cleanup(): Promise<void>;
}

export async function startConformanceEnv(slot: number, selected: readonly Handler[]): Promise<ConformanceEnv> {
  const wanted = new Set<Handler>([HANDLERS[0]!, ...selected].filter((h) => !unavailable(h.backend)));
  const on = (backend: Handler['backend']): boolean => [...wanted].some((h) => h.backend === backend);
  await ensureTestRegistry();
  if (on('docker')) await ensureDockerd();
  if (on('vm')) vmh.ensureGuest(); // cached; rebuilds the tools disk when the agent changed
  const dir = await re.tempDir('ccf-');
  const runcParent = `/crimux-conformance-${process.pid}-${slot}`;
  const rktParent = `crimux-rkt-conformance-${process.pid}-${slot}`;
  let daemon: DaemonHandle | undefined;
  const cleanup = async (): Promise<void> => {
    if (daemon) {
      const d = daemon;
      // A daemon that died under the suite takes its reason with its temp dir: show its last words first.
      if (!d.running()) {
        process.stderr.write(`conformance: the daemon died during the run; its log ends:\n${d.logs().slice(-6000)}\n`);
      }
      // Stopping the daemon leaves pods running by design: remove them first.
      const pods = await d.rt('ListPodSandbox', {}, { deadlineMs: 30_000 }).catch(() => ({ items: [] }));
      await Promise.all(
        pods.items.map((p) =>
          d.rt('RemovePodSandbox', { pod_sandbox_id: p.id }, { deadlineMs: 90_000 }).catch(() => undefined),
        ),
      );
      await d.stop().catch(() => d.kill9());
      for (const pid of vmh.qemuProcesses(d.runDir)) process.kill(pid, 'SIGKILL');
      await re.cleanupNetwork(path.join(d.runDir, 'netns'), slot);
      await unmountAll(d.dir).catch(() => undefined);
      for (const p of re.mountsMentioning(d.dir)) await re.run('umount', ['--lazy', p]).catch(() => undefined);
      if ((await mountsUnder(d.dir)).length === 0) await d.cleanup();
    }
    await removeCgroupV1(runcParent).catch(() => undefined);
    await removeParent(rktParent).catch(() => undefined);
    for (const p of re.mountsMentioning(dir)) await re.run('umount', ['--lazy', p]).catch(() => undefined);
    if (existsSync(dir) && (await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    const handlers: Record<string, unknown> = {};
    for (const h of wanted) handlers[h.name] = { backend: h.backend, options: h.options(dir) };
    daemon = await startDaemon({
      config: {
        defaultHandler: 'runc',
        handlers,
        backends: {
          runc: { enabled: on('runc'), cgroupParent: runcParent },
          docker: { enabled: on('docker') },
          rkt: { enabled: on('rkt'), stage1: { cgroupParent: rktParent } },
          vm: { enabled: on('vm'), guestDir: vmh.GUEST_DIR },
        },
        network: { confDir: await re.writeCniConf(dir, slot) },
      },
    });
    return { daemon, dir, runcCgroupParent: runcParent, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
