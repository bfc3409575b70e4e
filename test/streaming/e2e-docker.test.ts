/**
 * Streaming end to end on the docker backend: a real daemon with a docker pod (busybox + the HTTP image from
 * the local registry, dockerd from test/helpers/dockerd.ts) and the shared suite in e2e.ts. Docker offers TTY
 * exec with resize and attach, so the whole suite runs for real.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { cleanupNetwork, run, writeCniConf } from '../docker/env';
import { BUSYBOX, HTTP } from '../fixtures/images';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { streamingE2E, type E2EEnv } from './e2e';

/** The docker tests use slots 1, 2, 3 and 5; this file has its own bridge and subnet. */
const SLOT = 8;
const CGROUP_PARENT = `/crimux-streaming-docker-${process.pid}`;

let tmp = '';
let daemon: DaemonHandle | undefined;
let env: E2EEnv | undefined;

before(async () => {
  await ensureDockerd();
  await ensureTestRegistry();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-streaming-docker-'));
  const logRoot = path.join(tmp, 'pods');
  daemon = await startDaemon({
    config: {
      handlers: { docker: { backend: 'docker', options: { dockerRuntime: 'runc' } } },
      backends: { docker: { enabled: true }, runc: { enabled: true, cgroupParent: CGROUP_PARENT } },
      network: { confDir: await writeCniConf(tmp, SLOT) },
      security: { logRoot },
    },
  });
  for (const image of [BUSYBOX.ref, HTTP.ref]) {
    await daemon.img('PullImage', { image: { image, runtime_handler: 'docker' } }, { deadlineMs: 120_000 });
  }
  const uid = `streaming-docker-${process.pid}`;
  const config = {
    metadata: { name: 'stream', namespace: 'default', uid, attempt: 0 },
    hostname: 'stream',
    log_directory: path.join(logRoot, `default_stream_${uid}`),
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  } as const;
  const { pod_sandbox_id: podId } = await daemon.rt('RunPodSandbox', { config, runtime_handler: 'docker' }, { deadlineMs: 120_000 });
  const start = async (name: string, image: string, command: string[], extra: Record<string, unknown> = {}): Promise<string> => {
    const c = await daemon!.rt('CreateContainer', {
      pod_sandbox_id: podId,
      config: { metadata: { name }, image: { image }, command, log_path: `${name}/0.log`, ...extra },
      sandbox_config: config,
    }, { deadlineMs: 120_000 });
    await daemon!.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
    return c.container_id;
  };
  const app = await start('app', BUSYBOX.ref, ['sh', '-c', 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done'], { stdin: true });
  await start('http', HTTP.ref, []);
  env = { daemon, podId, hostname: 'stream', app, supports: { tty: 'resize', attach: true, refusedPort: 'error' } };
}, { timeout: 300_000 });

after(async () => {
  if (daemon && env) await daemon.rt('RemovePodSandbox', { pod_sandbox_id: env.podId }, { deadlineMs: 60_000 }).catch(() => undefined);
  await daemon?.stop().catch(() => daemon?.kill9());
  if (daemon) await cleanupNetwork(path.join(daemon.runDir, 'netns'), SLOT);
  for (const line of (await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '')).split('\n')) {
    const mnt = line.split(' ')[4];
    if (mnt && daemon && mnt.startsWith(daemon.dir)) await run('umount', ['--lazy', mnt]).catch(() => undefined);
  }
  await daemon?.cleanup();
  await removeCgroupV1(CGROUP_PARENT).catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
}, { timeout: 120_000 });

streamingE2E('docker', () => {
  if (!env) throw new Error('docker streaming environment did not start');
  return env;
});
