/**
 * One streaming test environment per backend (not a test file): a real daemon, a pod with a busybox "app"
 * container printing ticks and the HTTP image listening on HTTP.port, and optionally a host-network pod (no
 * containers: port forwarding to it reaches the host's loopback). Shared by the e2e files (e2e-<backend>.test.ts)
 * and the chaos test, which pass extra daemon config (e.g. a short streaming idle timeout).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import * as dockerEnv from '../docker/env';
import { BUSYBOX, HTTP } from '../fixtures/images';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import * as rktEnv from '../rkt/env';
import { removeParent } from '../rkt/helpers/stage1';
import { runPod, startContainer, startRuncDaemon } from '../runc/cri';
import * as vmEnv from '../vm/helpers';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig';
import type { E2EEnv } from './e2e';

export type StreamingBackend = 'runc' | 'docker' | 'vm' | 'rkt';

export interface EnvOptions {
  /** Merged into the daemon's `streaming` config section. */
  readonly streaming?: Record<string, unknown>;
  /** Also start a host-network pod (ignored where the backend refuses host namespaces: vm). */
  readonly hostNetworkPod?: boolean;
}

export interface StreamingEnv {
  readonly env: E2EEnv;
  /** The host-network pod, when asked for and supported. */
  readonly hostPodId?: string;
  stop(): Promise<void>;
}

const TICKS = ['sh', '-c', 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done'];
const OUT_OF_THE_WAY = { tty: 'resize', attach: true, refusedPort: 'error' } as const;

export function startStreamingEnv(backend: StreamingBackend, opts: EnvOptions = {}): Promise<StreamingEnv> {
  switch (backend) {
    case 'runc':
      return startRunc(opts);
    case 'docker':
      return startDocker(opts);
    case 'vm':
      return startVm(opts);
    case 'rkt':
      return startRkt(opts);
  }
}

type Start = (name: string, image: string, command: string[], extra?: Record<string, unknown>) => Promise<string>;

/** CreateContainer + StartContainer in `podId`. */
function starter(d: DaemonHandle, podId: string, config: PodSandboxConfig): Start {
  return async (name, image, command, extra = {}) => {
    const c = await d.rt(
      'CreateContainer',
      {
        pod_sandbox_id: podId,
        config: { metadata: { name }, image: { image }, command, log_path: `${name}/0.log`, ...extra },
        sandbox_config: config,
      },
      { deadlineMs: 120_000 },
    );
    await d.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
    return c.container_id;
  };
}

async function pull(d: DaemonHandle, handler: string): Promise<void> {
  for (const image of [BUSYBOX.ref, HTTP.ref])
    await d.img('PullImage', { image: { image, runtime_handler: handler } }, { deadlineMs: 120_000 });
}

async function removePods(d: DaemonHandle, ids: (string | undefined)[]): Promise<void> {
  for (const id of ids)
    if (id) await d.rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 60_000 }).catch(() => undefined);
}

/** CNI slots 0–2 (runc tests) and 7 (crash test) are taken; the runc streaming files use 9. */
async function startRunc(opts: EnvOptions): Promise<StreamingEnv> {
  await ensureTestRegistry();
  const r = await startRuncDaemon(9, opts.streaming ? { streaming: opts.streaming } : {});
  try {
    await pull(r.daemon, 'runc');
    const pod = await runPod(r.daemon, r.logRoot, 'stream');
    const app = await startContainer(r.daemon, pod, 'app', TICKS, { stdin: true });
    await startContainer(r.daemon, pod, 'http', [], { image: { image: HTTP.ref } });
    const hostPod = opts.hostNetworkPod
      ? await runPod(r.daemon, r.logRoot, 'hostnet', '', {
          linux: { security_context: { namespace_options: { network: 'NODE' } } },
        })
      : undefined;
    const env: E2EEnv = { daemon: r.daemon, podId: pod.id, hostname: 'stream', app, supports: OUT_OF_THE_WAY };
    return {
      env,
      hostPodId: hostPod?.id,
      // Stopping the daemon leaves containers running by design: remove the pods first.
      stop: async () => {
        await removePods(r.daemon, [pod.id, hostPod?.id]);
        await r.cleanup();
      },
    };
  } catch (err) {
    await r.cleanup().catch(() => undefined);
    throw err;
  }
}

