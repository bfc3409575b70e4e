/**
 * Shared set-up of the stats and events tests (not a test file): ONE crimux daemon serving every backend this
 * machine can run (runc, docker, rkt, vm), all on the file's own CNI slot (a copy of the shipped conflist on the
 * runc tests' naming scheme: bridge crimuxr<slot>, subnet 10.89.<50+slot>.0/24), plus pod/container helpers and a
 * cleanup that releases everything the backends leave on the host by design, even after a failure.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { BUSYBOX } from '../fixtures/images';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { removeParent } from '../rkt/helpers/stage1';
import * as re from '../runc/env';
import * as vmh from '../vm/helpers';

export type Kind = 'runc' | 'docker' | 'rkt' | 'vm';
export const KINDS: readonly Kind[] = ['runc', 'docker', 'rkt', 'vm'];

/** Why a backend cannot run here (decided at load time so node:test can skip with the reason), or undefined. */
export function unavailable(kind: Kind): string | undefined {
  switch (kind) {
    case 'runc':
      return existsSync('/usr/sbin/runc') || existsSync('/usr/bin/runc') ? undefined : 'runc is not installed';
    case 'docker':
      return existsSync('/usr/sbin/dockerd') || existsSync('/usr/bin/dockerd') ? undefined : 'dockerd is not installed';
    case 'rkt':
      return existsSync('/usr/bin/systemd-nspawn')
        ? undefined
        : 'systemd-nspawn (rkt built-in stage1) is not installed';
    case 'vm':
      // No /dev/kvm is fine: the backend falls back to TCG (as in the conformance suite).
      if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed';
      if (!existsSync(path.join(vmh.GUEST_DIR, 'manifest.json')))
        return `no VM guest in ${vmh.GUEST_DIR} (scripts/build-vm-guest.sh)`;
      return undefined;
  }
}

export const AVAILABLE: readonly Kind[] = KINDS.filter((k) => !unavailable(k));

export interface Env {
  readonly daemon: DaemonHandle;
  readonly logRoot: string;
  cleanup(): Promise<void>;
}

export interface Pod {
  readonly id: string;
  readonly kind: Kind;
  readonly config: Record<string, unknown>;
}

export async function startEnv(slot: number): Promise<Env> {
  await ensureTestRegistry();
  if (AVAILABLE.includes('docker')) await ensureDockerd();
  if (AVAILABLE.includes('vm')) vmh.ensureGuest(); // cached; rebuilds the tools disk when the agent changed
  const dir = await re.tempDir('cst-');
  const logRoot = path.join(dir, 'pods');
  const runcParent = `/crimux-stats-${process.pid}-${slot}`;
  const rktParent = `crimux-rkt-stats-${process.pid}-${slot}`;
  const on = (k: Kind): boolean => AVAILABLE.includes(k);
  let daemon: DaemonHandle | undefined;
  const cleanup = async (): Promise<void> => {
    if (daemon) {
      const d = daemon;
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
    if ((await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    const handlers: Record<string, unknown> = {};
    if (on('runc')) handlers.runc = { backend: 'runc', options: {} };
    if (on('docker')) handlers.docker = { backend: 'docker', options: { dockerRuntime: 'runc' } };
    if (on('rkt')) handlers.rkt = { backend: 'rkt', options: {} };
    if (on('vm')) handlers.vm = { backend: 'vm', options: {} };
    daemon = await startDaemon({
      config: {
        handlers,
        backends: {
          runc: { enabled: on('runc'), cgroupParent: runcParent },
          docker: { enabled: on('docker') },
          rkt: { enabled: on('rkt'), stage1: { cgroupParent: rktParent } },
          vm: { enabled: on('vm'), guestDir: vmh.GUEST_DIR },
        },
        network: { confDir: await re.writeCniConf(dir, slot) },
        security: { logRoot },
      },
    });
    const d = daemon;
    await Promise.all(
      AVAILABLE.map((k) =>
        d.img('PullImage', { image: { image: BUSYBOX.ref, runtime_handler: k } }, { deadlineMs: 180_000 }),
      ),
    );
    return { daemon: d, logRoot, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export async function runPod(env: Env, kind: Kind, name: string): Promise<Pod> {
  const uid = `stats-${kind}-${name}-${process.pid}`;
  const config: Record<string, unknown> = {
    metadata: { name: `${kind}-${name}`, namespace: 'default', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(env.logRoot, `default_${kind}-${name}_${uid}`),
    labels: { test: 'stats', backend: kind },
  };
  if (kind === 'docker')
    config.linux = { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } };
  const r = await env.daemon.rt('RunPodSandbox', { config, runtime_handler: kind }, { deadlineMs: 180_000 });
  return { id: r.pod_sandbox_id, kind, config };
}

export async function createContainer(env: Env, pod: Pod, name: string, command: string[]): Promise<string> {
  const config = {
    metadata: { name },
    image: { image: BUSYBOX.ref },
    command,
    log_path: `${name}/0.log`,
    labels: { ctr: name },
  };
  const c = await env.daemon.rt(
    'CreateContainer',
    { pod_sandbox_id: pod.id, config, sandbox_config: pod.config },
    { deadlineMs: 120_000 },
  );
  return c.container_id;
}

export async function startContainer(env: Env, pod: Pod, name: string, command: string[]): Promise<string> {
  const id = await createContainer(env, pod, name, command);
  await env.daemon.rt('StartContainer', { container_id: id }, { deadlineMs: 60_000 });
  return id;
}

/** Polls `probe` until it returns a value (not undefined), at most `timeoutMs`; the last error or value is named. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 500,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
