/**
 * Streaming end to end on the vm backend: a real daemon booting a VM pod (guest from scripts/build-vm-guest.sh,
 * busybox + the HTTP image from the local registry) and the shared suite in e2e.ts: exec and attach go through
 * the guest agent, port forwarding reaches the HTTP server inside the VM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { BUSYBOX, HTTP } from '../fixtures/images';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import * as h from '../vm/helpers';
import { streamingE2E, type E2EEnv } from './e2e';

/** The vm tests use slots 1–3; this file has its own bridge and subnet. */
const SLOT = 8;

const tmp = h.tempDir();
let daemon: DaemonHandle | undefined;
let env: E2EEnv | undefined;

before(async () => {
  h.ensureGuest();
  await ensureTestRegistry();
  const logRoot = path.join(tmp, 'pods');
  daemon = await startDaemon({
    config: {
      handlers: { vm: { backend: 'vm', options: {} } },
      backends: { vm: { enabled: true, guestDir: h.GUEST_DIR } },
      network: { confDir: h.writeCniConf(tmp, SLOT) },
      security: { logRoot },
    },
  });
  for (const image of [BUSYBOX.ref, HTTP.ref]) {
    await daemon.img('PullImage', { image: { image, runtime_handler: 'vm' } }, { deadlineMs: 120_000 });
  }
  const config = {
    metadata: { name: 'stream', namespace: 'default', uid: `vm-stream-${process.pid}`, attempt: 0 },
    hostname: 'stream',
    log_directory: path.join(logRoot, 'default_stream'),
  };
  const { pod_sandbox_id: podId } = await daemon.rt('RunPodSandbox', { config, runtime_handler: 'vm' }, { deadlineMs: 180_000 });
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
}, { timeout: 900_000 });

after(async () => {
  if (daemon && env) await daemon.rt('RemovePodSandbox', { pod_sandbox_id: env.podId }, { deadlineMs: 60_000 }).catch(() => undefined);
  await daemon?.stop().catch(() => daemon?.kill9());
  if (daemon) {
    for (const pid of h.qemuProcesses(daemon.runDir)) process.kill(pid, 'SIGKILL');
    h.releaseMount(path.join(daemon.runDir, 'netns'));
  }
  h.removeBridge(SLOT);
  await daemon?.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
}, { timeout: 120_000 });

streamingE2E('vm', () => {
  if (!env) throw new Error('vm streaming environment did not start');
  return env;
});