/** The docker tests use slots 1, 2, 3 and 5; the docker streaming files use 8. */
async function startDocker(opts: EnvOptions): Promise<StreamingEnv> {
  const SLOT = 8;
  const cgroupParent = `/crimux-streaming-docker-${process.pid}`;
  await ensureDockerd();
  await ensureTestRegistry();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-streaming-docker-'));
  const logRoot = path.join(tmp, 'pods');
  const daemon = await startDaemon({
    config: {
      handlers: { docker: { backend: 'docker', options: { dockerRuntime: 'runc' } } },
      backends: { docker: { enabled: true }, runc: { enabled: true, cgroupParent } },
      network: { confDir: await dockerEnv.writeCniConf(tmp, SLOT) },
      security: { logRoot },
      ...(opts.streaming ? { streaming: opts.streaming } : {}),
    },
  });
  const ids: (string | undefined)[] = [];
  const stop = async (): Promise<void> => {
    await removePods(daemon, ids);
    await daemon.stop().catch(() => daemon.kill9());
    await dockerEnv.cleanupNetwork(path.join(daemon.runDir, 'netns'), SLOT);
    for (const line of (await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '')).split('\n')) {
      const mnt = line.split(' ')[4];
      if (mnt && mnt.startsWith(daemon.dir)) await dockerEnv.run('umount', ['--lazy', mnt]).catch(() => undefined);
    }
    await daemon.cleanup();
    await removeCgroupV1(cgroupParent).catch(() => undefined);
    await fs.rm(tmp, { recursive: true, force: true });
  };
  try {
    await pull(daemon, 'docker');
    const podConfig = (name: string, network: 'POD' | 'NODE'): PodSandboxConfig => {
      const uid = `streaming-docker-${name}-${process.pid}`;
      return {
        metadata: { name, namespace: 'default', uid, attempt: 0 },
        hostname: name,
        log_directory: path.join(logRoot, `default_${name}_${uid}`),
        linux: { security_context: { namespace_options: { network, pid: 'CONTAINER', ipc: 'POD' } } },
      };
    };
    const config = podConfig('stream', 'POD');
    const { pod_sandbox_id: podId } = await daemon.rt(
      'RunPodSandbox',
      { config, runtime_handler: 'docker' },
      { deadlineMs: 120_000 },
    );
    ids.push(podId);
    const start = starter(daemon, podId, config);
    const app = await start('app', BUSYBOX.ref, TICKS, { stdin: true });
    await start('http', HTTP.ref, []);
    let hostPodId: string | undefined;
    if (opts.hostNetworkPod) {
      hostPodId = (
        await daemon.rt(
          'RunPodSandbox',
          { config: podConfig('hostnet', 'NODE'), runtime_handler: 'docker' },
          { deadlineMs: 120_000 },
        )
      ).pod_sandbox_id;
      ids.push(hostPodId);
    }
    return { env: { daemon, podId, hostname: 'stream', app, supports: OUT_OF_THE_WAY }, hostPodId, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** The vm tests use slots 1–3; the vm streaming files use 8. Host namespaces are refused by the vm backend. */
async function startVm(opts: EnvOptions): Promise<StreamingEnv> {
  const SLOT = 8;
  vmEnv.ensureGuest();
  await ensureTestRegistry();
  const tmp = vmEnv.tempDir();
  const logRoot = path.join(tmp, 'pods');
  const daemon = await startDaemon({
    config: {
      handlers: { vm: { backend: 'vm', options: {} } },
      backends: { vm: { enabled: true, guestDir: vmEnv.GUEST_DIR } },
      network: { confDir: vmEnv.writeCniConf(tmp, SLOT) },
      security: { logRoot },
      ...(opts.streaming ? { streaming: opts.streaming } : {}),
    },
  });
  let podId: string | undefined;
  const stop = async (): Promise<void> => {
    await removePods(daemon, [podId]);
    await daemon.stop().catch(() => daemon.kill9());
    for (const pid of vmEnv.qemuProcesses(daemon.runDir)) process.kill(pid, 'SIGKILL');
    vmEnv.releaseMount(path.join(daemon.runDir, 'netns'));
    vmEnv.removeBridge(SLOT);
    await daemon.cleanup();
    await fs.rm(tmp, { recursive: true, force: true });
  };
  try {
    await pull(daemon, 'vm');
    const config = {
      metadata: { name: 'stream', namespace: 'default', uid: `vm-stream-${process.pid}`, attempt: 0 },
      hostname: 'stream',
      log_directory: path.join(logRoot, 'default_stream'),
    };
    podId = (await daemon.rt('RunPodSandbox', { config, runtime_handler: 'vm' }, { deadlineMs: 180_000 }))
      .pod_sandbox_id;
    const start = starter(daemon, podId, config);
    const app = await start('app', BUSYBOX.ref, TICKS, { stdin: true });
    await start('http', HTTP.ref, []);
    return { env: { daemon, podId, hostname: 'stream', app, supports: OUT_OF_THE_WAY }, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** The rkt tests use slots 0 and 1; the rkt streaming files use 8. */
async function startRkt(opts: EnvOptions): Promise<StreamingEnv> {
  const SLOT = 8;
  const cgroupParent = `crimux-rkt-streaming-${process.pid}`;
  await ensureTestRegistry();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-streaming-'));
  const logRoot = path.join(dir, 'pods');
  const d = await startDaemon({
    config: {
      handlers: { rkt: { backend: 'rkt', options: {} } },
      defaultHandler: 'rkt',
      backends: { rkt: { enabled: true, stage1: { cgroupParent } } },
      network: { confDir: await rktEnv.writeCniConf(dir, SLOT) },
      ...(opts.streaming ? { streaming: opts.streaming } : {}),
    },
  });
  const ids: (string | undefined)[] = [];
  const stop = async (): Promise<void> => {
    await removePods(d, ids);
    await d.stop().catch(() => d.kill9());
    await rktEnv.cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
    await unmountAll(d.dir).catch(() => undefined);
    await removeParent(cgroupParent);
    if ((await mountsUnder(d.dir)).length === 0) await d.cleanup();
    if ((await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await pull(d, 'rkt');
    const podConfig = (name: string, hostNetwork: boolean): PodSandboxConfig => {
      const uid = `rkt-${name}-${process.pid}`;
      return {
        metadata: { name, namespace: 'default', uid, attempt: 0 },
        hostname: name,
        log_directory: path.join(logRoot, `default_${name}_${uid}`),
        ...(hostNetwork ? { linux: { security_context: { namespace_options: { network: 'NODE' as const } } } } : {}),
      };
    };
    const config = podConfig('stream', false);
    const { pod_sandbox_id: podId } = await d.rt(
      'RunPodSandbox',
      { config, runtime_handler: 'rkt' },
      { deadlineMs: 120_000 },
    );
    ids.push(podId);
    const start = starter(d, podId, config);
    const app = await start('app', BUSYBOX.ref, TICKS, { stdin: true });
    await start('http', HTTP.ref, [], { envs: [{ key: 'PORT', value: String(HTTP.port) }] });
    let hostPodId: string | undefined;
    if (opts.hostNetworkPod) {
      hostPodId = (
        await d.rt(
          'RunPodSandbox',
          { config: podConfig('hostnet', true), runtime_handler: 'rkt' },
          { deadlineMs: 120_000 },
        )
      ).pod_sandbox_id;
      ids.push(hostPodId);
    }
    return { env: { daemon: d, podId, hostname: 'stream', app, supports: OUT_OF_THE_WAY }, hostPodId, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
