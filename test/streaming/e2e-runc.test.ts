/**
 * Streaming end to end on the runc backend: a real daemon with runc pods (busybox + the HTTP image from the
 * local registry) and the shared suite in e2e.ts. TTY exec (with resizes) and attach go through crimux-io.
 */
import { after, before } from 'node:test';
import { BUSYBOX, HTTP } from '../fixtures/images';
import { ensureTestRegistry } from '../helpers/registry';
import { runPod, startContainer, startRuncDaemon, type Pod, type RuncDaemon } from '../runc/cri';
import { streamingE2E, type E2EEnv } from './e2e';

/** CNI slots 0–2 (runc tests) and 7 (crash test) are taken; this file uses its own bridge and subnet. */
const SLOT = 9;

let r: RuncDaemon | undefined;
let env: E2EEnv | undefined;

before(async () => {
  await ensureTestRegistry();
  r = await startRuncDaemon(SLOT);
  for (const image of [BUSYBOX.ref, HTTP.ref]) {
    await r.daemon.img('PullImage', { image: { image, runtime_handler: 'runc' } }, { deadlineMs: 120_000 });
  }
  const pod: Pod = await runPod(r.daemon, r.logRoot, 'stream');
  const app = await startContainer(r.daemon, pod, 'app', ['sh', '-c', 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done'], { stdin: true });
  await startContainer(r.daemon, pod, 'http', [], { image: { image: HTTP.ref } });
  env = { daemon: r.daemon, podId: pod.id, hostname: 'stream', app, supports: { tty: 'resize', attach: true, refusedPort: 'error' } };
}, { timeout: 300_000 });

after(async () => {
  // Stopping the daemon leaves containers running by design: remove the pod first.
  if (r && env) await r.daemon.rt('RemovePodSandbox', { pod_sandbox_id: env.podId }, { deadlineMs: 60_000 }).catch(() => undefined);
  await r?.cleanup();
}, { timeout: 120_000 });

streamingE2E('runc', () => {
  if (!env) throw new Error('runc streaming environment did not start');
  return env;
});
