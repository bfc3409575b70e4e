/**
 * Streaming end to end on the rkt backend: a real daemon with an rkt (built-in stage1, systemd-nspawn) pod,
 * busybox + the HTTP image from the local registry, and the shared suite in e2e.ts. rkt runs TTY exec under
 * script(1) (resizes applied through /proc, tty-resize.ts), and attaches by following the CRI log (no TTY attach).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import { BUSYBOX, HTTP } from '../fixtures/images';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import * as e from '../rkt/env';
import { removeParent } from '../rkt/helpers/stage1';
import { streamingE2E, type E2EEnv } from './e2e';

/** The rkt tests use slots 0 and 1; this file has its own bridge and subnet. */
const SLOT = 8;
const CGROUP_PARENT = `crimux-rkt-streaming-${process.pid}`;

let dir = '';
let d: DaemonHandle | undefined;
let env: E2EEnv | undefined;

before(async () => {
  await ensureTestRegistry();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-streaming-'));
  const logRoot = path.join(dir, 'pods');
  d = await startDaemon({
    config: {
      handlers: { rkt: { backend: 'rkt', options: {} } },
      defaultHandler: 'rkt',
      backends: { rkt: { enabled: true, stage1: { cgroupParent: CGROUP_PARENT } } },
      network: { confDir: await e.writeCniConf(dir, SLOT) },
    },
  });
  for (const img of [BUSYBOX, HTTP]) await d.img('PullImage', { image: { image: img.ref, runtime_handler: 'rkt' } }, { deadlineMs: 120_000 });
  const uid = `rkt-stream-${process.pid}`;
  const config = { metadata: { name: 'stream', namespace: 'default', uid, attempt: 0 }, hostname: 'stream', log_directory: path.join(logRoot, `default_stream_${uid}`) };
  const { pod_sandbox_id: podId } = await d.rt('RunPodSandbox', { config, runtime_handler: 'rkt' }, { deadlineMs: 120_000 });
  const start = async (name: string, image: string, command: string[], extra: Record<string, unknown> = {}): Promise<string> => {
    const c = await d!.rt('CreateContainer', {
      pod_sandbox_id: podId,
      config: { metadata: { name }, image: { image }, command, log_path: `${name}/0.log`, ...extra },
      sandbox_config: config,
    }, { deadlineMs: 120_000 });
    await d!.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
    return c.container_id;
  };
  const app = await start('app', BUSYBOX.ref, ['sh', '-c', 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done'], { stdin: true });
  await start('http', HTTP.ref, [], { envs: [{ key: 'PORT', value: String(HTTP.port) }] });
  env = { daemon: d, podId, hostname: 'stream', app, supports: { tty: 'resize', attach: true, refusedPort: 'error' } };
}, { timeout: 300_000 });

after(async () => {
  if (d && env) await d.rt('RemovePodSandbox', { pod_sandbox_id: env.podId }, { deadlineMs: 60_000 }).catch(() => undefined);
  await d?.stop().catch(() => d?.kill9());
  if (d) {
    await e.cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
    await unmountAll(d.dir).catch(() => undefined);
  }
  await removeParent(CGROUP_PARENT);
  if (d && (await mountsUnder(d.dir)).length === 0) await d.cleanup();
  if (dir && (await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
}, { timeout: 120_000 });

streamingE2E('rkt', () => {
  if (!env) throw new Error('rkt streaming environment did not start');
  return env;
});
