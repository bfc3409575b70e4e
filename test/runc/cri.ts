/**
 * Helpers for the runc end-to-end tests (not a test file): a crimux daemon with the runc backend enabled, two
 * handlers (`runc` and `runc-b` with their own runtime roots), the slot's private CNI network, and small CRI
 * wrappers.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { BUSYBOX } from '../fixtures/images';
import * as e from './env';

export interface RuncDaemon {
  readonly daemon: DaemonHandle;
  readonly dir: string;
  readonly logRoot: string;
  readonly rootA: string;
  readonly rootB: string;
  readonly cgroupParent: string;
  cleanup(): Promise<void>;
}

export async function startRuncDaemon(slot: number, extraConfig: Record<string, unknown> = {}): Promise<RuncDaemon> {
  const dir = await e.tempDir('crimux-runc-e2e-');
  const logRoot = path.join(dir, 'pods');
  const rootA = path.join(dir, 'runc-root-a');
  const rootB = path.join(dir, 'runc-root-b');
  const cgroupParent = `/crimux-e2e-${process.pid}-${slot}`;
  const daemon = await startDaemon({
    config: {
      handlers: {
        runc: { backend: 'runc', options: { runtimeRoot: rootA } },
        'runc-b': { backend: 'runc', options: { runtimeRoot: rootB, runtimePath: '/usr/sbin/runc' } },
      },
      backends: { runc: { enabled: true, cgroupParent } },
      network: { confDir: await e.writeCniConf(dir, slot) },
      security: { logRoot },
      ...extraConfig,
    },
  });
  return {
    daemon,
    dir,
    logRoot,
    rootA,
    rootB,
    cgroupParent,
    async cleanup() {
      await daemon.stop().catch(() => daemon.kill9());
      await e.cleanupNetwork(path.join(daemon.runDir, 'netns'), slot);
      for (const p of e.mountsMentioning(daemon.dir)) await e.run('umount', ['--lazy', p]).catch(() => undefined);
      await daemon.cleanup();
      await removeCgroupV1(cgroupParent);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function podConfig(logRoot: string, name: string, extra: Record<string, unknown> = {}) {
  const uid = `runc-${name}-${process.pid}`;
  return {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(logRoot, `default_${name}_${uid}`),
    labels: { app: name },
    ...extra,
  };
}

export type Pod = { id: string; config: ReturnType<typeof podConfig> };

export async function runPod(
  d: DaemonHandle,
  logRoot: string,
  name: string,
  handler = '',
  extra: Record<string, unknown> = {},
): Promise<Pod> {
  const config = podConfig(logRoot, name, extra);
  const r = await d.rt('RunPodSandbox', { config, runtime_handler: handler }, { deadlineMs: 120_000 });
  return { id: r.pod_sandbox_id, config };
}

export async function startContainer(
  d: DaemonHandle,
  pod: Pod,
  name: string,
  command: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const config = { metadata: { name }, image: { image: BUSYBOX.ref }, command, log_path: `${name}/0.log`, ...extra };
  const c = await d.rt(
    'CreateContainer',
    { pod_sandbox_id: pod.id, config, sandbox_config: pod.config },
    { deadlineMs: 120_000 },
  );
  await d.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
  return c.container_id;
}

export async function containerStatus(d: DaemonHandle, id: string) {
  return (await d.rt('ContainerStatus', { container_id: id })).status!;
}

export function exec(d: DaemonHandle, id: string, cmd: string[], timeout = 30) {
  return d.rt('ExecSync', { container_id: id, cmd, timeout }, { deadlineMs: 120_000 });
}

export async function waitExited(d: DaemonHandle, id: string, timeoutMs = 30_000) {
  return e.waitFor(
    `${id} exited`,
    async () => {
      const s = await containerStatus(d, id);
      return s.state === 'CONTAINER_EXITED' ? s : undefined;
    },
    timeoutMs,
  );
}
